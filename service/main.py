"""``create_app(settings)``: the FastAPI app; its lifespan loads every collection under the index root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api import api_router
from service.config import Settings
from service.errors import BodySizeLimit, install_error_handlers
from service.registry import Registry

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry(settings.index_root, workers=settings.workers, use_gpu=settings.use_gpu)
        app.state.registry = registry
        log.info("serving %d collections from %s", len(registry.pipelines), settings.index_root)
        yield
        registry.close()

    app = FastAPI(title="Sieve", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(api_router)
    return app
