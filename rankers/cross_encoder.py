"""Cross-encoder reranking: each (query, passage) pair through one sequence-classification model (sentence-transformers
``CrossEncoder``), optionally blended with the first-stage score. Models load once per process and are shared.

Nogueira & Cho, "Passage Re-ranking with BERT", 2019.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.errors import InvalidInput
from indexers.model_resolver import resolve_model
from indexers.types import Hit
from rankers.base import Reranker
from rankers.fusion import normalize
from rankers.specs import Normalization, RerankerSpec

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str, int, str], Any] = {}
_LOCK = threading.Lock()


def _device(requested: str | None) -> str:
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_cross_encoder(model: str, max_length: int, device: str | None = None) -> tuple[Any, str]:
    """The process-wide ``CrossEncoder`` for ``model`` (a Hugging Face id or a path) and its revision.

    Raises:
        ModelUnavailable: the model is not a path, a packaged copy or in the Hugging Face cache.
    """
    from sentence_transformers.cross_encoder import CrossEncoder

    resolved = resolve_model(model)
    key = (str(resolved.path), resolved.revision, max_length, _device(device))
    with _LOCK:
        if key not in _MODELS:
            log.info("loading cross-encoder %s (%s) on %s", model, resolved.revision, key[3])
            # Raw logits out: a sigmoid would squash strong scores together; callers map them as their API needs.
            _MODELS[key] = CrossEncoder(str(resolved.path), num_labels=1, max_length=max_length, device=key[3],
                                        activation_fn=_identity())
        return _MODELS[key], resolved.revision


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


def blend_scores(raw: Sequence[float], first: Sequence[float], weight: float,
                 normalization: Normalization = "minmax") -> NDArray[np.float64]:
    """``(1 - weight) * norm(raw) + weight * norm(first)`` over one candidate list; ``weight`` 0 returns ``raw``."""
    if weight <= 0:
        return np.asarray(raw, dtype=np.float64)
    return (1 - weight) * normalize(raw, normalization) + weight * normalize(first, normalization)


@dataclass(frozen=True)
class PairScores:
    """Raw model scores, one per passage, which passages were cut to fit ``max_length``, and tokens scored."""

    scores: NDArray[np.float32]
    truncated: tuple[int, ...]
    tokens: int = 0


@dataclass(frozen=True)
class Reranked:
    """Reranked hits, and how many of the scored pairs were truncated (their passage tail was not seen)."""

    hits: list[Hit]
    truncated: int
    max_length: int


class CrossEncoderReranker(Reranker):
    """Scores each candidate jointly with the query; optionally interpolates with the first-stage score.

    Args:
        spec: model, batching, truncation policy, ``top_n`` and ``blend`` (see ``RerankerSpec``).

    Raises:
        ModelUnavailable: the model cannot be found offline; the message says what to install.
    """

    name = "cross-encoder"

    def __init__(self, spec: RerankerSpec) -> None:
        self.spec = spec
        self.model, self.revision = load_cross_encoder(spec.model, spec.max_length, spec.device)
        self.tokenizer = self.model.tokenizer
        # Names what changes the scores: the service keys its result cache by it.
        self.name = (f"cross-encoder({spec.model}@{self.revision}, max_length={spec.max_length}, top_n={spec.top_n}, "
                     f"blend={spec.blend}/{spec.normalization})")

    def _lengths(self, query: str, passages: Sequence[str]) -> NDArray[np.int64]:
        # Lengths before truncation, to report (or refuse) pairs that will not fit.
        encoded = self.tokenizer([query] * len(passages), list(passages), truncation=False, verbose=False)
        return np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)

    def score(self, query: str, passages: Sequence[str]) -> PairScores:
        """Raw scores of ``query`` against each passage (batched, shortest first to cut padding).

        Raises:
            InvalidInput: with ``truncation="error"``, some pairs are longer than ``max_length`` (names them).
        """
        if not passages:
            return PairScores(np.zeros(0, dtype=np.float32), (), 0)
        lengths = self._lengths(query, passages)
        over = tuple(int(i) for i in np.flatnonzero(lengths > self.spec.max_length))
        if over and self.spec.truncation == "error":
            raise InvalidInput(f"{len(over)} passages do not fit {self.spec.max_length} tokens with the query "
                               f"(indexes {list(over[:20])}); shorten them or use truncation='truncate'")
        order = np.argsort(lengths, kind="stable")
        pairs = [(query, passages[i]) for i in order]
        raw = self.model.predict(pairs, batch_size=self.spec.batch_size, show_progress_bar=False,
                                 convert_to_numpy=True)
        scores = np.empty(len(passages), dtype=np.float32)
        scores[order] = np.asarray(raw, dtype=np.float32).reshape(-1)
        return PairScores(scores, over, int(np.minimum(lengths, self.spec.max_length).sum()))

    def _final(self, raw: NDArray[np.float32], first: Sequence[float]) -> NDArray[np.float64]:
        return blend_scores(raw.tolist(), first, self.spec.blend, self.spec.normalization)

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None) -> Reranked:
        """``rerank``, plus how many pairs were truncated.

        Each rescored hit records ``stage_scores["cross_encoder"]`` (raw) and ``stage_scores["rerank"]`` (final).
        Hits past ``top_n`` are not rescored and follow the rescored ones in their first-stage order.
        """
        head = list(hits[: self.spec.top_n] if self.spec.top_n else hits)
        tail = list(hits[len(head):])
        passages = [f"{h.title} {h.text}".strip() if h.title else h.text for h in head]
        if empty := [h.id for h, p in zip(head, passages, strict=True) if not p.strip()]:
            raise InvalidInput(f"hits without text cannot be reranked: {empty[:10]}; fetch texts first")
        pair_scores = self.score(query, passages)
        final = self._final(pair_scores.scores, [h.score for h in head])
        rescored = [h.with_score(float(r), "cross_encoder").with_score(float(f), "rerank")
                    for h, r, f in zip(head, pair_scores.scores, final, strict=True)]
        rescored.sort(key=lambda h: -h.score)
        if tail and rescored:
            # Keep the unscored tail below every rescored hit while preserving its order.
            floor = rescored[-1].score
            tail = [h.with_score(floor - 1.0 - i, "rerank") for i, h in enumerate(tail)]
        out = (rescored + tail)[:top_k] if top_k is not None else rescored + tail
        if pair_scores.truncated:
            log.info("cross-encoder: %d of %d pairs truncated to %d tokens", len(pair_scores.truncated),
                     len(passages), self.spec.max_length)
        return Reranked(out, len(pair_scores.truncated), self.spec.max_length)

    def rerank(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None) -> list[Hit]:
        """Rescore ``hits`` against ``query``; best first (see ``rerank_with_report``)."""
        return self.rerank_with_report(query, hits, top_k=top_k).hits
