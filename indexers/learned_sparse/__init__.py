"""Learned sparse indexes: the shared build spec, the forward store and exact scoring (the backends live in
``indexers/impact`` and ``indexers/seismic``; ``indexers/learned_sparse_backends.py`` picks one)."""

from indexers.learned_sparse.exact import ExactIndexSpec, ExactSearchOptions, ExactSparseIndex
from indexers.learned_sparse.spec import KIND, SparseBuildSpec
from indexers.learned_sparse.store import ForwardStore

__all__ = [
    "KIND",
    "ExactIndexSpec",
    "ExactSearchOptions",
    "ExactSparseIndex",
    "ForwardStore",
    "SparseBuildSpec",
]
