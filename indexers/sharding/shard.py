"""One shard of a sharded collection, opened for serving: the body of the Ray actor the router scatters to
(``service/sharded.py`` wraps it with ``ray.remote``; nothing here imports Ray, so it runs and tests without it).

A (re)started shard opens its folder with ``open_collection`` and applies the collection-wide BM25 statistics from
``<collection>/stats/``: an actor Ray restarts after a crash comes back scoring exactly as before, by itself.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.bm25 import Bm25Index
from indexers.collection import Collection, open_collection
from indexers.dense.options import DenseSearchOptions
from indexers.learned_sparse_backends import search_options
from indexers.lucene import Bm25Params
from indexers.sharding.layout import STATS_DIR, ShardedManifest
from indexers.sharding.stats import CorpusStats
from indexers.sparse_encoders import SparseVectors

log = logging.getLogger(__name__)

Row = tuple[str, float, tuple[int, int] | None]  # (doc_id, score, best passage span or None)


def merge(runs: Sequence[Sequence[Row]], k: int) -> list[Row]:
    """Global top-``k`` of per-shard top-``k`` lists: score descending, ties by doc id (as the native BM25 index)."""
    return heapq.nsmallest(k, itertools.chain.from_iterable(runs), key=lambda r: (-r[1], r[0]))


class ShardServer:
    """Searches one shard's indexes; ``root`` is the sharded collection's folder, ``shard`` the shard's number."""

    def __init__(self, root: str, shard: int) -> None:
        self.root, self.shard = Path(root), shard
        self.collection: Collection = self._open()

    def _open(self) -> Collection:
        manifest = ShardedManifest.read(self.root)
        col = open_collection(manifest.shard_folder(self.root, self.shard))
        for name, index in col.sparse.items():
            stats_file = self.root / STATS_DIR / f"{name}.json"
            if isinstance(index, Bm25Index) and stats_file.is_file():
                stats = CorpusStats.read(stats_file)
                index.use_stats(stats.docs, stats.avgdl, stats.df)
        log.info("shard %d of %s: %d docs, indexes %s", self.shard, self.root.name, col.docs.count,
                 sorted(col.indexes))
        return col

    def reload(self) -> str:
        """Reopen the shard and the statistics after a change; returns the new version."""
        old, self.collection = self.collection, self._open()
        old.close()
        return self.collection.version

    def info(self) -> dict[str, Any]:
        return {"shard": self.shard, "docs": self.collection.docs.count, "version": self.collection.version}

    def sparse(self, index: str, query: str, k: int, params: dict[str, Any]) -> list[Row]:
        hits = self.collection.sparse[index].search(query, k, Bm25Params.model_validate(params))
        return [(d, float(s), None) for d, s in hits]

    def dense(self, index: str, vector: NDArray[np.float32], k: int, options: dict[str, Any]) -> list[Row]:
        rows = self.collection.dense[index].search(vector, k, DenseSearchOptions.model_validate(options))[0]
        return [(row[0], float(row[1]), row.passage) for row in rows]

    def splade(self, index: str, vector: SparseVectors, k: int, options: dict[str, Any]) -> list[Row]:
        """The learned sparse index's top ``k`` for a query vector encoded (and pruned) by the router."""
        lsr = self.collection.learned_sparse[index]
        rows = lsr.search(vector, k, search_options(lsr.backend, options))[0]
        return [(d, float(s), None) for d, s in rows]

    def docs(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """(title, text) of the ``ids`` this shard holds."""
        return {i: (d.title, d.text) for i, d in self.collection.docs.get_many(ids).items()}
