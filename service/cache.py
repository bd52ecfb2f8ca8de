"""Cache for query vectors and whole search results: Redis when configured (shared by replicas), else an in-process
LRU. A cache is never required: when Redis is down or slow, lookups miss, the failure is logged and counted, and
Redis is tried again after ``retry_s``. Keys hash everything that changes the answer (``cache_key``)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import orjson

from service.config import CacheSettings
from service.metrics import Metrics

log = logging.getLogger(__name__)


class Cache(Protocol):
    """Bytes by key with a TTL. ``get`` and ``set`` never raise: a broken backend behaves like an empty cache."""

    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes) -> None: ...

    def status(self) -> str: ...

    async def close(self) -> None: ...


def cache_key(kind: str, *parts: object) -> str:
    """A stable key for ``parts`` (JSON-able: strings, numbers, dicts from ``model_dump``): the SHA-256 of their
    canonical JSON, so equal inputs give equal keys across processes and restarts."""
    blob = orjson.dumps([kind, *parts], option=orjson.OPT_SORT_KEYS)
    return f"{kind}:{hashlib.sha256(blob).hexdigest()}"


class LruCache:
    """In-process: at most ``max_entries`` values, each for ``ttl_s``; least recently used goes first."""

    backend = "lru"

    def __init__(self, *, max_entries: int, ttl_s: float, max_item_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._max_item_bytes = max_item_bytes
        self._clock = clock

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: bytes) -> None:
        if len(value) > self._max_item_bytes:
            return
        self._data[key] = (self._clock() + self._ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max_entries:
            self._data.popitem(last=False)

    def status(self) -> str:
        return f"lru ({len(self._data)}/{self._max_entries} entries)"

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Redis through redis-py's asyncio client. Each call is bounded by ``timeout_ms``; after ``trip_after`` failures
    in a row (a refused connection, or calls slower than the limit) the cache stands aside for ``retry_s`` (requests
    go on without it), then the next call tries Redis again. One slow call on a busy host does not trip it."""

    backend = "redis"

    def __init__(self, url: str, *, ttl_s: float, timeout_ms: float, retry_s: float, prefix: str,
                 max_item_bytes: int, metrics: Metrics, trip_after: int = 3) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        timeout = timeout_ms / 1000
        # No client-side retries: a retry would only stretch a request's wait; the circuit below handles outages.
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                     retry=Retry(NoBackoff(), 0))
        self._url = url
        self._ttl_ms = int(ttl_s * 1000)
        self._timeout = timeout
        self._retry_s = retry_s
        self._prefix = prefix
        self._max_item_bytes = max_item_bytes
        self._metrics = metrics
        self._trip_after = trip_after
        self._failures = 0  # in a row
        self._down_until = 0.0
        self._down_since: float | None = None

    async def get(self, key: str) -> bytes | None:
        if self._bypassed():
            return None
        try:
            async with asyncio.timeout(self._timeout):
                value = await self._redis.get(self._prefix + key)
        except Exception as exc:  # any failure of an optional cache is a miss, never an error for the caller
            self._failed("get", exc)
            return None
        self._recovered()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes) -> None:
        if len(value) > self._max_item_bytes or self._bypassed():
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.set(self._prefix + key, value, px=self._ttl_ms)
        except Exception as exc:
            self._failed("set", exc)
            return
        self._recovered()

    def status(self) -> str:
        return "redis: up" if self._down_since is None else "redis: down (requests go on without the cache)"

    async def close(self) -> None:
        try:
            async with asyncio.timeout(1):
                await self._redis.aclose()
        except Exception:  # closing a dead connection must not block shutdown
            log.debug("redis close failed", exc_info=True)

    def _bypassed(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._down_until

    def _failed(self, op: str, exc: Exception) -> None:
        self._metrics.cache_errors.labels("redis", op).inc()
        self._failures += 1
        if self._failures < self._trip_after:
            return
        if self._down_since is None:
            log.warning("redis cache %s unavailable (%s: %s); serving without the cache, retrying every %.1fs",
                        self._url, type(exc).__name__, exc, self._retry_s)
            self._down_since = time.monotonic()
        self._down_until = time.monotonic() + self._retry_s

    def _recovered(self) -> None:
        self._failures = 0
        if self._down_since is not None:
            log.warning("redis cache %s is back after %.1fs", self._url, time.monotonic() - self._down_since)
            self._down_since = None


def build_cache(settings: CacheSettings, metrics: Metrics) -> Cache | None:
    """The cache ``settings`` ask for: ``None`` when disabled, Redis when a URL is set, else the LRU."""
    if not settings.enabled:
        return None
    if settings.url:
        return RedisCache(settings.url, ttl_s=settings.ttl_s, timeout_ms=settings.timeout_ms,
                          retry_s=settings.retry_s, prefix=settings.prefix, max_item_bytes=settings.max_item_bytes,
                          metrics=metrics, trip_after=settings.trip_after)
    return LruCache(max_entries=settings.max_entries, ttl_s=settings.ttl_s, max_item_bytes=settings.max_item_bytes)
