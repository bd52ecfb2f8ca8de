"""Lucene impact indexes of learned sparse vectors (Anserini through Pyserini): the reproducible reference."""

from indexers.impact.build import ImpactIndexSpec
from indexers.impact.index import ImpactIndex, ImpactSearchOptions

__all__ = ["ImpactIndex", "ImpactIndexSpec", "ImpactSearchOptions"]
