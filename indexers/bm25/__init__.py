"""Native BM25: Lucene-compatible analysis and scoring on numpy arrays, in process (no JVM)."""

from indexers.bm25.build import Bm25IndexSpec, build_bm25_index
from indexers.bm25.index import Bm25Index

__all__ = ["Bm25Index", "Bm25IndexSpec", "build_bm25_index"]
