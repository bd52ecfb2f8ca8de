"""Sparse-encoder backend name -> class; the only place that knows which backends exist."""

from __future__ import annotations

from collections.abc import Callable

from indexers.sparse_encoders.base import SparseEncoder, SparseEncoderSpec
from kernel.errors import InvalidInput


def _torch(spec: SparseEncoderSpec) -> SparseEncoder:
    from indexers.sparse_encoders.splade import SpladeEncoder

    return SpladeEncoder(spec)


BACKENDS: dict[str, Callable[[SparseEncoderSpec], SparseEncoder]] = {"torch": _torch}


def build_sparse_encoder(spec: SparseEncoderSpec) -> SparseEncoder:
    """Load the sparse encoder ``spec`` names (model files resolved offline first)."""
    try:
        factory = BACKENDS[spec.backend]
    except KeyError:
        valid = sorted(BACKENDS)
        raise InvalidInput(f"unknown sparse encoder backend {spec.backend!r}; choose one of {valid}") from None
    return factory(spec)
