"""Read side of a Lucene index: BM25 (k1, b per call) with optional RM3 pseudo-relevance feedback."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from indexers.lucene.jvm import ensure_jvm
from indexers.manifest import IndexManifest
from kernel.errors import IndexUnavailable


class Bm25Params(BaseModel):
    """BM25 and RM3 settings for one search (Anserini defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k1: float = Field(0.9, gt=0, le=10)
    b: float = Field(0.4, ge=0, le=1)
    rm3: bool = False
    rm3_fb_terms: int = Field(10, ge=1, le=100)
    rm3_fb_docs: int = Field(10, ge=1, le=100)
    rm3_original_weight: float = Field(0.5, ge=0, le=1)


class LuceneIndex:
    """One Lucene index folder.

    Pyserini keeps BM25/RM3 settings as searcher state, so we keep one searcher per distinct setting
    instead of mutating a shared one; Lucene searchers themselves are safe to call from many threads.
    """

    def __init__(self, folder: Path) -> None:
        ensure_jvm()
        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != "sparse":
            raise IndexUnavailable(f"{folder} is a {self.manifest.kind} index, not sparse")
        self._searchers: dict[Bm25Params, Any] = {}
        self._lock = threading.Lock()
        self._searcher(Bm25Params())

    def _searcher(self, params: Bm25Params) -> Any:
        with self._lock:
            searcher = self._searchers.get(params)
            if searcher is None:
                from pyserini.search.lucene import LuceneSearcher

                searcher = LuceneSearcher(str(self.folder))
                searcher.set_bm25(params.k1, params.b)
                if params.rm3:
                    searcher.set_rm3(params.rm3_fb_terms, params.rm3_fb_docs, params.rm3_original_weight)
                self._searchers[params] = searcher
            return searcher

    def search(self, query: str, k: int, params: Bm25Params | None = None) -> list[tuple[str, float]]:
        """Top-``k`` ``(doc_id, score)`` for one query string."""
        hits = self._searcher(params or Bm25Params()).search(query, k=k)
        return [(h.docid, float(h.score)) for h in hits]

    def batch_search(
        self, queries: dict[str, str], k: int, params: Bm25Params | None = None, threads: int = 2
    ) -> dict[str, list[tuple[str, float]]]:
        """Many queries at once on Java threads (used by evaluation)."""
        ids = list(queries)
        results = self._searcher(params or Bm25Params()).batch_search(
            [queries[i] for i in ids], ids, k=k, threads=threads
        )
        return {qid: [(h.docid, float(h.score)) for h in results.get(qid, [])] for qid in ids}
