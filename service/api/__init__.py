"""HTTP routes, one module per resource, gathered into ``api_router``."""

from fastapi import APIRouter, Depends

from service.api import admin, collections, embeddings, health, metrics, playground, rerank, search, upgrade
from service.auth import require_admin

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(metrics.router)
api_router.include_router(collections.router)
api_router.include_router(admin.router, dependencies=[Depends(require_admin)])  # admin scope only
api_router.include_router(upgrade.router, dependencies=[Depends(require_admin)])
api_router.include_router(search.router)
api_router.include_router(embeddings.router)
api_router.include_router(rerank.router)
api_router.include_router(playground.router)
