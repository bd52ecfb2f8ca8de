"""Liveness: the process answers."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import RegistryDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(registry: RegistryDep) -> dict[str, object]:
    return {"status": "ok", "collections": sorted(registry.pipelines), "errors": registry.errors}
