"""Read side of a Lucene impact index: Anserini's impact searcher (sum of query impact x document impact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from indexers.filters import AllowedDocs
from indexers.impact.build import LUCENE_DIR
from indexers.learned_sparse.filtered import FilteredExact
from indexers.learned_sparse.scoring import quantised
from indexers.learned_sparse.spec import KIND
from indexers.learned_sparse.store import ForwardStore, check_queries
from indexers.lucene.jvm import ensure_jvm
from indexers.manifest import IndexManifest
from indexers.sparse_encoders import SparseVectors
from kernel.errors import IndexUnavailable


class ImpactSearchOptions(BaseModel):
    """``query_cut`` keeps each query's heaviest terms (None: all), as Seismic's option of that name does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query_cut: int | None = Field(None, ge=1, le=1024)


class ImpactIndex:
    """One Lucene impact index folder; ``search`` may be called from many threads (Lucene searchers are)."""

    backend = "lucene_impact"

    def __init__(self, folder: Path) -> None:
        ensure_jvm()
        from jnius import autoclass

        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != KIND or self.manifest.build.get("backend") != self.backend:
            raise IndexUnavailable(f"{folder} is not a Lucene impact index")
        self.docids, self.vocab = ForwardStore.read_docids(folder), ForwardStore.read_vocab(folder)
        self._dim = int(self.manifest.dims or 0)
        self._scale = float(self.manifest.build["sparse"]["impact_scale"])
        self._searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(folder / LUCENE_DIR))
        self._map = autoclass("java.util.HashMap")
        self._int = autoclass("java.lang.Integer")
        self._filtered = FilteredExact(  # filters: exact over the allowed rows' impacts (the scores Lucene gives)
            self.docids, lambda: quantised(ForwardStore.read(folder).vectors.to_scipy(), self._scale), self._scale)

    def _query(self, ids: np.ndarray, weights: np.ndarray, cut: int | None) -> Any:
        if cut is not None and len(ids) > cut:
            best = np.argsort(-weights, kind="stable")[:cut]
            ids, weights = ids[best], weights[best]
        query = self._map()
        for term, impact in zip(ids.tolist(), np.rint(weights * self._scale).astype(np.int64).tolist(), strict=True):
            if impact > 0:
                query.put(self.vocab[term], self._int(impact))
        return query

    def close(self) -> None:
        """Close the Lucene reader; the index is unusable afterwards."""
        self._searcher.close()

    def search(
        self, queries: SparseVectors, k: int, options: ImpactSearchOptions | None = None,
        allowed: AllowedDocs | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, score)`` per query row, scores divided by ``impact_scale**2`` (the float dot
        product's scale); an empty query (no term left after quantisation) gets no hits. With ``allowed`` (a
        filter), the allowed rows' impacts are scored exactly from the forward store (all query terms)."""
        options = options or ImpactSearchOptions()
        check_queries(queries, self._dim, self.folder)
        if allowed is not None:
            return self._filtered.search(queries, k, allowed)
        norm = self._scale * self._scale
        out: list[list[tuple[str, float]]] = []
        for i in range(len(queries)):
            query = self._query(*queries.row(i), options.query_cut)
            if query.isEmpty():
                out.append([])
                continue
            hits = self._searcher.search(query, k)
            out.append([(h.docid, float(h.score) / norm) for h in hits])
        return out
