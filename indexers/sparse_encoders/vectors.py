"""Sparse vectors in CSR layout over a model's vocabulary: what sparse encoders return and sparse indexes store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# Lucene impact indexes store integer term weights: round(weight * IMPACT_SCALE), for documents and queries alike
# (Pyserini's SPLADE document collections use the same factor 100).
IMPACT_SCALE = 100.0


@dataclass(frozen=True)
class SparseVectors:
    """Rows of term-id -> weight pairs. Row ``i`` is ``indices[indptr[i]:indptr[i+1]]`` (sorted ascending).

    Attributes:
        indptr: ``[rows + 1]`` int64 row boundaries, starting at 0.
        indices: ``[nnz]`` int32 term ids (positions in the encoder's vocabulary).
        values: ``[nnz]`` float32 weights, all > 0.
        dim: vocabulary size.
    """

    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    values: NDArray[np.float32]
    dim: int

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def row_nnz(self) -> NDArray[np.int64]:
        """Non-zero terms per row."""
        return np.diff(self.indptr)

    def row(self, i: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Term ids and weights of row ``i``."""
        lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[lo:hi], self.values[lo:hi]

    def to_dicts(self, vocab: Sequence[str]) -> list[dict[str, float]]:
        """One ``{term: weight}`` dict per row (terms as the vocabulary spells them, e.g. ``##ing``)."""
        out = []
        for i in range(len(self)):
            ids, weights = self.row(i)
            out.append({vocab[t]: float(w) for t, w in zip(ids.tolist(), weights.tolist(), strict=True)})
        return out

    def take(self, rows: Sequence[int] | NDArray[np.int64]) -> SparseVectors:
        """The given rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.row_nnz()[rows]
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        spans = [np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows]
        gather = np.asarray(np.concatenate(spans) if spans else [], dtype=np.int64)
        return SparseVectors(indptr, self.indices[gather], self.values[gather], self.dim)

    def prune(self, top_k: int | None = None, threshold: float = 0.0) -> SparseVectors:
        """Keep per row the ``top_k`` heaviest terms (all when None) whose weight exceeds ``threshold``."""
        keep = self.values > threshold
        if top_k is not None:
            rows = np.repeat(np.arange(len(self)), self.row_nnz())
            # Rank inside each row by weight, descending: sort by (row, -weight), then position within the row.
            order = np.lexsort((-self.values, rows))
            rank = np.empty(self.nnz, dtype=np.int64)
            rank[order] = np.arange(self.nnz) - self.indptr[rows[order]]
            keep &= rank < top_k
        rows = np.repeat(np.arange(len(self)), self.row_nnz())[keep]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(self)))]).astype(np.int64)
        return SparseVectors(indptr, self.indices[keep], self.values[keep], self.dim)

    def quantised(self, scale: float = IMPACT_SCALE) -> NDArray[np.int32]:
        """Integer impacts ``round(weight * scale)`` aligned with ``indices`` (zeros mean the term drops out)."""
        impacts: NDArray[np.int32] = np.rint(self.values * scale).astype(np.int32)
        return impacts

    def to_scipy(self, dtype: type = np.float32) -> csr_matrix:
        """A ``scipy.sparse.csr_matrix`` of shape ``[rows, dim]``."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.values.astype(dtype), self.indices, self.indptr), shape=(len(self), self.dim))

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            np.savez(fh, indptr=self.indptr, indices=self.indices, values=self.values, dim=np.int64(self.dim))

    @classmethod
    def load(cls, path: Path) -> SparseVectors:
        with np.load(path) as data:
            return cls(data["indptr"], data["indices"], data["values"], int(data["dim"]))

    @classmethod
    def from_dense(cls, weights: NDArray[np.float32]) -> SparseVectors:
        """From a ``[rows, dim]`` array; zeros are dropped."""
        rows, cols = np.nonzero(weights)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(weights)))]).astype(np.int64)
        return cls(indptr, cols.astype(np.int32), weights[rows, cols].astype(np.float32), weights.shape[1])

    @classmethod
    def concat(cls, parts: Sequence[SparseVectors], dim: int) -> SparseVectors:
        """Rows of ``parts`` one after the other."""
        if not parts:
            return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), dim)
        counts = np.concatenate([p.row_nnz() for p in parts])
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, np.concatenate([p.indices for p in parts]), np.concatenate([p.values for p in parts]), dim)

    @classmethod
    def from_dicts(cls, rows: Sequence[dict[int, float]], dim: int) -> SparseVectors:
        """From ``{term_id: weight}`` dicts (non-positive weights dropped)."""
        parts = []
        for row in rows:
            items = sorted((t, w) for t, w in row.items() if w > 0)
            ids = np.array([t for t, _ in items], dtype=np.int32)
            weights = np.array([w for _, w in items], np.float32)
            parts.append(cls(np.array([0, len(items)], np.int64), ids, weights, dim))
        return cls.concat(parts, dim)
