"""Per-key rate limits: one token bucket per API key (per client address when auth is off), in-process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from service.errors import RateLimited


class RateLimiter:
    """Token buckets refilled at ``rate`` tokens per second, holding at most ``burst``; a request takes one token.

    Args:
        rate_per_s: the default rate; ``None`` means keys without their own rate are not limited.
        burst: bucket size (requests allowed at once after a quiet spell).
        max_buckets: most buckets kept; the least recently used are forgotten (they would be full by then anyway
            unless the key is very active, in which case it stays recent).
    """

    def __init__(self, rate_per_s: float | None, burst: int, *, max_buckets: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._max_buckets = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # id -> (tokens, last refill)

    def acquire(self, bucket: str, rate_per_s: float | None = None) -> None:
        """Take a token from ``bucket`` (at ``rate_per_s``, else the default rate).

        Raises:
            RateLimited: the bucket is empty; ``retry_after_s`` is when one token will be back.
        """
        rate = rate_per_s or self.rate_per_s
        if rate is None:
            return
        now = self._clock()
        tokens, last = self._buckets.get(bucket, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[bucket] = (tokens, now)
            wait = (1.0 - tokens) / rate
            raise RateLimited(f"rate limit of {rate:g} requests/s (burst {self.burst}) reached; retry in {wait:.2f}s",
                              retry_after_s=wait)
        self._buckets[bucket] = (tokens - 1.0, now)
        self._buckets.move_to_end(bucket)
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)
