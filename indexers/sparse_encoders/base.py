"""The sparse-encoder contract (text -> term weights over a vocabulary) and the spec that names one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from indexers.sparse_encoders.vectors import SparseVectors

DEFAULT_SPARSE_MODEL = "rasyosef/splade-tiny"


class SparseEncoderSpec(BaseModel):
    """Which SPLADE-style model(s), through which backend. Frozen so it can key caches.

    ``query_model`` names a separate query-side model (same vocabulary) for models trained with two encoders;
    None encodes queries with ``model``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_SPARSE_MODEL
    query_model: str | None = None
    backend: Literal["torch"] = "torch"
    max_length: int = Field(256, ge=8, le=512)
    query_max_length: int = Field(64, ge=4, le=512)
    batch_size: int = Field(16, ge=1)
    device: str | None = None  # None = cuda when available, else cpu


class SparseEncoder(Protocol):
    """Turns text into non-negative term weights over ``vocab`` (one row per text)."""

    model_id: str
    query_model_id: str
    revision: str
    backend: str
    vocab: list[str]

    @property
    def dim(self) -> int: ...

    def encode_queries(self, texts: Sequence[str]) -> SparseVectors: ...

    def encode_docs(self, texts: Sequence[str], *, show_progress: bool = False) -> SparseVectors: ...
