"""Collections admin: create a collection, upsert and delete documents, rebuild, drop — live.

Upserts and deletes are logged (fsync, before the 200) and applied to the live collection's delta in memory
(``Registry.write``, ``indexers/segments/``): searchable at once, no rebuild, no reopen; a background merge folds
the delta into the base later. ``rebuild`` is the full compaction (``indexers/updates.py``, copy-on-write) followed
by a swap; searches running meanwhile finish on the old version. Changes to one collection are serialised;
different collections change independently. Every route needs an API key with the admin scope
(when keys are configured; see ``service/auth.py``), applied where the router is included.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from indexers.create import create_collection
from indexers.dense import DenseIndexSpec
from indexers.dense.factory import check_factory
from indexers.encoders import EncoderSpec
from indexers.segments.codec import ChangeReport
from indexers.segments.merge import apply_changes
from indexers.updates import delete_collection
from kernel.errors import InvalidInput
from kernel.types import Doc
from service.config import Settings
from service.deps import RegistryDep, SettingsDep
from service.registry import Registry
from service.retrieval import run_blocking

router = APIRouter(prefix="/v1/collections", tags=["admin"])  # admin scope: required in service/api/__init__.py

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
DocId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class DocIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: DocId
    text: str = Field(max_length=100_000)
    title: str = Field("", max_length=2_000)
    metadata: dict[str, Any] | None = Field(None, description="a JSON object that filters read (at most 16 KiB "
                                                              "as JSON), e.g. {\"year\": 2020, \"tag\": [\"a\"]}")

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > 16_384:
            raise ValueError("metadata is larger than 16 KiB as JSON")
        return value

    def doc(self) -> Doc:
        return Doc(self.id, self.text, self.title, self.metadata or None)


class DenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("dense", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    model: str = Field(EncoderSpec().model, max_length=256,
                       description="an encoder this server serves (embedding_models, admin_models, or one a loaded "
                                   "collection uses)")
    backend: Literal["torch", "onnx"] = "torch"
    factory: str = Field("Flat", max_length=64, description="Flat, SQ8, PQ{m}, HNSW{M}[,Flat] (M <= 64) or "
                                                            "IVF{n},Flat|SQ8|PQ{m} (n <= the document count)")


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    documents: list[DocIn] = Field(min_length=1, max_length=10_000)
    dense: list[DenseIn] = Field(default_factory=lambda: [DenseIn()], max_length=4)


class UpsertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[DocIn] = Field(min_length=1, max_length=10_000)


class DeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[DocId] = Field(min_length=1, max_length=10_000)


class ChangeResponse(BaseModel):
    name: str
    doc_count: int
    added: int
    replaced: int
    deleted: int
    not_found: list[str]
    seconds: float
    versions: dict[str, str]
    seq: int = Field(0, description="the write-ahead log's sequence number of the change")
    timings_ms: dict[str, float] = Field(default_factory=dict, description="a logged write's stages: encode, log "
                                                                           "(append + fsync), apply (the delta)")


def _out(report: ChangeReport) -> ChangeResponse:
    return ChangeResponse(**vars(report))


def served_models(settings: Settings, registry: Registry) -> set[str]:
    loaded = {index.manifest.model for p in registry.pipelines.values() for index in p.collection.dense.values()}
    return {*settings.embedding_models, *settings.admin_models, *(m for m in loaded if m)}


def _checked(body: CreateRequest, settings: Settings, registry: Registry) -> list[DenseIndexSpec]:
    """The dense specs, refused before anything loads or is written unless each model is served and each factory
    is in the bounded grammar (a free model is a free path or download; a free factory a free allocation)."""
    if not any(d.text.strip() or d.title.strip() for d in body.documents):
        raise InvalidInput("every document is empty (no text, no title): a collection needs at least one to index")
    served = served_models(settings, registry)
    for d in body.dense:
        if d.model not in served:
            raise InvalidInput(f"dense model {d.model[:80]!r} is not served here; choose one of {sorted(served)} "
                               "(operators add more with SIEVE_ADMIN_MODELS)")
        check_factory(d.factory, len(body.documents))
    return [DenseIndexSpec(name=d.name, factory=d.factory, encoder=EncoderSpec(model=d.model, backend=d.backend))
            for d in body.dense]


@router.post("", status_code=201, response_model=ChangeResponse)
async def create(body: CreateRequest, registry: RegistryDep, settings: SettingsDep) -> ChangeResponse:
    dense = _checked(body, settings, registry)
    async with registry.locks[body.name]:
        report = await run_blocking(registry.executor, lambda: create_collection(
            registry.index_root, body.name, [d.doc() for d in body.documents], dense))
        await run_blocking(registry.executor, lambda: registry.reload(body.name))
    return _out(report)


async def _write(registry: RegistryDep, name: str, upserts: list[Doc], deletes: list[str]) -> ChangeResponse:
    registry.pipeline(name)  # 404 before anything is encoded
    async with registry.locks[name]:  # waiting writers wait here, not on a worker thread
        report = await run_blocking(registry.executor, lambda: registry.write(name, upserts, deletes))
    return _out(report)


@router.post("/{name}/documents", response_model=ChangeResponse)
async def upsert(name: Name, body: UpsertRequest, registry: RegistryDep) -> ChangeResponse:
    return await _write(registry, name, [d.doc() for d in body.documents], [])


@router.post("/{name}/documents/delete", response_model=ChangeResponse)
async def delete_documents(name: Name, body: DeleteRequest, registry: RegistryDep) -> ChangeResponse:
    return await _write(registry, name, [], body.ids)


@router.post("/{name}/rebuild", response_model=ChangeResponse)
async def rebuild(name: Name, registry: RegistryDep) -> ChangeResponse:
    """The full compaction: the log folded in, every index rebuilt copy-on-write, then swapped in."""
    async with registry.locks[name]:
        report = await run_blocking(registry.executor, lambda: apply_changes(
            registry.index_root, name, encoder_for=registry.encoders.get,
            sparse_encoder_for=registry.sparse_encoders.get))
        await run_blocking(registry.executor, lambda: registry.reload(name))
    return _out(report)


@router.delete("/{name}", status_code=204)
async def drop(name: Name, registry: RegistryDep) -> None:
    async with registry.locks[name]:
        registry.drop(name)
        await run_blocking(registry.executor, lambda: delete_collection(registry.index_root, name))
