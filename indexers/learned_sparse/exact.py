"""Exact (brute-force) learned sparse scoring over the forward store: the ground truth for recall, and a backend
for small collections. A scipy CSR matrix times a block of dense query columns."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from indexers.filters import AllowedDocs
from indexers.learned_sparse.filtered import FilteredExact
from indexers.learned_sparse.scoring import exact_search, quantised
from indexers.learned_sparse.spec import KIND, SparseBuildSpec
from indexers.learned_sparse.store import ForwardStore, check_queries
from indexers.manifest import IndexManifest
from indexers.sparse_encoders import SparseVectors
from kernel.errors import IndexUnavailable


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
        self._impacts = quantised(self._matrix, self._scale)
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
