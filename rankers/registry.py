"""Specs -> live rerankers, built once per distinct spec (the model itself is shared across specs)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from indexers.errors import InvalidInput
from rankers.base import Reranker
from rankers.specs import RerankerSpec


def _cross_encoder(spec: RerankerSpec) -> Reranker:
    from rankers.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(spec)


BUILDERS: dict[str, Callable[[RerankerSpec], Reranker]] = {"cross-encoder": _cross_encoder}

_BUILT: dict[RerankerSpec, Reranker] = {}
_LOCK = threading.Lock()


def build_reranker(spec: RerankerSpec) -> Reranker:
    """The reranker ``spec`` describes; the same object for equal specs.

    Raises:
        InvalidInput: unknown ``kind`` (names the known ones).
        ModelUnavailable: the model cannot be found offline.
    """
    builder = BUILDERS.get(spec.kind)
    if builder is None:
        raise InvalidInput(f"unknown reranker kind {spec.kind!r}; known: {sorted(BUILDERS)}")
    with _LOCK:
        if spec not in _BUILT:
            _BUILT[spec] = builder(spec)
        return _BUILT[spec]
