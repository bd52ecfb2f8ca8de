"""Reranker specs: frozen, so they key the model cache, and shared by the CLI, the settings and the API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rankers.fusion import Normalization


class RerankerSpec(BaseModel):
    """Which reranker, over which model, with which scoring policy.

    ``blend`` is the first stage's weight in ``(1 - blend) * norm(reranker) + blend * norm(first stage)``, both
    normalised over the candidate list; 0 trusts the reranker alone, so a reranker that does not fit a domain can be
    held back from hurting it. ``truncation`` says what happens to a (query, passage) pair over ``max_length``
    tokens: ``truncate`` cuts the longer side (the passage) and counts the pair, ``error`` refuses the request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["cross-encoder"] = "cross-encoder"
    model: str
    max_length: int = Field(512, ge=16, le=8192)
    batch_size: int = Field(32, ge=1, le=4096)
    top_n: int | None = Field(None, ge=1)  # rescore only the first n candidates; the rest follow in their order
    blend: float = Field(0.0, ge=0.0, le=1.0)
    normalization: Normalization = "minmax"
    truncation: Literal["truncate", "error"] = "truncate"
    device: str | None = None  # None: cuda when available, else cpu
