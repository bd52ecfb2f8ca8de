"""Wire models of the HTTP API (pydantic lives at the edges; stages pass plain dataclasses)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from indexers.lucene import Bm25Params
from rankers.fusion import FusionSpec
from service.specs import FunnelOptions, RetrieverKind, StageName

QueryText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)]


class RerankOptions(BaseModel):
    """``/v1/search``'s second stage for this request; fields left out keep the served reranker's own."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="a served reranker (GET /v1/rerankers) [the server's search "
                                                "reranker, else the first served]")
    depth: int | None = Field(None, ge=1, le=1000, description="first-stage candidates handed to the reranker "
                                                               "[the pipeline's depth]")
    top_n: int | None = Field(None, ge=1, le=1000, description="rescore only the first n of them; the rest "
                                                               "follow in first-stage order [all]")
    blend: float | None = Field(None, ge=0.0, le=1.0, description="first-stage weight in (1-w) norm(reranker) + "
                                                                  "w norm(first stage)")


class SearchRequest(BaseModel):
    """``POST /v1/search``. Pipeline fields left out take the server's default pipeline."""

    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1, max_length=64)
    query: QueryText
    k: int = Field(10, ge=1, le=1000)
    retriever: RetrieverKind | None = None
    retrievers: list[StageName] | None = Field(None, min_length=1, max_length=3,
                                               description="retrievers to fuse, in fusion-weight order")
    sparse_index: str | None = None
    dense_index: str | None = None
    splade_index: str | None = None
    splade: dict[str, Any] | None = Field(None, description="the learned sparse index's query options")
    splade_min_weight: float | None = Field(None, ge=0)
    explain: bool | None = None
    depth: int | None = Field(None, ge=1, le=1000)
    fusion: FusionSpec | None = None
    bm25: Bm25Params | None = None
    ef_search: int | None = Field(None, ge=1, le=4096)
    dimensions: int | None = Field(None, ge=8, le=8192, description="Matryoshka: search at this prefix dimension")
    funnel: FunnelOptions | None = Field(None, description="Matryoshka: shortlist low-dim, rescore at full dim")
    include_text: bool = True
    rerank: bool | RerankOptions | None = Field(
        None, description="false: first stage only; true: the server's search reranker, if it has one [true]; "
                          "an object: rerank with the named reranker and options")
    timeout_ms: int | None = Field(None, ge=1, le=600_000,
                                   description="this request's time budget; stages that would overrun it are "
                                               "skipped or cut short and listed in `degraded` [server default]")


class HitOut(BaseModel):
    id: str
    score: float
    title: str = ""
    text: str = ""
    stage_scores: dict[str, float] = {}


class SearchResponse(BaseModel):
    collection: str
    query: str
    retriever: RetrieverKind
    retrievers: list[StageName] = Field([], description="the retrievers that ran, in fusion-weight order")
    hits: list[HitOut]
    timings_ms: dict[str, float]
    counts: dict[str, int] = {}
    degraded: list[str] = Field([], description="stages skipped or cut short (deadline or a failing backend)")
    warnings: list[str] = Field([], description="what a stage wants you to know (e.g. passages truncated)")
    cached: bool = Field(False, description="answered from the result cache")
    explain: dict[str, dict[str, float]] | None = Field(
        None, description="with explain: the query's expansion per retriever (splade: heaviest terms -> weight)")


class IndexInfo(BaseModel):
    name: str
    kind: str
    doc_count: int
    model: str | None = None
    dims: int | None = None
    metric: str | None = None
    supported_dims: list[int] | None = None
    version: str
    build: dict[str, object]


class CollectionInfo(BaseModel):
    name: str
    doc_count: int
    version: str
    indexes: list[IndexInfo]


class CollectionsResponse(BaseModel):
    collections: list[CollectionInfo]
