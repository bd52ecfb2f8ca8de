"""The reranker contract: a query and candidates in, the same candidates rescored and reordered out, plus what
happened on the way (pairs truncated, LLM answers repaired) so callers can report it instead of hiding it."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kernel.errors import InvalidInput
from kernel.types import Hit
from rankers.fusion import Normalization, normalize
from rankers.specs import RerankCall

_CANCEL: ContextVar[threading.Event | None] = ContextVar("sieve_rerank_cancel", default=None)


class RerankCancelled(Exception):
    """The awaiting caller left (a deadline, a dropped connection): stop before the next model call."""


def check_cancelled() -> None:
    """Raise ``RerankCancelled`` if the request this rerank runs for has been cancelled. Rerankers that make many
    model calls (LLM windows, pairwise comparisons) call it between calls, so an abandoned rerank stops early
    instead of holding a worker thread to the end."""
    event = _CANCEL.get()
    if event is not None and event.is_set():
        raise RerankCancelled


@dataclass(frozen=True)
class RerankReport:
    """Reranked hits (best first), counters of what the reranker did, and warnings meant for the caller."""

    hits: list[Hit]
    counts: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentScores:
    """Stand-alone documents scored (in the order given): ``relevance`` in [0, 1], higher is better (a
    cross-encoder's sigmoid, an LLM reranker's rank score), and the reranker's ``raw`` score."""

    relevance: list[float]
    raw: list[float]
    tokens: int = 0
    warnings: tuple[str, ...] = ()


class Reranker(ABC):
    """Every reranking backend implements ``rerank_with_report``; async callers use ``arerank_with_report``.

    ``name`` names everything in the reranker that changes its raw scores; a call's ``RerankCall`` (``top_n``,
    ``blend``) says how they are used, so the service keys its result cache by both. ``defaults`` are the call
    options of calls that send none (the spec's own). ``stage`` is the key each hit's raw score is recorded under
    in ``stage_scores``.
    """

    name: str = "reranker"
    stage: str = "rerank"
    defaults: RerankCall = RerankCall()

    @abstractmethod
    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                           call: RerankCall | None = None) -> RerankReport:
        """Score ``hits`` against ``query``; each rescored hit records its raw score under the reranker's stage
        name and its final (possibly blended) score under ``rerank``."""

    def rerank(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
               call: RerankCall | None = None) -> list[Hit]:
        """The hits of ``rerank_with_report``, best first."""
        return self.rerank_with_report(query, hits, top_k=top_k, call=call).hits

    async def arerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                                  call: RerankCall | None = None) -> RerankReport:
        """Default: run ``rerank_with_report`` in a worker thread so the event loop never blocks. If the caller is
        cancelled, the thread sees it at its next ``check_cancelled``."""
        event = threading.Event()
        token = _CANCEL.set(event)  # asyncio.to_thread copies this context into the worker thread
        try:
            return await asyncio.to_thread(self.rerank_with_report, query, hits, top_k=top_k, call=call)
        except asyncio.CancelledError:
            event.set()
            raise
        finally:
            _CANCEL.reset(token)

    async def arerank(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                      call: RerankCall | None = None) -> list[Hit]:
        return (await self.arerank_with_report(query, hits, top_k=top_k, call=call)).hits

    async def ascore_documents(self, query: str, texts: Sequence[str], *, call: RerankCall | None = None
                               ) -> DocumentScores:
        """Score stand-alone documents (no first stage). Default: rank them, in the order given, and report each
        one's final score as both relevance and raw score."""
        hits = [Hit(str(i), 0.0, text=t) for i, t in enumerate(texts)]
        report = await self.arerank_with_report(query, hits, call=call)
        by_index = {int(h.id): h.score for h in report.hits}
        scores = [by_index[i] for i in range(len(texts))]
        return DocumentScores(scores, scores, 0, report.warnings)


def passage(hit: Hit) -> str:
    """The text a reranker reads for a hit: title and body, as the first stage indexed them."""
    return f"{hit.title} {hit.text}".strip() if hit.title else hit.text


def split_head(hits: Sequence[Hit], top_n: int | None) -> tuple[list[Hit], list[Hit], list[str]]:
    """The candidates to rescore (the first ``top_n``), the rest, and the head's passages.

    Raises:
        InvalidInput: a head hit has no text (the first stage was asked for ids only).
    """
    head = list(hits[:top_n] if top_n else hits)
    passages = [passage(h) for h in head]
    if empty := [h.id for h, p in zip(head, passages, strict=True) if not p.strip()]:
        raise InvalidInput(f"hits without text cannot be reranked: {empty[:10]}; fetch texts first")
    return head, list(hits[len(head):]), passages


def blend_scores(raw: Sequence[float], first: Sequence[float], weight: float,
                 normalization: Normalization = "minmax") -> NDArray[np.float64]:
    """``(1 - weight) * norm(raw) + weight * norm(first)`` over one candidate list; ``weight`` 0 returns ``raw``."""
    if weight <= 0:
        return np.asarray(raw, dtype=np.float64)
    return (1 - weight) * normalize(raw, normalization) + weight * normalize(first, normalization)


def assemble(head: list[Hit], tail: list[Hit], raw: Sequence[float], *, stage: str, call: RerankCall,
             top_k: int | None) -> list[Hit]:
    """Rescored head (raw score under ``stage``, final under ``rerank``, blended as ``call`` says), best first, then
    the unscored tail below every rescored hit in its first-stage order; cut to ``top_k``."""
    final = blend_scores(raw, [h.score for h in head], call.blend, call.normalization)
    rescored = [h.with_score(float(r), stage).with_score(float(f), "rerank")
                for h, r, f in zip(head, raw, final, strict=True)]
    rescored.sort(key=lambda h: -h.score)
    if tail and rescored:
        floor = rescored[-1].score
        tail = [h.with_score(floor - 1.0 - i, "rerank") for i, h in enumerate(tail)]
    out = rescored + tail
    return out[:top_k] if top_k is not None else out


def rank_scores(order: Sequence[int], n: int) -> list[float]:
    """Scores in (0, 1] that reproduce a ranking: candidate ``order[i]`` gets ``(n - i) / n``. What rerankers that
    output an order rather than scores (listwise, pairwise sliding) record, so blending and sorting still work."""
    scores = [0.0] * n
    for rank, idx in enumerate(order):
        scores[idx] = (n - rank) / n
    return scores
