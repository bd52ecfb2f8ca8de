"""Typed responses of the Sieve HTTP API, as the client sees them.

They mirror the server's wire shapes but ignore fields they do not know yet, so a newer server does not break an
older client. Extra fields stay readable via ``model_extra``.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Passage(_Wire):
    """Character offsets of a hit's best passage in its ``text``: cite ``hit.text[start:end]``."""

    start: int
    end: int


class Hit(_Wire):
    """One search hit; ``stage_scores`` holds the score each stage gave it (``sparse``, ``dense``, fusion, ...);
    ``passage`` is set when the collection's dense index is a passage index (``sieve index build --chunk``)."""

    id: str
    score: float
    title: str = ""
    text: str = ""
    stage_scores: dict[str, float] = Field(default_factory=dict)
    passage: Passage | None = None
    metadata: dict[str, Any] | None = None  # the document's metadata, when it has any


class SearchResponse(_Wire):
    """``POST /v1/search``. ``counts``: candidates per stage, when the server reports them; ``degraded``: stages
    the server skipped or fell back on (empty when none); ``retrievers``: the retrievers that ran, in fusion-weight
    order; ``warnings``: what a stage wants you to know (e.g. a query whose SPLADE encoding matches nothing);
    ``explain``: with ``explain=True``, the query's expansion per retriever (``splade``: term -> weight)."""

    collection: str
    query: str
    retriever: str
    hits: list[Hit]
    timings_ms: dict[str, float] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    degraded: list[Any] = Field(default_factory=list)
    retrievers: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    explain: dict[str, dict[str, float]] | None = None


class IndexInfo(_Wire):
    """One index of a collection, from its manifest; ``supported_dims``: Matryoshka prefixes it can search at."""

    name: str
    kind: str
    doc_count: int
    model: str | None = None
    dims: int | None = None
    metric: str | None = None
    supported_dims: list[int] | None = None
    version: str
    build: dict[str, Any] = Field(default_factory=dict)


class CollectionInfo(_Wire):
    """One loaded collection (``GET /v1/collections`` returns a list of these)."""

    name: str
    doc_count: int
    version: str
    indexes: list[IndexInfo]


class Health(_Wire):
    """``GET /healthz``: loaded collections, and the ones that failed to load with why."""

    status: str
    collections: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)


class Embedding(_Wire):
    """One input's vector; ``embedding`` is a list of floats, or a base64 string when asked for ``base64``."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str

    @property
    def vector(self) -> list[float]:
        """The vector as floats, decoding base64 (little-endian float32, as OpenAI sends it) when needed."""
        if isinstance(self.embedding, list):
            return self.embedding
        raw = base64.b64decode(self.embedding)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))


class EmbeddingUsage(_Wire):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingResponse(_Wire):
    """``POST /v1/embeddings``, OpenAI-compatible: ``{object: "list", data, model, usage}``."""

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage = Field(default_factory=EmbeddingUsage)

    def vectors(self) -> list[list[float]]:
        """One vector per input, in input order."""
        return [e.vector for e in sorted(self.data, key=lambda e: e.index)]


class RerankResult(_Wire):
    """One document's new place: ``index`` into the documents sent, and its relevance score."""

    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class RerankResponse(_Wire):
    """``POST /v2/rerank``, Cohere v2 shape: ``{id, results: [{index, relevance_score}], meta}``, best first."""

    id: str | None = None
    results: list[RerankResult]
    meta: dict[str, Any] = Field(default_factory=dict)


class CollectionsResponse(_Wire):
    collections: list[CollectionInfo]
