"""Specs -> live rerankers, built once per distinct spec (models themselves are shared across specs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from rankers.base import Reranker
from rankers.specs import AnySpec, RerankerSpec


def _cross_encoder(spec: Any) -> Reranker:
    from rankers.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(spec)


def _listwise(spec: Any) -> Reranker:
    from rankers.listwise import ListwiseReranker

    return ListwiseReranker(spec)


def _pairwise(spec: Any) -> Reranker:
    from rankers.pairwise import PairwiseReranker

    return PairwiseReranker(spec)


BUILDERS: dict[str, Callable[[Any], Reranker]] = {
    "cross-encoder": _cross_encoder,
    "listwise": _listwise,
    "pairwise": _pairwise,
}
SPEC = TypeAdapter(RerankerSpec)

_BUILT: dict[AnySpec, Reranker] = {}
_LOCK = threading.Lock()


def parse_spec(value: object) -> AnySpec:
    """A spec from a dict (or JSON-like object); a dict without ``kind`` is a cross-encoder."""
    return SPEC.validate_python(value)


def build_reranker(spec: AnySpec) -> Reranker:
    """The reranker ``spec`` describes; the same object for equal specs.

    Raises:
        ModelUnavailable: the model cannot be found offline.
        InvalidInput: the spec cannot work (e.g. a listwise stride wider than its window).
    """
    with _LOCK:
        if spec not in _BUILT:
            _BUILT[spec] = BUILDERS[spec.kind](spec)
        return _BUILT[spec]
