"""Read side of a Seismic index: approximate top-k by inner product over clustered, summarised posting lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexers.filters import AllowedDocs
from indexers.learned_sparse.filtered import FilteredExact
from indexers.learned_sparse.spec import KIND
from indexers.learned_sparse.store import ForwardStore, check_queries
from indexers.manifest import IndexManifest
from indexers.seismic.build import SEISMIC_FILE
from indexers.seismic.spec import SeismicSearchOptions, import_seismic
from indexers.sparse_encoders import SparseVectors
from kernel.errors import IndexUnavailable


class SeismicSparseIndex:
    """One Seismic index folder. Options not given per call come from the manifest's ``search`` defaults."""

    backend = "seismic"

    def __init__(self, folder: Path) -> None:
        seismic: Any = import_seismic()
        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != KIND or self.manifest.build.get("backend") != self.backend:
            raise IndexUnavailable(f"{folder} is not a Seismic index")
        self.defaults = SeismicSearchOptions(**self.manifest.build.get("search", {}))
        self._dim = int(self.manifest.dims or 0)
        self.docids = ForwardStore.read_docids(folder)
        self._index = seismic.SeismicIndex.load(str(folder / SEISMIC_FILE))
        self._string = seismic.get_seismic_string()
        # Seismic has no filter support: filters score the allowed rows' float vectors exactly (filtered.py).
        self._filtered = FilteredExact(self.docids, lambda: ForwardStore.read(folder).vectors.to_scipy())

    def search(
        self, queries: SparseVectors, k: int, options: SeismicSearchOptions | None = None,
        allowed: AllowedDocs | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, score)`` per query row; an empty query (no non-zero term) gets no hits. With
        ``allowed`` (a filter), exact scores over the allowed rows of the forward store."""
        options = options or self.defaults
        check_queries(queries, self._dim, self.folder)
        if allowed is not None:
            return self._filtered.search(queries, k, allowed)
        out: list[list[tuple[str, float]]] = []
        for i in range(len(queries)):
            ids, weights = queries.row(i)
            if len(ids) == 0:
                out.append([])
                continue
            hits = self._index.search(
                query_id=str(i), query_components=ids.astype(str).astype(self._string),
                query_values=weights.astype(np.float32), k=k, query_cut=options.query_cut,
                heap_factor=options.heap_factor, n_knn=options.n_knn, sorted=options.sorted,
            )
            out.append([(doc, float(score)) for _, score, doc in hits])
        return out
