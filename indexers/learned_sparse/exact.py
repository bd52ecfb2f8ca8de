"""Exact (brute-force) learned sparse scoring over the forward store: the ground truth for recall, and a backend
for small collections. A scipy CSR matrix times a block of dense query columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from indexers.filters import AllowedDocs
from indexers.learned_sparse.filtered import FilteredExact
from indexers.learned_sparse.spec import KIND, SparseBuildSpec
from indexers.learned_sparse.store import ForwardStore, check_queries, top_k
from indexers.manifest import IndexManifest
from indexers.sparse_encoders import SparseVectors
from kernel.errors import IndexUnavailable

QUERY_BLOCK = 32  # query columns scored per sparse x dense product: [docs, 32] float32 stays small


class ExactIndexSpec(BaseModel):
    """An exact learned sparse index: the forward store alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["exact"] = "exact"
    name: str = "splade-exact"
    sparse: SparseBuildSpec = Field(default_factory=SparseBuildSpec)


class ExactSearchOptions(BaseModel):
    """``quantised`` scores the integer impacts a Lucene index of the same build stores (for comparisons)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantised: bool = False


def write_exact(tmp: Path, store: ForwardStore, spec: ExactIndexSpec) -> dict[str, object]:
    return {}


class ExactSparseIndex:
    """Brute-force dot products over every stored document vector. Thread-safe (read-only state)."""

    backend = "exact"

    def __init__(self, folder: Path, *, store: ForwardStore | None = None) -> None:
        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != KIND:
            raise IndexUnavailable(f"{folder} is a {self.manifest.kind} index, not {KIND}")
        self.store = store or ForwardStore.read(folder)
        self.docids = self.store.docids
        self._scale = float(self.manifest.build.get("sparse", {}).get("impact_scale", 100.0))
        self._matrix = self.store.vectors.to_scipy()
        quantised = self.store.vectors.quantised(self._scale).astype(np.float32)
        self._impacts = type(self._matrix)((quantised, self._matrix.indices, self._matrix.indptr),
                                           shape=self._matrix.shape)
        self._filtered = FilteredExact(self.docids, lambda: self._matrix)
        self._filtered_impacts = FilteredExact(self.docids, lambda: self._impacts, impact_scale=self._scale)

    def search(
        self, queries: SparseVectors, k: int, options: ExactSearchOptions | None = None,
        allowed: AllowedDocs | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, score)`` per query row; an empty query (no non-zero term) gets no hits; only
        ``allowed`` documents when a filter gives them (the allowed rows alone are scored)."""
        options = options or ExactSearchOptions()
        check_queries(queries, self.store.vectors.dim, self.folder)
        if allowed is not None:
            return (self._filtered_impacts if options.quantised else self._filtered).search(queries, k, allowed)
        if options.quantised:
            return exact_search(self._impacts, self.docids, queries, k, impact_scale=self._scale)
        return exact_search(self._matrix, self.docids, queries, k)


def exact_search(
    matrix: Any, docids: list[str], queries: SparseVectors, k: int, *, impact_scale: float | None = None
) -> list[list[tuple[str, float]]]:
    """Top-``k`` of ``matrix @ query`` per query row (``matrix``: scipy CSR ``[docs, dim]``).

    With ``impact_scale`` the matrix holds integer impacts and queries are quantised the same way; scores are
    divided by ``impact_scale**2`` so they read on the float dot product's scale.
    """
    out: list[list[tuple[str, float]]] = []
    for start in range(0, len(queries), QUERY_BLOCK):
        block = queries.take(np.arange(start, min(start + QUERY_BLOCK, len(queries))))
        dense = np.zeros((block.dim, len(block)), dtype=np.float32)
        rows = np.repeat(np.arange(len(block)), block.row_nnz())
        dense[block.indices, rows] = block.values if impact_scale is None else block.quantised(impact_scale)
        scores = np.asarray(matrix @ dense)
        if impact_scale is not None:
            scores /= impact_scale * impact_scale
        for j in range(len(block)):
            best = top_k(scores[:, j], k)
            out.append([(docids[i], float(scores[i, j])) for i in best])
    return out
