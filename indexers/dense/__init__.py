"""FAISS dense indexes: ``build_dense_index`` writes one, ``DenseIndex`` reads and searches it with
``DenseSearchOptions``."""

from indexers.dense.build import DenseIndexSpec, build_dense_index
from indexers.dense.index import DenseIndex
from indexers.dense.options import DenseSearchOptions

__all__ = ["DenseIndex", "DenseIndexSpec", "DenseSearchOptions", "build_dense_index"]
