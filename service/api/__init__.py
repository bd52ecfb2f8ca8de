"""HTTP routes, one module per resource, gathered into ``api_router``."""

from fastapi import APIRouter

from service.api import collections, embeddings, health, playground, search

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(collections.router)
api_router.include_router(search.router)
api_router.include_router(embeddings.router)
api_router.include_router(playground.router)
