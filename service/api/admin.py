"""Collections admin: create a collection, upsert and delete documents, rebuild, drop — live.

Each change rebuilds the collection copy-on-write (``indexers/updates.py``) on the worker pool, then swaps the new
version into the registry; searches running meanwhile finish on the old version. Changes to one collection are
serialised; different collections change independently. Every route needs an API key with the admin scope
(when keys are configured; see ``service/auth.py``), applied where the router is included.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from indexers.dense import DenseIndexSpec
from indexers.encoders import EncoderSpec
from indexers.updates import ChangeReport, apply_changes, create_collection, delete_collection
from kernel.types import Doc
from service.deps import RegistryDep
from service.retrieval import run_blocking

router = APIRouter(prefix="/v1/collections", tags=["admin"])  # admin scope: required in service/api/__init__.py
_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
DocId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class DocIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: DocId
    text: str = Field(max_length=100_000)
    title: str = Field("", max_length=2_000)

    def doc(self) -> Doc:
        return Doc(self.id, self.text, self.title)


class DenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("dense", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    model: str = EncoderSpec().model
    backend: Literal["torch", "onnx"] = "torch"
    factory: str = "Flat"


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


def _out(report: ChangeReport) -> ChangeResponse:
    return ChangeResponse(**vars(report))


@router.post("", status_code=201, response_model=ChangeResponse)
async def create(body: CreateRequest, registry: RegistryDep) -> ChangeResponse:
    dense = [DenseIndexSpec(name=d.name, factory=d.factory, encoder=EncoderSpec(model=d.model, backend=d.backend))
             for d in body.dense]
    async with _locks[body.name]:
        report = await run_blocking(registry.executor, lambda: create_collection(
            registry.index_root, body.name, [d.doc() for d in body.documents], dense))
        await run_blocking(registry.executor, lambda: registry.reload(body.name))
    return _out(report)


async def _change(registry: RegistryDep, name: str, **changes: object) -> ChangeResponse:
    async with _locks[name]:
        report = await run_blocking(registry.executor, lambda: apply_changes(
            registry.index_root, name, encoder_for=registry.encoders.get,
            sparse_encoder_for=registry.sparse_encoders.get, **changes))  # type: ignore[arg-type]
        await run_blocking(registry.executor, lambda: registry.reload(name))
    return _out(report)


@router.post("/{name}/documents", response_model=ChangeResponse)
async def upsert(name: Name, body: UpsertRequest, registry: RegistryDep) -> ChangeResponse:
    return await _change(registry, name, upserts=[d.doc() for d in body.documents])


@router.post("/{name}/documents/delete", response_model=ChangeResponse)
async def delete_documents(name: Name, body: DeleteRequest, registry: RegistryDep) -> ChangeResponse:
    return await _change(registry, name, deletes=body.ids)


@router.post("/{name}/rebuild", response_model=ChangeResponse)
async def rebuild(name: Name, registry: RegistryDep) -> ChangeResponse:
    return await _change(registry, name)


@router.delete("/{name}", status_code=204)
async def drop(name: Name, registry: RegistryDep) -> None:
    async with _locks[name]:
        registry.drop(name)
        await run_blocking(registry.executor, lambda: delete_collection(registry.index_root, name))
