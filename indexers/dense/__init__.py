"""FAISS dense indexes: ``build_dense_index`` writes one, ``DenseIndex`` reads and searches it."""

from indexers.dense.build import DenseIndexSpec, build_dense_index
from indexers.dense.index import DenseIndex

__all__ = ["DenseIndex", "DenseIndexSpec", "build_dense_index"]
