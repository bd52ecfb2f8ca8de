"""Specs -> live rerankers: ``build_reranker`` builds one, a ``RerankerPool`` holds those a host serves and the
models under them, for as long as the host runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from rankers.base import Reranker
from rankers.llm.base import ChatLLM
from rankers.llm.loader import load_llm
from rankers.pair_models import PairModel, load_pair_model, model_key
from rankers.scoring import Scoring, ThreadScoring
from rankers.specs import AnySpec, CrossEncoderSpec, LLMSpec, RerankerSpec


def _cross_encoder(spec: Any, pool: RerankerPool) -> Reranker:
    from rankers.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(spec, pool.pair_model(spec), scoring=pool.scoring)


def _listwise(spec: Any, pool: RerankerPool) -> Reranker:
    from rankers.listwise import ListwiseReranker

    return ListwiseReranker(spec, pool.llm(spec.llm))


def _pairwise(spec: Any, pool: RerankerPool) -> Reranker:
    from rankers.pairwise import PairwiseReranker

    return PairwiseReranker(spec, pool.llm(spec.llm))


BUILDERS: dict[str, Callable[[Any, RerankerPool], Reranker]] = {
    "cross-encoder": _cross_encoder,
    "listwise": _listwise,
    "pairwise": _pairwise,
}
SPEC = TypeAdapter(RerankerSpec)


def parse_spec(value: object) -> AnySpec:
    """A spec from a dict (or JSON-like object); a dict without ``kind`` is a cross-encoder."""
    return SPEC.validate_python(value)  # type: ignore[no-any-return]


def build_reranker(spec: AnySpec) -> Reranker:
    """A new reranker for ``spec`` (its calls default to the spec's ``top_n`` and ``blend``), with its own models.

    Raises:
        ModelUnavailable: the model cannot be found offline.
        InvalidInput: the spec cannot work (e.g. a listwise stride wider than its window).
    """
    return BUILDERS[spec.kind](spec, RerankerPool())


class RerankerPool:
    """The live rerankers a host serves and the models under them, built on first use and held until ``close``.

    One reranker per spec without its call options: requests that differ only in ``top_n``, ``blend`` or
    ``normalization`` share it (they pass a ``RerankCall``), so the pool grows with the served specs, never with
    what requests send. One loaded model per model key, shared by every reranker over it.

    Args:
        scoring: where the built rerankers run their async steps (default: asyncio's thread pool, no batching).
    """

    def __init__(self, scoring: Scoring | None = None) -> None:
        self.scoring: Scoring = scoring or ThreadScoring()
        self._rerankers: dict[AnySpec, Reranker] = {}
        self._pair_models: dict[tuple[str, ...], PairModel] = {}
        self._llms: dict[LLMSpec, ChatLLM] = {}
        self._lock = threading.RLock()  # building a reranker loads its model under the same lock

    def reranker(self, spec: AnySpec) -> Reranker:
        """The live reranker for ``spec`` (whatever its call options; pass them per call).

        Raises:
            ModelUnavailable: the model cannot be found offline.
            InvalidInput: the spec cannot work (e.g. a listwise stride wider than its window).
        """
        key = spec.model_part()
        with self._lock:
            if key not in self._rerankers:
                self._rerankers[key] = BUILDERS[key.kind](key, self)
            return self._rerankers[key]

    def pair_model(self, spec: CrossEncoderSpec) -> PairModel:
        """The loaded cross-encoder model for ``spec``, shared by every spec with the same model key."""
        key = model_key(spec)
        with self._lock:
            if key not in self._pair_models:
                self._pair_models[key] = load_pair_model(spec)
            return self._pair_models[key]

    def llm(self, spec: LLMSpec) -> ChatLLM:
        """The loaded chat model for ``spec``, shared by every reranker over it."""
        with self._lock:
            if spec not in self._llms:
                self._llms[spec] = load_llm(spec)
            return self._llms[spec]

    def sizes(self) -> dict[str, int]:
        """How many rerankers, pair models and chat models the pool holds."""
        with self._lock:
            return {"rerankers": len(self._rerankers), "pair_models": len(self._pair_models),
                    "llms": len(self._llms)}

    def close(self) -> None:
        """Let go of every reranker and model (endpoint clients close their connections)."""
        with self._lock:
            llms = list(self._llms.values())
            self._rerankers.clear()
            self._pair_models.clear()
            self._llms.clear()
        for llm in llms:
            if (close := getattr(llm, "close", None)) is not None:
                close()
