"""Read side of a native BM25 index: a query is the sum of its terms' weight columns, top-k by argpartition."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from indexers.bm25.analyzer import analyze
from indexers.bm25.build import ARRAYS, VOCAB_FILE, bm25_weights
from indexers.filters import AllowedDocs, RowMap
from indexers.layout import DOCIDS_FILE
from indexers.lucene.index import Bm25Params
from indexers.manifest import IndexManifest
from kernel.errors import IndexUnavailable, InvalidInput

_DEFAULT = Bm25Params()


class Bm25Index:
    """One native BM25 index folder, held in memory. Read-only after load, so safe to call from many threads.

    The index's own ``k1``/``b`` (its manifest) use the precomputed weights; other values recompute the weights of
    the query's postings on the fly (same ranking as a Lucene index searched with them). RM3 is Lucene-only.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != "sparse" or self.manifest.build.get("backend") != "native":
            raise IndexUnavailable(f"{folder} is not a native BM25 index")
        arrays = {name: np.load(folder / f"{name}.npy") for name in ARRAYS}
        self._docs, self._tfs = arrays["docs"], arrays["tfs"]
        self._weights, self._idf, self._lengths = arrays["weights"], arrays["idf"], arrays["lengths"]
        self._bounds: list[int] = arrays["indptr"].tolist()  # Python ints: slicing with them is cheaper
        self._vocab = {t: i for i, t in enumerate(json.loads((folder / VOCAB_FILE).read_text()))}
        self.doc_ids = (folder / DOCIDS_FILE).read_text().splitlines()
        # Lucene breaks score ties by the docid string; rank of each doc in that order.
        self._id_rank = np.argsort(np.argsort(np.asarray(self.doc_ids, dtype=object), kind="stable")).astype(np.int32)
        self.k1, self.b = float(self.manifest.build["k1"]), float(self.manifest.build["b"])
        self._avgdl = float(self.manifest.build["avgdl"])
        self.rowmap = RowMap(self.doc_ids)

    def use_stats(self, docs: int, avgdl: float, df: Mapping[str, int]) -> None:
        """Score with collection-wide statistics (a shard of a sharded collection, as Elasticsearch's DFS mode):
        ``docs`` documents, average length ``avgdl`` and ``df`` (term -> documents holding it) over all shards.
        The idf and weight columns are recomputed with the build's own formulas, so this shard's scores equal those
        a single index over the whole collection gives its documents."""
        bounds = np.asarray(self._bounds, dtype=np.int64)
        local = bounds[1:] - bounds[:-1]
        terms = sorted(self._vocab, key=self._vocab.__getitem__)
        global_df = np.asarray([df.get(t, 0) for t in terms], dtype=np.int64)
        if np.any(global_df < local):
            raise IndexUnavailable(f"{self.manifest.name}: collection-wide statistics older than the index "
                                   "(a term's df below this shard's own); recollect them")
        idf = np.log(1 + (docs - global_df + 0.5) / (global_df + 0.5)).astype(np.float32)
        weights = bm25_weights(self._tfs, self._lengths[self._docs], np.repeat(idf, local), avgdl, self.k1, self.b)
        self._idf, self._avgdl, self._weights = idf, float(avgdl), weights

    def _column(self, term: int, count: int, params: Bm25Params) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        start, end = self._bounds[term], self._bounds[term + 1]
        docs = self._docs[start:end]
        if (params.k1, params.b) == (self.k1, self.b):
            weights = self._weights[start:end]
        else:
            weights = bm25_weights(self._tfs[start:end], self._lengths[docs], self._idf[term], self._avgdl,
                                   params.k1, params.b)
        # A repeated query term counts that many times, as Anserini's bag-of-words query boosts it.
        return docs, weights if count == 1 else np.float32(count) * weights

    def search(self, query: str, k: int, params: Bm25Params | None = None,
               allowed: AllowedDocs | None = None) -> list[tuple[str, float]]:
        """Top-``k`` ``(doc_id, score)`` for one query string; only documents holding a query term, and only
        ``allowed`` ones when a filter gives them (the score vector is masked before the top-k).

        Raises:
            InvalidInput: RM3 was asked for (only Lucene indexes do it).
        """
        params = params or _DEFAULT
        if params.rm3:
            raise InvalidInput(f"RM3 needs a Lucene sparse index; {self.manifest.name!r} is a native BM25 index "
                               "(pick a Lucene one with sparse_index, or drop bm25.rm3)")
        terms = Counter(analyze(query))
        columns = [self._column(self._vocab[t], n, params) for t, n in terms.items() if t in self._vocab]
        if not columns or k < 1:
            return []
        # One C call sums every posting into per-doc scores (cheaper than a scatter-add per term).
        scores = np.bincount(np.concatenate([d for d, _ in columns]), np.concatenate([w for _, w in columns]),
                             minlength=len(self.doc_ids))
        if allowed is not None:
            scores[~self.rowmap.mask(allowed)] = 0.0
        if np.count_nonzero(scores) <= k:
            top = np.flatnonzero(scores)
        else:  # every document tied with the k-th score competes, so ties at the cut go by docid too (not by chance)
            kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
            top = np.flatnonzero(scores >= kth)
        top = top[np.lexsort((self._id_rank[top], -scores[top]))][:k]
        return list(zip([self.doc_ids[i] for i in top.tolist()], scores[top].tolist(), strict=True))

    @property
    def avgdl(self) -> float:
        """Average document length (Lucene's: unrounded lengths), a collection statistic the delta scores with."""
        return self._avgdl

    def term_idf(self, term: str) -> float:
        """BM25 idf of an analysed ``term`` in this index (a term it lacks: document frequency 0)."""
        if term in self._vocab:
            return float(self._idf[self._vocab[term]])
        n = len(self.doc_ids)
        return float(np.float32(np.log(1 + (n + 0.5) / 0.5)))

    def batch_search(
        self, queries: dict[str, str], k: int, params: Bm25Params | None = None, threads: int = 1,
        allowed: AllowedDocs | None = None,
    ) -> dict[str, list[tuple[str, float]]]:
        """Many queries, one after another (``threads`` is accepted for the Lucene signature; numpy is fast here)."""
        return {qid: self.search(text, k, params, allowed) for qid, text in queries.items()}
