"""Cross-encoder reranking: each (query, passage) pair through one sequence-classification model, optionally
blended with the first-stage score. The model runs on a ``PairModel`` backend (torch or ONNX Runtime, see
``rankers/pair_models.py``), loaded once per process and shared.

Nogueira & Cho, "Passage Re-ranking with BERT", 2019.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kernel.errors import InvalidInput
from kernel.types import Hit
from rankers.base import Reranker, RerankReport, assemble, split_head
from rankers.pair_models import Pair, PairModel, load_pair_model
from rankers.specs import CrossEncoderSpec

log = logging.getLogger(__name__)

RawScores = Sequence[float] | NDArray[np.float32]  # one model score per pair: a batcher's list or predict's array


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

    def scores(self, raw: RawScores) -> PairScores:
        return PairScores(np.asarray(raw, dtype=np.float32).reshape(-1), self.truncated, self.tokens)


class CrossEncoderReranker(Reranker):
    """Scores each candidate jointly with the query; optionally interpolates with the first-stage score.

    Args:
        spec: model, backend, batching, truncation policy, ``top_n`` and ``blend`` (see ``CrossEncoderSpec``).

    Raises:
        ModelUnavailable: the model cannot be found offline; the message says what to install.
    """

    stage = "cross_encoder"

    def __init__(self, spec: CrossEncoderSpec) -> None:
        self.spec = spec
        self.model: PairModel = load_pair_model(spec)
        self.revision = self.model.revision
        self.tokenizer = self.model.tokenizer
        self.name = (f"cross-encoder({spec.model}@{self.revision}, max_length={spec.max_length}, top_n={spec.top_n}, "
                     f"blend={spec.blend}/{spec.normalization})")

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
        ``spec.batch_size`` sorted by length (a batch pads to its longest pair). What a micro-batcher calls with
        pairs from several requests."""
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

    def finish(self, head: list[Hit], tail: list[Hit], scores: PairScores, top_k: int | None) -> RerankReport:
        """Blend, order and report: raw scores under ``cross_encoder``, final under ``rerank``."""
        out = assemble(head, tail, scores.scores.tolist(), stage=self.stage, blend=self.spec.blend,
                       normalization=self.spec.normalization, top_k=top_k)
        warnings: tuple[str, ...] = ()
        if scores.truncated:
            warnings = (f"{len(scores.truncated)} of {len(head)} passages were truncated to fit "
                        f"{self.spec.max_length} tokens with the query; their tails were not scored",)
            log.info("cross-encoder: %s", warnings[0])
        counts = {"pairs": len(head), "truncated": len(scores.truncated), "tokens": scores.tokens}
        return RerankReport(out, counts, warnings)

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None) -> RerankReport:
        """Rescore the first ``top_n`` hits (all by default); the rest follow in first-stage order. Counts:
        ``pairs``, ``truncated`` (pairs whose passage tail was cut), ``tokens``."""
        head, tail, passages = split_head(hits, self.spec.top_n)
        return self.finish(head, tail, self.score(query, passages), top_k)
