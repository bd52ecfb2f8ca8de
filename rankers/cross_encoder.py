"""Cross-encoder reranking: each (query, passage) pair through one sequence-classification model, optionally
blended with the first-stage score. The model runs on a ``PairModel`` backend (torch or ONNX Runtime, see
``rankers/pair_models.py``); a ``RerankerPool`` shares one loaded model between the rerankers over it.

Nogueira & Cho, "Passage Re-ranking with BERT", 2019.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kernel.errors import InvalidInput
from kernel.types import Hit
from rankers.base import DocumentScores, Reranker, RerankReport, assemble, split_head
from rankers.pair_models import Pair, PairModel, load_pair_model
from rankers.scoring import Scoring, ThreadScoring
from rankers.specs import CrossEncoderSpec, RerankCall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairScores:
    """Raw model scores, one per passage, which passages were cut to fit ``max_length``, and tokens scored."""

    scores: NDArray[np.float32]
    truncated: tuple[int, ...]
    tokens: int = 0


@dataclass(frozen=True)
class PairPlan:
    """The pairs one query sends to the model (in passage order), which were cut to fit, and tokens scored."""

    pairs: list[Pair]
    truncated: tuple[int, ...]
    tokens: int

    def scores(self, raw: Sequence[float]) -> PairScores:
        return PairScores(np.asarray(raw, dtype=np.float32).reshape(-1), self.truncated, self.tokens)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class CrossEncoderReranker(Reranker):
    """Scores each candidate jointly with the query; optionally interpolates with the first-stage score.

    Each rerank plans its pairs (length check), scores them and finishes (blend, order, report). Synchronous calls
    score in the calling thread; async calls run their steps through ``scoring``, which may score the pairs of
    concurrent requests together.

    Args:
        spec: model, backend, batching, truncation policy, and the default ``top_n`` and ``blend``.
        model: an already loaded pair model (default: ``load_pair_model(spec)``).
        scoring: where async calls run (default: asyncio's thread pool, no batching across calls).

    Raises:
        ModelUnavailable: the model cannot be found offline; the message says what to install.
    """

    stage = "cross_encoder"

    def __init__(self, spec: CrossEncoderSpec, model: PairModel | None = None, *,
                 scoring: Scoring | None = None) -> None:
        self.spec = spec
        self.defaults = spec.call()
        self.model: PairModel = model or load_pair_model(spec)
        self.revision = self.model.revision
        self.tokenizer = self.model.tokenizer
        self.name = f"cross-encoder({spec.model}@{self.revision}, max_length={spec.max_length})"
        self._scoring = scoring or ThreadScoring()
        self._score_pairs = self._scoring.batched(f"rerank:{spec.backend}:{spec.model}",
                                                  lambda pairs: self.predict(pairs).tolist())

    def plan(self, query: str, passages: Sequence[str]) -> PairPlan:
        """Measure each pair before truncation and refuse or count the ones over ``max_length``.

        Raises:
            InvalidInput: with ``truncation="error"``, some pairs are longer than ``max_length`` (names them).
        """
        if not passages:
            return PairPlan([], (), 0)
        encoded = self.tokenizer([query] * len(passages), list(passages), truncation=False, verbose=False)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)
        over = tuple(int(i) for i in np.flatnonzero(lengths > self.spec.max_length))
        if over and self.spec.truncation == "error":
            raise InvalidInput(f"{len(over)} passages do not fit {self.spec.max_length} tokens with the query "
                               f"(indexes {list(over[:20])}); shorten them or use truncation='truncate'")
        return PairPlan([(query, p) for p in passages], over, int(np.minimum(lengths, self.spec.max_length).sum()))

    def predict(self, pairs: Sequence[Pair]) -> NDArray[np.float32]:
        """Raw logits for ``pairs``, in their order, from one model call: the pairs go through in batches of
        ``spec.batch_size`` sorted by length (a batch pads to its longest pair)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        order = np.argsort([len(q) + len(p) for q, p in pairs], kind="stable")
        raw = self.model.predict([pairs[i] for i in order], self.spec.batch_size)
        scores = np.empty(len(pairs), dtype=np.float32)
        scores[order] = raw
        return scores

    def score(self, query: str, passages: Sequence[str]) -> PairScores:
        """Raw scores of ``query`` against each passage, in passage order (see ``plan`` for what can be raised)."""
        plan = self.plan(query, passages)
        return plan.scores(self.predict(plan.pairs))

    async def ascore(self, query: str, passages: Sequence[str]) -> PairScores:
        """``score`` off the event loop; the pairs may share model calls with other requests' pairs."""
        plan = await self._scoring.run(lambda: self.plan(query, passages))
        return plan.scores(await self._score_pairs(plan.pairs))

    def finish(self, head: list[Hit], tail: list[Hit], scores: PairScores, top_k: int | None,
               call: RerankCall) -> RerankReport:
        """Blend, order and report: raw scores under ``cross_encoder``, final under ``rerank``."""
        out = assemble(head, tail, scores.scores.tolist(), stage=self.stage, call=call, top_k=top_k)
        warnings: tuple[str, ...] = ()
        if scores.truncated:
            warnings = (f"{len(scores.truncated)} of {len(head)} passages were truncated to fit "
                        f"{self.spec.max_length} tokens with the query; their tails were not scored",)
            log.info("cross-encoder: %s", warnings[0])
        counts = {"pairs": len(head), "truncated": len(scores.truncated), "tokens": scores.tokens}
        return RerankReport(out, counts, warnings)

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                           call: RerankCall | None = None) -> RerankReport:
        """Rescore the call's first ``top_n`` hits (all by default); the rest follow in first-stage order. Counts:
        ``pairs``, ``truncated`` (pairs whose passage tail was cut), ``tokens``."""
        call = call or self.defaults
        head, tail, passages = split_head(hits, call.top_n)
        scores = self.score(query, passages)
        return self.finish(head, tail, scores, top_k, call)

    async def arerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                                  call: RerankCall | None = None) -> RerankReport:
        call = call or self.defaults
        head, tail, passages = split_head(hits, call.top_n)
        scores = await self.ascore(query, passages)
        return self.finish(head, tail, scores, top_k, call)

    async def ascore_documents(self, query: str, texts: Sequence[str], *, call: RerankCall | None = None
                               ) -> DocumentScores:
        """A logit per document (``raw``) and its sigmoid (``relevance``); the call's options do not apply."""
        scores = await self.ascore(query, texts)
        raw = [float(s) for s in scores.scores]
        warnings: tuple[str, ...] = ()
        if scores.truncated:
            warnings = (f"{len(scores.truncated)} of {len(texts)} documents were truncated to fit "
                        f"{self.spec.max_length} tokens with the query (indexes {list(scores.truncated[:20])}); "
                        "their tails were not scored",)
        return DocumentScores([_sigmoid(r) for r in raw], raw, scores.tokens, warnings)
