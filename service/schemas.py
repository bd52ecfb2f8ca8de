"""Wire models of the HTTP API (pydantic lives at the edges; stages pass plain dataclasses)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kernel.options import partial_model
from service.specs import PipelineSpec, RetrieverKind, StageName

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


class _SearchHead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1, max_length=64)
    query: QueryText
    k: int = Field(10, ge=1, le=1000)


# The request's ``rerank`` carries these two (``rerank: false``, ``rerank: {depth: ...}``).
RERANK_FIELDS = frozenset({"rerank", "rerank_depth"})
PIPELINE_FIELDS = tuple(name for name in PipelineSpec.model_fields if name not in RERANK_FIELDS)


# The pipeline fields are PipelineSpec's, each optional: a field (and its bounds) is defined once, in the spec.
class SearchRequest(partial_model(PipelineSpec, base=_SearchHead, exclude=RERANK_FIELDS)):  # type: ignore[misc]
    """``POST /v1/search``. Pipeline fields left out take the server's default pipeline."""

    include_text: bool = True
    rerank: bool | RerankOptions | None = Field(
        None, description="false: first stage only; true: the server's search reranker, if it has one [true]; "
                          "an object: rerank with the named reranker and options")
    timeout_ms: int | None = Field(None, ge=1, le=600_000,
                                   description="this request's time budget; stages that would overrun it are "
                                               "skipped or cut short and listed in `degraded` [server default]")

    @property
    def rerank_options(self) -> RerankOptions | None:
        """``rerank`` when it is an object."""
        return self.rerank if isinstance(self.rerank, RerankOptions) else None

    def pipeline_changes(self) -> dict[str, object]:
        """What this request changes in the default pipeline, as ``PipelineSpec.override`` takes it (None: unset)."""
        changes = {name: getattr(self, name) for name in PIPELINE_FIELDS}
        options = self.rerank_options
        changes["rerank"] = True if options else self.rerank
        changes["rerank_depth"] = options.depth if options else None
        return changes


class PassageOut(BaseModel):
    """Character offsets of the best passage in the hit's ``text`` (``text[start:end]``)."""

    start: int
    end: int


class HitOut(BaseModel):
    id: str
    score: float
    title: str = ""
    text: str = ""
    stage_scores: dict[str, float] = {}
    passage: PassageOut | None = Field(None, description="passage indexes: the best passage's offsets in `text`")
    metadata: dict[str, Any] | None = Field(None, description="the document's metadata (when it has any and "
                                                              "include_text is on)")


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
