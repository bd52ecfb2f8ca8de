"""The cache: keys, the in-process LRU, Redis (the real one on 127.0.0.1:6379, and an address where none listens),
and the result cache seen through the API."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from kernel.codec import pack_hits, unpack_hits
from kernel.types import Hit
from service.cache import LruCache, RedisCache, cache_key
from service.metrics import Metrics
from service.specs import PipelineSpec

SPEC = PipelineSpec().model_dump(mode="json")
BASE = ("sf", "bm25:v1+dense:v1", SPEC, 10, True, None, "vitamin d")


@pytest.mark.parametrize(
    ("position", "changed"),
    [
        (0, "other"),  # collection
        (1, "bm25:v2+dense:v1"),  # index version: a rebuilt index never serves old answers
        (2, PipelineSpec(retriever="dense").model_dump(mode="json")),  # pipeline spec
        (2, PipelineSpec(dimensions=64).model_dump(mode="json")),  # Matryoshka dims
        (3, 5),  # k
        (4, False),  # include_text
        (5, "cross-encoder"),  # reranker
        (6, "vitamin D"),  # query text, case included
    ],
)
def test_every_input_that_changes_the_answer_changes_the_key(position: int, changed: object) -> None:
    parts = list(BASE)
    parts[position] = changed
    assert cache_key("result", *parts) != cache_key("result", *BASE)


def test_keys_are_stable_and_order_free() -> None:
    assert cache_key("result", *BASE) == cache_key("result", *BASE)
    assert cache_key("x", {"a": 1, "b": 2}) == cache_key("x", {"b": 2, "a": 1})
    # fixed across processes and releases: a changed key scheme would silently empty a shared Redis
    assert cache_key("x", "q", 1) == "x:" + __import__("hashlib").sha256(b'["x","q",1]').hexdigest()


def test_hits_round_trip() -> None:
    hits = [Hit("d1", 1.5, "T", "body", {"sparse": 1.5}), Hit("d2", 0.25)]
    assert unpack_hits(pack_hits(hits, {"dense.rescored": 3})) == (hits, {"dense.rescored": 3})


async def test_lru_bounds_size_and_evicts_least_recently_used() -> None:
    cache = LruCache(max_entries=2, ttl_s=60, max_item_bytes=100)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    assert await cache.get("a") == b"1"  # a is now the most recent
    await cache.set("c", b"3")
    assert await cache.get("b") is None and await cache.get("a") == b"1" and await cache.get("c") == b"3"
    await cache.set("big", b"x" * 101)
    assert await cache.get("big") is None and len(cache) == 2


async def test_lru_expires_after_ttl() -> None:
    now = [100.0]
    cache = LruCache(max_entries=10, ttl_s=5, max_item_bytes=100, clock=lambda: now[0])
    await cache.set("a", b"1")
    now[0] = 104.9
    assert await cache.get("a") == b"1"
    now[0] = 105.0
    assert await cache.get("a") is None and len(cache) == 0


@pytest.fixture
async def redis_cache() -> AsyncIterator[RedisCache]:
    cache = RedisCache("redis://127.0.0.1:6379/0", ttl_s=2, timeout_ms=200, retry_s=0.2,
                       prefix=f"sieve-test-{uuid.uuid4().hex}:", max_item_bytes=1000, metrics=Metrics())
    yield cache
    await cache.close()


async def test_redis_round_trip_with_ttl(redis_cache: RedisCache) -> None:
    await redis_cache.set("k", b"value")
    assert await redis_cache.get("k") == b"value"
    ttl_ms = await redis_cache._redis.pttl(redis_cache._prefix + "k")
    assert 0 < ttl_ms <= 2000
    await redis_cache.set("big", b"x" * 1001)
    assert await redis_cache.get("big") is None
    assert redis_cache.status() == "redis: up"


async def test_redis_down_is_a_fast_miss_counted_and_retried() -> None:
    metrics = Metrics()
    cache = RedisCache("redis://127.0.0.1:1/0", ttl_s=2, timeout_ms=100, retry_s=0.3, prefix="x:",
                       max_item_bytes=1000, metrics=metrics, trip_after=1)
    start = time.perf_counter()
    assert await cache.get("k") is None
    await cache.set("k", b"v")  # inside the retry window: not even tried
    assert time.perf_counter() - start < 0.5
    assert metrics.cache_errors.labels("redis", "get")._value.get() == 1
    assert metrics.cache_errors.labels("redis", "set")._value.get() == 0
    assert "down" in cache.status()
    time.sleep(0.35)
    assert await cache.get("k") is None  # the window is over: tried again (and failed again)
    assert metrics.cache_errors.labels("redis", "get")._value.get() == 2
    await cache.close()


async def test_it_takes_failures_in_a_row_to_trip() -> None:
    metrics = Metrics()
    cache = RedisCache("redis://127.0.0.1:1/0", ttl_s=2, timeout_ms=100, retry_s=60, prefix="x:",
                       max_item_bytes=1000, metrics=metrics, trip_after=3)
    errors = metrics.cache_errors.labels("redis", "get")._value
    for expected in (1, 2, 3):  # each of the first three is tried (one slow call on a busy host is no outage)
        assert await cache.get("k") is None and errors.get() == expected
    assert "down" in cache.status()
    assert await cache.get("k") is None and errors.get() == 3  # tripped: not tried for retry_s
    await cache.close()


async def test_search_results_are_cached_per_request_shape(client: httpx.AsyncClient) -> None:
    body = {"collection": "sf", "query": f"cache probe {uuid.uuid4().hex[:6]} vitamin", "k": 4, "retriever": "sparse"}
    first = (await client.post("/v1/search", json=body)).json()
    again = (await client.post("/v1/search", json=body)).json()
    assert first["cached"] is False and again["cached"] is True
    assert again["hits"] == first["hits"] and "sparse" not in again["timings_ms"]
    assert set(again["timings_ms"]) == {"cache", "total"}
    other_k = (await client.post("/v1/search", json={**body, "k": 3})).json()
    assert other_k["cached"] is False and other_k["hits"] == first["hits"][:3]
    metrics = (await client.get("/metrics")).text
    assert 'sieve_cache_requests_total{kind="result",result="hit"}' in metrics


def test_cached_hits_keep_passage_offsets_and_old_rows_stay_readable() -> None:
    import orjson

    hits = [Hit("a", 1.0, "t", "text", {"dense": 1.0}, (3, 9)), Hit("b", 0.5)]
    assert unpack_hits(pack_hits(hits, {"dense.rescored": 4})) == (hits, {"dense.rescored": 4})
    old = orjson.dumps({"hits": [["a", 1.0, "t", "text", {}]], "counts": {}})  # written before passages existed
    assert unpack_hits(old) == ([Hit("a", 1.0, "t", "text", {})], {})
