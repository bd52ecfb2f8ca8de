"""Fixtures of the indexer tests: the int8 ONNX MiniLM that the live-change tests encode with, loaded once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from indexers.encoders import Encoder, EncoderSpec, build_encoder

ENCODER = EncoderSpec(backend="onnx")


@pytest.fixture(scope="session")
def encoder_for() -> Callable[[EncoderSpec], Encoder]:
    """``encoder_for`` for ``apply_changes`` and the live writes: every spec gets the one loaded ``ENCODER``."""
    encoder = build_encoder(ENCODER)
    return lambda spec: encoder
