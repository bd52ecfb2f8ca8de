"""Prefix transforms: ``x -> x @ R [+ MLP residual]``, so that the first dims of the output carry the most.

Serving needs only numpy; training (``adaptor.py``) uses torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.encoders.base import l2_normalize

FILENAME = "transform.npz"


@dataclass(frozen=True)
class PrefixTransform:
    """``kind`` none | pca | adaptor; ``rotation`` is orthogonal; the adaptor adds ``w2 relu(w1 x + b1) + b2``."""

    kind: str
    rotation: NDArray[np.float32] | None = None
    w1: NDArray[np.float32] | None = None
    b1: NDArray[np.float32] | None = None
    w2: NDArray[np.float32] | None = None
    b2: NDArray[np.float32] | None = None

    def apply(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """Full-dimension transformed vectors (not renormalised)."""
        out = np.asarray(x, dtype=np.float32)
        if self.rotation is not None:
            out = out @ self.rotation
        if self.w1 is not None:
            assert self.b1 is not None and self.w2 is not None and self.b2 is not None
            out = out + np.maximum(out @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2
        return out.astype(np.float32, copy=False)

    def prefix(self, x: NDArray[np.float32], dims: int) -> NDArray[np.float32]:
        """The first ``dims`` transformed dims, renormalised to unit length."""
        return l2_normalize(np.ascontiguousarray(self.apply(x)[:, :dims]))

    @property
    def preserves_full_scores(self) -> bool:
        """True when full-dimension cosine scores equal the untransformed ones (identity or a pure rotation)."""
        return self.w1 is None

    def save(self, folder: Path) -> None:
        arrays: dict[str, Any] = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        np.savez(folder / FILENAME, kind=np.array(self.kind), **arrays)

    @classmethod
    def load(cls, folder: Path) -> PrefixTransform:
        with np.load(folder / FILENAME) as data:
            arrays = {k: data[k].astype(np.float32) for k in data.files if k != "kind"}
            return cls(kind=str(data["kind"]), **arrays)


def fit_pca(vectors: NDArray[np.float32], *, sample: int = 200_000, seed: int = 0) -> PrefixTransform:
    """Eigenvectors of the corpus covariance, largest variance first: an orthogonal rotation, so full-dimension
    inner products are unchanged while the leading dims hold the most variance."""
    rng = np.random.default_rng(seed)
    rows = vectors if len(vectors) <= sample else vectors[np.sort(rng.choice(len(vectors), sample, replace=False))]
    x = np.asarray(rows, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, eigvecs = np.linalg.eigh(x.T @ x)
    return PrefixTransform("pca", rotation=np.ascontiguousarray(eigvecs[:, ::-1], dtype=np.float32))
