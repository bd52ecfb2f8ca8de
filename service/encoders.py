"""Query encoders, loaded once per distinct spec and shared by every dense index built with that model."""

from __future__ import annotations

import logging
import threading

from indexers.dense import DenseIndex
from indexers.encoders import Encoder, EncoderSpec, build_encoder
from indexers.errors import IndexUnavailable

log = logging.getLogger(__name__)


class EncoderCache:
    """``for_index`` returns the encoder a dense index was built with, checking that it still matches."""

    def __init__(self, device: str | None = None) -> None:
        self._device = device
        self._encoders: dict[EncoderSpec, Encoder] = {}
        self._lock = threading.Lock()

    def get(self, spec: EncoderSpec) -> Encoder:
        with self._lock:
            if spec not in self._encoders:
                self._encoders[spec] = build_encoder(spec)
            return self._encoders[spec]

    def for_index(self, index: DenseIndex) -> Encoder:
        spec = EncoderSpec.model_validate(index.manifest.build["encoder"])
        encoder = self.get(spec)
        if encoder.dim != index.dim or encoder.revision != index.manifest.model_revision:
            raise IndexUnavailable(
                f"dense index {index.folder} was built with {index.manifest.model} "
                f"({index.manifest.model_revision}, {index.dim} dims) but the encoder now loads "
                f"{encoder.revision} ({encoder.dim} dims); rebuild the index"
            )
        return encoder
