"""The pipeline spec: which retrievers, how deep, how to fuse. Settings hold a default; a request overrides parts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from indexers.lucene import Bm25Params
from indexers.matryoshka.spec import Code
from rankers.fusion import FusionSpec

RetrieverKind = Literal["sparse", "dense", "hybrid"]


class FunnelOptions(BaseModel):
    """Per-request funnel settings; a field left out takes the index's built default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dims: int | None = Field(None, ge=8)
    code: Code | None = None
    shortlist: int | None = Field(None, ge=1, le=10_000)


class PipelineSpec(BaseModel):
    """One query's route through the first stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retriever: RetrieverKind = "hybrid"
    sparse_index: str | None = None  # None: the collection's first sparse index
    dense_index: str | None = None  # None: the collection's first dense index
    depth: int = Field(100, ge=1, le=1000)  # candidates each retriever hands to fusion
    fusion: FusionSpec = FusionSpec()
    bm25: Bm25Params = Bm25Params()
    ef_search: int | None = Field(None, ge=1, le=4096)
    dimensions: int | None = Field(None, ge=8)  # Matryoshka: search at this prefix dimension
    funnel: FunnelOptions | None = None  # Matryoshka: shortlist at low dims, rescore at full
    rerank: bool = True  # apply the second stage, when there is one, to the top ``rerank_depth`` candidates
    rerank_depth: int | None = Field(None, ge=1, le=1000)  # first-stage candidates the reranker sees [depth]

    def override(self, **changes: object) -> PipelineSpec:
        """A copy with the non-None ``changes`` applied (validated)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return PipelineSpec.model_validate(data)

    @classmethod
    def named(cls, name: str) -> PipelineSpec:
        """The CLI's pipeline names: ``bm25``, ``dense``, ``hybrid`` (RRF) and ``hybrid-convex``."""
        presets = {
            "bm25": cls(retriever="sparse"),
            "sparse": cls(retriever="sparse"),
            "dense": cls(retriever="dense"),
            "hybrid": cls(retriever="hybrid"),
            "hybrid-rrf": cls(retriever="hybrid"),
            "hybrid-convex": cls(retriever="hybrid", fusion=FusionSpec(method="convex")),
        }
        if name not in presets:
            raise KeyError(f"unknown pipeline {name!r}; choose one of {sorted(presets)}")
        return presets[name]
