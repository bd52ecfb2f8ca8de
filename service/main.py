"""``create_app(settings)``: the FastAPI app; its lifespan loads every collection under the index root and builds
the cache, batchers and tracing; middleware adds request ids, logs, metrics, CORS, API keys and rate limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from rankers.base import Reranker
from service.api import api_router
from service.auth import AccessControl
from service.cache import build_cache
from service.config import UNTRAINED_RERANKER, Settings
from service.errors import BodySizeLimit, install_error_handlers
from service.logs import RequestContext
from service.metrics import Metrics
from service.ratelimit import RateLimiter
from service.registry import Registry
from service.tracing import Tracing

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, reranker: Reranker | None = None,
               span_exporter: Any = None) -> FastAPI:
    """The service.

    Args:
        settings: everything configurable (default: read from the environment / YAML file).
        reranker: a second stage for every collection (default: ``settings.rerank.search``, if set).
        span_exporter: an OpenTelemetry span exporter to use instead of the configured one (tests).
    """
    settings = settings or Settings()
    settings.check_exposure()  # auth off on a non-loopback host: refused unless SIEVE_ALLOW_INSECURE
    metrics = Metrics()
    tracing = Tracing(settings.tracing, span_exporter) if settings.tracing.enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if UNTRAINED_RERANKER in settings.rerank.models:  # the default before any training: built once, seconds
            from pathlib import Path

            from rankers.similarity_cross_encoder import ensure_untrained

            ensure_untrained(Path(UNTRAINED_RERANKER))
        cache = build_cache(settings.cache, metrics)
        registry = Registry(
            settings.index_root, workers=settings.workers, use_gpu=settings.use_gpu, batching=settings.batching,
            vector_cache=cache if settings.cache.vectors else None,
            result_cache=cache if settings.cache.results else None, reranker=reranker, metrics=metrics,
            model_dtype=settings.model_dtype, rerank=settings.rerank,
            retire_after_s=settings.max_deadline_ms / 1000 + 60, merge_after=settings.writes.merge_after,
        )
        sharded = None
        if settings.ray.enabled:  # sharded collections on Ray actors (the `ray` extra, imported only here)
            from service.sharded import ShardedServing

            sharded = ShardedServing(registry, settings.ray)  # start-up: nothing is served yet
        app.state.registry = registry
        app.state.sharded = sharded
        app.state.cache = cache
        app.state.ready = True
        log.info("serving %d collections from %s; cache %s; batching %s", len(registry.pipelines),
                 settings.index_root, cache.status() if cache else "off",
                 f"max {settings.batching.max_batch}" if settings.batching.enabled else "off")
        try:
            yield
        finally:
            app.state.ready = False
            await registry.aclose()
            if sharded is not None:
                sharded.close()
            if cache is not None:
                await cache.close()
            if tracing is not None:
                tracing.shutdown()

    app = FastAPI(title="Sieve", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.tracing = tracing
    app.state.ready = False
    # Added innermost first: RequestContext ends up outermost, so every response (errors too) gets its id.
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.add_middleware(AccessControl, auth=settings.auth, metrics=metrics,
                       limiter=RateLimiter(settings.rate_limit.rate_per_s, settings.rate_limit.burst))
    if settings.cors.allow_origins:
        cors = settings.cors
        app.add_middleware(CORSMiddleware, allow_origins=list(cors.allow_origins),
                           allow_methods=list(cors.allow_methods), allow_headers=list(cors.allow_headers),
                           allow_credentials=cors.allow_credentials, max_age=cors.max_age_s,
                           expose_headers=["X-Request-ID", "Retry-After"])
    install_error_handlers(app)
    app.include_router(api_router)
    routes = frozenset(getattr(r, "path", "") for r in app.routes)
    app.add_middleware(RequestContext, metrics=metrics, routes=routes, tracing=tracing)
    return app
