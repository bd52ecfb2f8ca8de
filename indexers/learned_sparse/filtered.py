"""Filtered learned sparse search: exact scoring over the allowed rows of the forward store, the one structure
every learned sparse backend keeps. The exact backend masks its own matrix this way; Lucene impact scores the
quantised impacts (the same scores its Lucene index gives); Seismic, which has no filter support, scores the float
vectors exactly (what Seismic approximates), whatever the filter's selectivity: cost grows with the allowed rows'
postings, so a filter letting most of a large collection through costs about an exact search."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from indexers.filters import AllowedDocs, RowMap
from indexers.learned_sparse.scoring import exact_search
from indexers.sparse_encoders import SparseVectors


class FilteredExact:
    """Exact search over the rows a filter allows; ``matrix`` (scipy CSR ``[docs, dim]``) is loaded on first use."""

    def __init__(self, docids: list[str], matrix: Callable[[], Any], impact_scale: float | None = None) -> None:
        self.docids = docids
        self.rowmap = RowMap(docids)
        self._load = matrix
        self._matrix: Any = None
        self._scale = impact_scale
        self._lock = threading.Lock()

    def _full(self) -> Any:
        with self._lock:
            if self._matrix is None:
                self._matrix = self._load()
            return self._matrix

    def search(self, queries: SparseVectors, k: int, allowed: AllowedDocs) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, score)`` per query row among the allowed documents."""
        rows = self.rowmap.rows(allowed)
        if len(rows) == 0 or k < 1:
            return [[] for _ in range(len(queries))]
        sub = allowed.derived((self.rowmap, "csr"), lambda: self._full()[rows])
        ids = allowed.derived((self.rowmap, "ids"), lambda: [self.docids[r] for r in rows.tolist()])
        return exact_search(sub, ids, queries, k, impact_scale=self._scale)
