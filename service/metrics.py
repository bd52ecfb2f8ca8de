"""Prometheus metrics, one set per app (its own ``CollectorRegistry``, so several apps in one process never clash).

Requests and latency per route, latency per pipeline stage, cache hits, batch sizes, queue depth, degraded stages.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Every metric the service exports. ``render()`` gives the text ``GET /metrics`` serves."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("sieve_requests_total", "HTTP requests answered", ["method", "route", "status"],
                                registry=r)
        self.request_seconds = Histogram("sieve_request_seconds", "HTTP request latency", ["method", "route"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("sieve_requests_in_flight", "HTTP requests being handled", registry=r)
        self.stage_seconds = Histogram("sieve_stage_seconds", "wall time per pipeline stage", ["stage"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.degraded = Counter("sieve_degraded_total", "stages skipped or cut short (deadline or failure)",
                                ["stage", "reason"], registry=r)
        self.cache = Counter("sieve_cache_requests_total", "cache lookups by outcome", ["kind", "result"],
                             registry=r)
        self.cache_errors = Counter("sieve_cache_errors_total", "cache backend failures (the request went on)",
                                    ["backend", "op"], registry=r)
        self.batch_size = Histogram("sieve_batch_size", "items per model call", ["batcher"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("sieve_batch_seconds", "wall time of one batched model call", ["batcher"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("sieve_batch_queue_depth", "items waiting for a batch", ["batcher"], registry=r)
        self.rejected = Counter("sieve_rejected_total", "requests refused before any work", ["reason"], registry=r)

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stage_seconds.labels(stage).observe(ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
