"""Model upgrades of a dense index, live (``indexers/upgrade``): ``POST`` starts one and answers 202 at once with its
status; ``GET`` follows it (phase ``mapping`` -> ``serving_mapped`` -> ``reencoding`` -> ``swapping`` -> ``done`` or
``failed``). Admin scope, applied where the router is included. The request is checked before anything changes:
the collection and a dense index of it, a model this server serves that loads, no upgrade of it already running."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from indexers.dense.query_map import DEFAULT_LAMBDA
from indexers.upgrade import UpgradeRequest, UpgradeStatus
from indexers.upgrade.mapping import dense_manifest
from kernel.errors import InvalidInput, SieveError
from service.api.admin import Name, served_models
from service.deps import RegistryDep, SettingsDep
from service.retrieval import run_blocking

router = APIRouter(prefix="/v1/collections", tags=["admin"])  # admin scope: required in service/api/__init__.py


class UpgradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=1024, description="model B: one this server serves "
                                                                   "(embedding_models, admin_models, loaded ones)")
    backend: Literal["torch", "onnx"] = "torch"
    calibration: int = Field(2000, ge=2, le=1_000_000, description="documents the query map is fitted on")
    method: Literal["orthogonal", "lstsq"] = "orthogonal"
    lam: float = Field(DEFAULT_LAMBDA, ge=0.0, description="the orthogonality weight (method orthogonal)")
    reindex: bool = Field(True, description="re-encode every document with B and swap B's index in; false: stop "
                                            "once B's queries are served through the map")


@router.post("/{name}/indexes/{index}/upgrade", status_code=202, response_model=UpgradeStatus)
async def start_upgrade(name: Name, index: Name, body: UpgradeIn, registry: RegistryDep,
                        settings: SettingsDep) -> UpgradeStatus:
    registry.pipeline(name)  # 404 for an unknown collection
    request = UpgradeRequest(index=index, **body.model_dump())
    served = served_models(settings, registry)
    if request.model not in served:
        raise InvalidInput(f"model {request.model[:80]!r} is not served here; choose one of {sorted(served)} "
                           "(operators add more with SIEVE_ADMIN_MODELS)")
    await run_blocking(registry.executor, lambda: dense_manifest(registry.index_root / name, index))
    try:
        await run_blocking(registry.executor, lambda: registry.encoders.get(request.encoder()))
    except (SieveError, OSError, ValueError) as exc:
        raise InvalidInput(f"model {request.model[:80]!r} ({request.backend}) cannot be loaded: {exc}") from None
    return registry.upgrades.start(registry, name, request)


@router.get("/{name}/indexes/{index}/upgrade", response_model=UpgradeStatus)
async def upgrade_status(name: Name, index: Name, registry: RegistryDep) -> UpgradeStatus:
    return registry.upgrades.status(name, index)
