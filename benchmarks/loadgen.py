"""Shared pieces of the HTTP load benchmarks: start ``sieve serve`` with given settings, drive it with wrk on loopback
(bounded in time), read its Prometheus metrics, print tables. Used by ``bench_load`` and ``bench_batching``."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.bench_retrieval import load_queries, parse_wrk, print_table

__all__ = ["load_queries", "print_table", "free_port", "serve", "redis_server", "redis_flush", "write_bodies",
           "run_wrk", "scrape", "delta", "post", "cpu_seconds"]

LUA = Path(__file__).resolve().parent / "wrk_search.lua"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()  # type: ignore[no-any-return]


def post(port: int, body: dict[str, object], timeout: float = 60) -> dict[str, object]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/search", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


@contextmanager
def serve(index_root: Path, env: dict[str, str], log: Path,
          startup_timeout: float = 300) -> Iterator[tuple[int, int]]:
    """``sieve serve`` on a free loopback port with ``SIEVE_*`` overrides in ``env``; yields (port, pid) once
    ``/readyz`` answers 200, and always stops the server."""
    port = free_port()
    sieve = Path(sys.executable).with_name("sieve")
    cmd = [str(sieve), "serve", "--host", "127.0.0.1", "--port", str(port), "--index-root", str(index_root)]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "SIEVE_LOG_LEVEL": "WARNING", **env}
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}; see {log}")
            try:
                _get(f"http://127.0.0.1:{port}/readyz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"server not ready after {startup_timeout}s; see {log}") from None
                time.sleep(0.5)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def redis_server() -> Iterator[int]:
    """A private, memory-only redis-server on a free port (never the shared one), stopped on exit."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found: apt-get install -y redis-server")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def redis_flush(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"*1\r\n$7\r\nFLUSHDB\r\n")
        if not s.recv(64).startswith(b"+OK"):
            raise RuntimeError("FLUSHDB failed")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far: what a request really costs, whatever
    share of a busy machine the server got."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_bodies(path: Path, bodies: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    return path


def run_wrk(port: int, bodies: Path, concurrency: int, seconds: int) -> dict[str, float]:
    """wrk ``-c concurrency -d seconds --latency`` POSTing ``/v1/search`` bodies in rotation; wrk's own figures."""
    threads = max(1, min(os.cpu_count() or 1, concurrency))
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "--timeout", "30s",
           "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(bodies)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_wrk(out.stdout)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$", re.M)


def scrape(port: int) -> dict[str, float]:
    """``GET /metrics`` as ``{"name{labels}": value}`` (labels as the server printed them)."""
    text = _get(f"http://127.0.0.1:{port}/metrics").decode()
    return {m.group(1) + (m.group(2) or ""): float(m.group(3)) for m in _SAMPLE.finditer(text)}


def delta(after: dict[str, float], before: dict[str, float], prefix: str, *needles: str) -> float:
    """Sum of the increase of every sample whose key starts with ``prefix`` and contains all ``needles``."""
    return sum(v - before.get(k, 0.0) for k, v in after.items()
               if k.startswith(prefix) and all(n in k for n in needles))


def prepare(args: argparse.Namespace) -> list[str]:
    """Common start of a load benchmark: offline models, a built collection, its queries, the output folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not (args.index_root / args.collection / "docs.sqlite").is_file():
        sys.exit(f"no built collection at {args.index_root / args.collection}")
    queries = load_queries(args.data_dir or Path("../shared/datasets") / args.collection, args.queries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return queries
