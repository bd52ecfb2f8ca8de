"""Seismic indexes of learned sparse vectors (``pyseismic-lsr``, the ``seismic`` extra), imported lazily."""

from indexers.seismic.index import SeismicSparseIndex
from indexers.seismic.spec import SeismicIndexSpec, SeismicSearchOptions

__all__ = ["SeismicIndexSpec", "SeismicSearchOptions", "SeismicSparseIndex"]
