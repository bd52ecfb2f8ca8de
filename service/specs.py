"""The pipeline spec: which retrievers, how deep, how to fuse. Settings hold a default; a request overrides parts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from indexers.lucene import Bm25Params
from indexers.matryoshka.spec import Code
from kernel.errors import InvalidInput
from rankers.fusion import FusionSpec

RetrieverKind = Literal["sparse", "dense", "hybrid", "splade"]
StageName = Literal["sparse", "splade", "dense"]  # one first-stage retriever: BM25, learned sparse, dense
ROUTES: dict[str, tuple[StageName, ...]] = {
    "sparse": ("sparse",), "dense": ("dense",), "hybrid": ("sparse", "dense"), "splade": ("splade",)}


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
    # The retrievers to run and fuse, in the order fusion weights follow (e.g. sparse, splade, dense); when set it
    # replaces ``retriever``'s route. One name runs that retriever alone.
    retrievers: tuple[StageName, ...] | None = Field(None, min_length=1, max_length=3)
    sparse_index: str | None = None  # None: the collection's first sparse index
    dense_index: str | None = None  # None: the collection's first dense index
    splade_index: str | None = None  # None: the collection's first learned sparse index
    # The learned sparse index's query options, by its backend (lucene_impact: query_cut; seismic: query_cut,
    # heap_factor, ...; exact: quantised); None or a field left out takes the backend's defaults.
    splade: dict[str, Any] | None = None
    splade_min_weight: float = Field(0.0, ge=0)  # drop query terms of at most this weight before searching
    explain: bool = False  # return the query's learned sparse expansion: its heaviest terms and their weights
    depth: int = Field(100, ge=1, le=1000)  # candidates each retriever hands to fusion
    fusion: FusionSpec = FusionSpec()
    bm25: Bm25Params = Bm25Params()
    ef_search: int | None = Field(None, ge=1, le=4096)
    dimensions: int | None = Field(None, ge=8)  # Matryoshka: search at this prefix dimension
    funnel: FunnelOptions | None = None  # Matryoshka: shortlist at low dims, rescore at full
    rerank: bool = True  # apply the second stage, when there is one, to the top ``rerank_depth`` candidates
    rerank_depth: int | None = Field(None, ge=1, le=1000)  # first-stage candidates the reranker sees [depth]

    @model_validator(mode="after")
    def _distinct_retrievers(self) -> PipelineSpec:
        if self.retrievers is not None and len(set(self.retrievers)) != len(self.retrievers):
            raise ValueError(f"retrievers must be distinct, got {list(self.retrievers)}")
        return self

    def route(self) -> tuple[StageName, ...]:
        """The retrievers this query runs, in fusion-weight order: ``retrievers`` if set, else ``retriever``'s."""
        return self.retrievers if self.retrievers is not None else ROUTES[self.retriever]

    def override(self, **changes: object) -> PipelineSpec:
        """A copy with the non-None ``changes`` applied (validated). Naming a ``retriever`` without ``retrievers``
        drops the default's ``retrievers``, so the retriever asked for is the one that runs."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        if changes.get("retriever") is not None and changes.get("retrievers") is None:
            data["retrievers"] = None
        try:
            return PipelineSpec.model_validate(data)
        except ValidationError as exc:  # a combination the request's own fields could not refuse one by one
            raise InvalidInput(f"bad pipeline: {exc.errors()[0]['msg']}") from None

    @classmethod
    def named(cls, name: str) -> PipelineSpec:
        """The CLI's pipeline names: ``bm25``, ``dense``, ``splade``, ``hybrid`` (RRF), ``hybrid-convex``,
        ``hybrid3`` (BM25 + SPLADE + dense, RRF) and ``fuse:R1+R2[+R3]`` (the named retrievers fused by RRF, e.g.
        ``fuse:bm25+splade+dense``; ``bm25`` and ``sparse`` both name BM25). Fusion method and weights are set
        with ``override(fusion=...)``."""
        if name.startswith("fuse:"):
            alias = {"bm25": "sparse"}
            parts = [alias.get(p, p) for p in name.removeprefix("fuse:").split("+")]
            bad = [p for p in parts if p not in ("sparse", "splade", "dense")]
            if bad or not parts:
                raise KeyError(f"unknown retriever(s) {bad} in {name!r}; fuse any of bm25, splade, dense")
            return cls(retrievers=tuple(parts))  # type: ignore[arg-type]
        presets = {
            "bm25": cls(retriever="sparse"),
            "sparse": cls(retriever="sparse"),
            "dense": cls(retriever="dense"),
            "hybrid": cls(retriever="hybrid"),
            "hybrid-rrf": cls(retriever="hybrid"),
            "hybrid-convex": cls(retriever="hybrid", fusion=FusionSpec(method="convex")),
            "splade": cls(retriever="splade"),
            "hybrid3": cls(retrievers=("sparse", "splade", "dense")),
        }
        if name not in presets:
            raise KeyError(f"unknown pipeline {name!r}; choose one of {sorted(presets)}")
        return presets[name]
