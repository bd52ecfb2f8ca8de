"""Retries, backoff, timeouts and auth headers of the real client over real sockets.

The server here is a stand-in (a small Starlette app under uvicorn): Sieve has no rate limiter or auth yet, so no real
route answers 429/503 or checks a key on demand. The client, its transport and the sockets are all real.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sieve_client import (
    AsyncSieveClient,
    RetryPolicy,
    SieveAPIError,
    SieveClient,
    SieveConnectionError,
    SieveInputError,
    SieveTimeoutError,
)
from tests.servers import serve_in_thread

FAST = RetryPolicy(max_retries=3, backoff=0.01, max_backoff=0.05)


class StandIn:
    """Answers ``/v1/search`` with the statuses in ``script`` (then 200) and records every request's headers."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.headers: list[dict[str, str]] = []
        self.health_delay = 0.0
        self.app = Starlette(routes=[Route("/v1/search", self.search, methods=["POST"]),
                                     Route("/healthz", self.health)])

    async def search(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        body = await request.json()
        status = self.script.pop(0) if self.script else 200
        if status == 429:
            return JSONResponse({"error": {"type": "Overloaded", "message": "busy"}}, 429, {"retry-after": "0"})
        if status != 200:
            return JSONResponse({"error": {"type": "Unavailable", "message": f"status {status}"}}, status)
        hit = {"id": "d1", "score": 1.5, "title": "t", "text": "x", "stage_scores": {"sparse": 1.5}}
        return JSONResponse({"collection": body["collection"], "query": body["query"], "retriever": "sparse",
                             "hits": [hit], "timings_ms": {"total": 1.0}, "degraded": ["dense"]})

    async def health(self, request: Request) -> Response:
        await asyncio.sleep(self.health_delay)
        return JSONResponse({"status": "ok", "collections": ["sf"], "errors": {}})


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[StandIn, str]]:
    server = StandIn()
    with serve_in_thread(server.app) as url:
        yield server, url


@pytest.fixture
def fresh(stand_in: tuple[StandIn, str]) -> tuple[StandIn, str]:
    server, url = stand_in
    server.script, server.headers, server.health_delay = [], [], 0.0
    return server, url


def test_retries_429_and_503_then_succeeds(fresh: tuple[StandIn, str]) -> None:
    server, url = fresh
    server.script = [429, 503, 429]
    with SieveClient(url, retry=FAST) as client:
        result = client.search("sf", "q", k=1)
    assert [h.id for h in result.hits] == ["d1"] and result.degraded == ["dense"]
    assert len(server.headers) == 4


async def test_async_retries_then_succeeds(fresh: tuple[StandIn, str]) -> None:
    server, url = fresh
    server.script = [503, 503]
    async with AsyncSieveClient(url, retry=FAST) as client:
        result = await client.search("sf", "q", k=1)
    assert result.hits[0].stage_scores == {"sparse": 1.5} and len(server.headers) == 3


def test_gives_up_after_max_retries(fresh: tuple[StandIn, str]) -> None:
    server, url = fresh
    server.script = [503] * 10
    with SieveClient(url, retry=RetryPolicy(max_retries=2, backoff=0.01)) as client, \
            pytest.raises(SieveAPIError) as err:
        client.search("sf", "q")
    assert err.value.status == 503 and err.value.attempts == 3 and len(server.headers) == 3
    assert "after 3 attempts" in str(err.value)


def test_other_errors_are_not_retried(fresh: tuple[StandIn, str]) -> None:
    server, url = fresh
    server.script = [500, 422]
    with SieveClient(url, retry=FAST) as client, pytest.raises(SieveAPIError) as err:
        client.search("sf", "q")
    assert err.value.status == 500 and len(server.headers) == 1


def test_api_key_is_sent_as_bearer(fresh: tuple[StandIn, str]) -> None:
    server, url = fresh
    with SieveClient(url, api_key="s3cret") as keyed, SieveClient(url) as anonymous:
        keyed.search("sf", "q")
        anonymous.search("sf", "q")
    assert server.headers[0]["authorization"] == "Bearer s3cret"
    assert "authorization" not in server.headers[1]
    assert "s3cret" not in repr(keyed.config)


async def test_timeouts_raise_typed_errors(fresh: tuple[StandIn, str]) -> None:
    server, url = fresh
    server.health_delay = 2.0
    start = time.monotonic()
    with SieveClient(url, timeout=0.2) as client, pytest.raises(SieveTimeoutError):
        client.health()
    async with AsyncSieveClient(url, timeout=0.2) as aclient:
        with pytest.raises(SieveTimeoutError):
            await aclient.health()
    assert time.monotonic() - start < 1.5


def test_refused_connection_is_retried_then_typed() -> None:
    with SieveClient("http://127.0.0.1:9", retry=RetryPolicy(max_retries=1, backoff=0.01)) as client, \
            pytest.raises(SieveConnectionError, match="127.0.0.1:9"):
        client.health()


def test_backoff_schedule() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=3.0, jitter=0.0)
    assert [policy.delay(a) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(backoff=1.0, jitter=0.1)
    assert all(1.0 <= jittered.delay(0) <= 1.1 for _ in range(20))
    in_two = email.utils.formatdate(time.time() + 2, usegmt=True)
    for header, expected in [("7", 3.0), ("0.25", 0.25), (in_two, pytest.approx(2.0, abs=1.1)), ("soon", 0.5)]:
        assert policy.delay(0, httpx.Response(429, headers={"retry-after": header})) == expected
    with pytest.raises(SieveInputError):
        RetryPolicy(max_retries=-1)
