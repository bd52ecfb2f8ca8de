"""Read side of a Lucene index: BM25 (k1, b per call) with optional RM3 pseudo-relevance feedback."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from indexers.filters import AllowedDocs
from indexers.lucene.filtered import filtered_search
from indexers.lucene.jvm import ensure_jvm
from indexers.manifest import IndexManifest
from kernel.errors import IndexUnavailable, InvalidInput

T = TypeVar("T")


class Bm25Params(BaseModel):
    """BM25 and RM3 settings for one search (Anserini defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k1: float = Field(0.9, gt=0, le=10)
    b: float = Field(0.4, ge=0, le=1)
    rm3: bool = False
    rm3_fb_terms: int = Field(10, ge=1, le=100)
    rm3_fb_docs: int = Field(10, ge=1, le=100)
    rm3_original_weight: float = Field(0.5, ge=0, le=1)


DEFAULT_PARAMS = Bm25Params()
# A query is one clause per distinct analysed term; Lucene's default cap (1024) refuses long queries with a Java
# exception. The service caps queries at 4,096 characters (at most ~2,048 terms), so this cap is never reached there.
MAX_CLAUSES = 8192
_clauses_set = False


def _raise_clause_cap() -> None:
    global _clauses_set
    if not _clauses_set:
        from jnius import autoclass

        autoclass("org.apache.lucene.search.IndexSearcher").setMaxClauseCount(MAX_CLAUSES)
        _clauses_set = True


def _configure(searcher: Any, params: Bm25Params) -> None:
    # Cheap in Anserini: a new BM25Similarity and IndexSearcher over the same open reader, a new reranker cascade.
    searcher.set_bm25(params.k1, params.b)
    if params.rm3:
        # Straight to Anserini: Pyserini's set_rm3 first probes document 0's term vectors through jnius, and that probe
        # came back empty now and then under concurrent requests (a 500 in 1 of 2,000); Sieve's Lucene builds always
        # store document vectors (-storeDocvectors, indexers/lucene/build.py).
        searcher.object.set_rm3(None, params.rm3_fb_terms, params.rm3_fb_docs, params.rm3_original_weight, False, True)
    else:
        searcher.unset_rm3()


class LuceneIndex:
    """One Lucene index folder.

    Pyserini keeps BM25/RM3 settings as searcher state. Default settings use one shared searcher (Lucene searchers
    are safe to call from many threads); any other settings borrow one of at most ``tunable`` more searchers, set
    it for the call, and hand it back. Memory stays bounded whatever settings requests send.
    """

    def __init__(self, folder: Path, tunable: int = 2) -> None:
        ensure_jvm()
        _raise_clause_cap()
        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != "sparse":
            raise IndexUnavailable(f"{folder} is a {self.manifest.kind} index, not sparse")
        self._default = self._open()
        self._free: queue.LifoQueue[tuple[Any, Bm25Params]] = queue.LifoQueue()
        self._opened: list[Any] = []
        self._tunable = max(1, tunable)
        self._lock = threading.Lock()
        self._reader: tuple[Any, int, float] | None = None  # index reader, docs, avgdl: the delta's statistics
        self._dfs: dict[str, int] = {}

    def _open(self) -> Any:
        from pyserini.search.lucene import LuceneSearcher

        searcher = LuceneSearcher(str(self.folder))
        _configure(searcher, DEFAULT_PARAMS)
        return searcher

    @contextmanager
    def _borrow(self, params: Bm25Params) -> Iterator[Any]:
        try:
            searcher, current = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                fresh = len(self._opened) < self._tunable
                if fresh:
                    self._opened.append(searcher := self._open())
            searcher, current = (searcher, DEFAULT_PARAMS) if fresh else self._free.get()
        try:
            if current != params:
                _configure(searcher, params)
            yield searcher
        finally:
            self._free.put((searcher, params))

    def _run(self, params: Bm25Params | None, call: Callable[[Any], T]) -> T:
        params = params or DEFAULT_PARAMS
        try:
            if params == DEFAULT_PARAMS:
                return call(self._default)
            with self._borrow(params) as searcher:
                return call(searcher)
        except Exception as exc:  # jnius.JavaException; the class is only importable once the JVM runs
            if "TooManyClauses" in str(exc):
                raise InvalidInput(f"query has more than {MAX_CLAUSES} distinct terms") from None
            raise

    def search(self, query: str, k: int, params: Bm25Params | None = None,
               allowed: AllowedDocs | None = None) -> list[tuple[str, float]]:
        """Top-``k`` ``(doc_id, score)`` for one query string (a bag of words: Lucene query syntax has no meaning);
        only ``allowed`` documents when a filter gives them (a Lucene FILTER clause: ``filtered.py``).

        Raises:
            InvalidInput: a filter with RM3 (Anserini's RM3 expands a query string, not a filtered Lucene query).
        """
        if allowed is None:
            hits = self._run(params, lambda s: s.search(query, k=k))
        elif params is not None and params.rm3:
            raise InvalidInput("filters do not combine with RM3 on a Lucene index; drop bm25.rm3 or the filter")
        elif not allowed.ids or k < 1:
            return []
        else:
            hits = self._run(params, lambda s: filtered_search(s, query, k, allowed))
        return [(h.docid, float(h.score)) for h in hits]

    def batch_search(
        self, queries: dict[str, str], k: int, params: Bm25Params | None = None, threads: int = 2,
        allowed: AllowedDocs | None = None,
    ) -> dict[str, list[tuple[str, float]]]:
        """Many queries at once on Java threads (used by evaluation); with a filter, one after another."""
        if allowed is not None:
            return {qid: self.search(text, k, params, allowed) for qid, text in queries.items()}
        ids = list(queries)
        results = self._run(params, lambda s: s.batch_search([queries[i] for i in ids], ids, k=k, threads=threads))
        return {qid: [(h.docid, float(h.score)) for h in results.get(qid, [])] for qid in ids}

    def _stats(self) -> tuple[Any, int, float]:
        """Pyserini's index reader, documents and average length (opened on first use: only the delta needs it)."""
        with self._lock:
            if self._reader is None:
                from pyserini.index.lucene import LuceneIndexReader

                reader = LuceneIndexReader(str(self.folder))
                stats = reader.stats()
                docs = int(stats["documents"])
                self._reader = (reader, docs, float(stats["total_terms"]) / max(docs, 1))
            return self._reader

    @property
    def avgdl(self) -> float:
        """Average document length (sumTotalTermFreq / docCount), the statistic BM25 normalises with."""
        return self._stats()[2]

    def term_idf(self, term: str) -> float:
        """Lucene's BM25 idf of an analysed ``term`` in this index (the delta segment scores with it)."""
        reader, docs, _ = self._stats()
        if term not in self._dfs:
            df, _ = reader.get_term_counts(term, analyzer=None)
            self._dfs[term] = int(df or 0)
        return float(np.float32(np.log(1 + (docs - self._dfs[term] + 0.5) / (self._dfs[term] + 0.5))))

    def close(self) -> None:
        """Close every searcher (their Lucene readers); the index is unusable afterwards."""
        with self._lock:
            for searcher in [self._default, *self._opened]:
                searcher.close()
            self._opened.clear()
