"""Text encoders behind one ``Encoder`` protocol; ``build_encoder`` picks the backend from a spec."""

from indexers.encoders.base import Encoder, EncoderSpec
from indexers.encoders.registry import build_encoder

__all__ = ["Encoder", "EncoderSpec", "build_encoder"]
