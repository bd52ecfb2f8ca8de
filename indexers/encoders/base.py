"""The encoder contract shared by every dense backend, and the spec that names one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class EncoderSpec(BaseModel):
    """Which model, through which backend. Frozen so it can key caches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = DEFAULT_MODEL
    backend: Literal["torch", "onnx"] = "torch"
    max_length: int = 256
    batch_size: int = 32
    device: str | None = None  # torch only; None = cuda when available, else cpu


class Encoder(Protocol):
    """Turns text into unit-length float32 vectors (cosine models) or raw ones (``normalized`` False)."""

    model_id: str
    revision: str
    backend: str
    dim: int
    normalized: bool

    def encode_queries(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def encode_docs(self, texts: Sequence[str], *, show_progress: bool = False) -> NDArray[np.float32]: ...

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model sees for ``texts`` (after truncation): what an embeddings API reports as usage."""
        ...

    @property
    def max_tokens(self) -> int:
        """Text tokens the model reads per input (its window less special tokens); the rest is cut."""
        ...

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Per text, the ``(start, end)`` character span of each token, untruncated, without special tokens."""
        ...


def l2_normalize(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (zero rows left as they are)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
