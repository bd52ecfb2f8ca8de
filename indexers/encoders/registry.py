"""Backend name -> encoder class; the only place that knows which backends exist."""

from __future__ import annotations

from collections.abc import Callable

from indexers.encoders.base import Encoder, EncoderSpec
from kernel.errors import InvalidInput


def _torch(spec: EncoderSpec) -> Encoder:
    from indexers.encoders.st import SentenceTransformerEncoder

    return SentenceTransformerEncoder(spec)


def _onnx(spec: EncoderSpec) -> Encoder:
    from indexers.encoders.onnx import OnnxEncoder

    return OnnxEncoder(spec)


BACKENDS: dict[str, Callable[[EncoderSpec], Encoder]] = {"torch": _torch, "onnx": _onnx}


def build_encoder(spec: EncoderSpec) -> Encoder:
    """Load the encoder ``spec`` names (model files resolved offline first)."""
    try:
        factory = BACKENDS[spec.backend]
    except KeyError:
        raise InvalidInput(f"unknown encoder backend {spec.backend!r}; choose one of {sorted(BACKENDS)}") from None
    return factory(spec)
