"""Lucene inverted indexes through Pyserini: ``build_lucene_index`` and the ``LuceneIndex`` reader."""

from indexers.lucene.build import LuceneIndexSpec, build_lucene_index
from indexers.lucene.index import Bm25Params, LuceneIndex

__all__ = ["Bm25Params", "LuceneIndex", "LuceneIndexSpec", "build_lucene_index"]
