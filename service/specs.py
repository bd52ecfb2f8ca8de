"""The pipeline spec: which retrievers, how deep, how to fuse. Settings hold a default; a request overrides parts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from indexers.dense.options import DenseSearchOptions
from indexers.filters import Filter
from indexers.lucene import Bm25Params
from kernel.errors import InvalidInput
from rankers.fusion import FusionSpec

RetrieverKind = Literal["sparse", "dense", "hybrid", "splade"]
StageName = Literal["sparse", "splade", "dense"]  # one first-stage retriever: BM25, learned sparse, dense
ROUTES: dict[str, tuple[StageName, ...]] = {
    "sparse": ("sparse",), "dense": ("dense",), "hybrid": ("sparse", "dense"), "splade": ("splade",)}


class PipelineSpec(DenseSearchOptions):
    """One query's route through the first stage; a search request may override any field (``SearchRequest`` is
    derived from this class: a field added here is a request field, with its bounds and description).

    An index kind's search options are one model beside the index: the sparse index's are the ``bm25`` field
    (``Bm25Params``); the dense index's (``ef_search``, ``dimensions``, ``funnel``) are inherited from
    ``DenseSearchOptions`` so they stay flat on the wire, and ``dense`` hands them to the index.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    retriever: RetrieverKind = Field("hybrid", description="sparse (BM25), dense, splade (learned sparse), or "
                                                           "hybrid (sparse and dense fused)")
    retrievers: tuple[StageName, ...] | None = Field(
        None, min_length=1, max_length=3, description="the retrievers to run and fuse, in the order fusion weights "
                                                      "follow (e.g. sparse, splade, dense); replaces retriever")
    sparse_index: str | None = Field(None, description="the sparse index to search [the collection's first]")
    dense_index: str | None = Field(None, description="the dense index to search [the collection's first]")
    query_encoder: str | None = Field(None, description="dense: encode the query with this query encoder registered "
                                                        "on the dense index (`sieve train query-encoder`) [the "
                                                        "index's own encoder]")
    splade_index: str | None = Field(None, description="the learned sparse index to search [the collection's "
                                                       "first]")
    splade: dict[str, Any] | None = Field(
        None, description="the learned sparse index's query options, by its backend (lucene_impact: query_cut; "
                          "seismic: query_cut, heap_factor, ...; exact: quantised) [the backend's defaults]")
    splade_min_weight: float = Field(0.0, ge=0, description="drop query terms of at most this weight before the "
                                                            "learned sparse search")
    explain: bool = Field(False, description="return the query's learned sparse expansion: its heaviest terms and "
                                             "their weights")
    depth: int = Field(100, ge=1, le=1000, description="candidates each retriever hands to fusion")
    filter: Filter | None = Field(
        None, description='only documents whose metadata match: {"field": "year", "eq": 2020}, {"field": "tag", '
                          '"in": ["a", "b"]}, ranges gt/gte/lt/lte on numbers or ISO dates, {"and": [...]}, '
                          '{"or": [...]}, {"not": {...}}; applied inside every retriever')
    fusion: FusionSpec = Field(FusionSpec(), description="how fused retrievers' runs are merged")
    bm25: Bm25Params = Field(Bm25Params(), description="the sparse index's BM25 (and RM3) parameters")
    rerank: bool = Field(True, description="apply the second stage, when there is one, to the top rerank_depth "
                                           "candidates")
    rerank_depth: int | None = Field(None, ge=1, le=1000, description="first-stage candidates the reranker sees "
                                                                      "[depth]")

    @property
    def dense(self) -> DenseSearchOptions:
        """The dense index's options for this query."""
        return DenseSearchOptions(**{name: getattr(self, name) for name in DenseSearchOptions.model_fields})

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
            return cls(retrievers=tuple(parts))
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
