"""Redis killed, restarted and stalled under load: no request fails, the cache comes back by itself.

A private redis-server on a free port is started (and killed) here; the shared one on 6379 is never touched.
The app runs under a real uvicorn server and the load comes over real sockets.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from service.config import Settings
from service.main import create_app
from tests.servers import serve_in_thread

QUERIES = [f"{topic} {aspect}" for topic in ("vitamin D", "statins", "BRCA1", "obesity", "malaria")
           for aspect in ("risk", "mortality", "treatment", "children")]


class RedisProcess:
    """redis-server on ``port``, memory only; ``kill`` is SIGKILL (a crash, not a clean shutdown)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server") or pytest.fail("redis-server not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--enable-debug-command", "yes"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisProcess]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = RedisProcess(port)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


@pytest.fixture(scope="module")
def redis_backed(index_root: Path, private_redis: RedisProcess) -> Iterator[str]:
    cache = {"url": f"redis://127.0.0.1:{private_redis.port}/0", "timeout_ms": 50, "retry_s": 0.5}
    with serve_in_thread(create_app(Settings(index_root=index_root, workers=2, cache=cache))) as url:
        yield url


async def load(url: str, seconds: float, workers: int = 8) -> list[tuple[int, float]]:
    """``workers`` clients searching back to back for ``seconds``: (status, latency) of every request."""
    results: list[tuple[int, float]] = []
    stop = time.monotonic() + seconds

    async def worker(i: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            n = i
            while time.monotonic() < stop:
                body = {"collection": "sf", "query": QUERIES[n % len(QUERIES)], "k": 5,
                        "retriever": ("sparse", "hybrid")[n % 2]}
                start = time.perf_counter()
                try:
                    status = (await client.post("/v1/search", json=body)).status_code
                except httpx.HTTPError:
                    status = -1
                results.append((status, time.perf_counter() - start))
                n += 1

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return results


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_redis_killed_and_restarted_mid_load(redis_backed: str, private_redis: RedisProcess) -> None:
    async def chaos() -> float:
        await asyncio.sleep(2)
        private_redis.kill()
        await asyncio.sleep(2)
        private_redis.start()  # same port, empty: the service must find it again by itself
        return metric(redis_backed, 'sieve_cache_requests_total{kind="result",result="hit"}')

    results, hits_at_restart = await asyncio.gather(load(redis_backed, 8), chaos())
    statuses = [s for s, _ in results]
    assert len(statuses) > 50 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert metric(redis_backed, "sieve_cache_errors_total") > 0  # the outage was seen (and logged, counted)
    assert private_redis.client().dbsize() > 0  # after the restart the cache was written again...
    hits_now = metric(redis_backed, 'sieve_cache_requests_total{kind="result",result="hit"}')
    assert hits_now > hits_at_restart  # ...and read again
    assert httpx.get(f"{redis_backed}/readyz").json()["cache"] == "redis: up"


async def test_a_stalled_redis_never_stalls_requests(redis_backed: str, private_redis: RedisProcess) -> None:
    async def stall() -> None:
        await asyncio.sleep(1)
        # blocks the redis server for 4 s (its single thread sleeps): every cache call in that window times out
        await asyncio.to_thread(private_redis.client().execute_command, "DEBUG", "SLEEP", "4")

    errors_before = metric(redis_backed, "sieve_cache_errors_total")
    results, _ = await asyncio.gather(load(redis_backed, 6), stall())
    assert {s for s, _ in results} == {200}
    assert metric(redis_backed, "sieve_cache_errors_total") > errors_before
    assert max(latency for _, latency in results) < 3.0  # nobody waited out the 4 s stall
