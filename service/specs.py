"""The pipeline spec: which retrievers, how deep, how to fuse. Settings hold a default; a request overrides parts."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from indexers.dense.options import DenseSearchOptions
from indexers.lucene import Bm25Params
from rankers.fusion import FusionSpec

RetrieverKind = Literal["sparse", "dense", "hybrid"]


class PipelineSpec(DenseSearchOptions):
    """One query's route through the first stage; a search request may override any field (``SearchRequest`` is
    derived from this class: a field added here is a request field, with its bounds and description).

    An index kind's search options are one model beside the index: the sparse index's are the ``bm25`` field
    (``Bm25Params``); the dense index's (``ef_search``, ``dimensions``, ``funnel``) are inherited from
    ``DenseSearchOptions`` so they stay flat on the wire, and ``dense`` hands them to the index.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    retriever: RetrieverKind = Field("hybrid", description="sparse, dense, or both fused (hybrid)")
    sparse_index: str | None = Field(None, description="the sparse index to search [the collection's first]")
    dense_index: str | None = Field(None, description="the dense index to search [the collection's first]")
    depth: int = Field(100, ge=1, le=1000, description="candidates each retriever hands to fusion")
    fusion: FusionSpec = Field(FusionSpec(), description="how hybrid merges the two runs")
    bm25: Bm25Params = Field(Bm25Params(), description="the sparse index's BM25 (and RM3) parameters")
    rerank: bool = Field(True, description="apply the second stage, when there is one, to the top rerank_depth "
                                           "candidates")
    rerank_depth: int | None = Field(None, ge=1, le=1000, description="first-stage candidates the reranker sees "
                                                                      "[depth]")

    @property
    def dense(self) -> DenseSearchOptions:
        """The dense index's options for this query."""
        return DenseSearchOptions(**{name: getattr(self, name) for name in DenseSearchOptions.model_fields})

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
