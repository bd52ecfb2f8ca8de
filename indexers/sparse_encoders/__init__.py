"""Learned sparse (SPLADE-style) encoders: text -> term weights, as ``SparseVectors`` rows."""

from indexers.sparse_encoders.base import DEFAULT_SPARSE_MODEL, SparseEncoder, SparseEncoderSpec
from indexers.sparse_encoders.registry import build_sparse_encoder
from indexers.sparse_encoders.vectors import IMPACT_SCALE, SparseVectors

__all__ = [
    "DEFAULT_SPARSE_MODEL",
    "IMPACT_SCALE",
    "SparseEncoder",
    "SparseEncoderSpec",
    "SparseVectors",
    "build_sparse_encoder",
]
