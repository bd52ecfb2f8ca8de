"""Pairwise ranking prompting: the LLM compares two passages at a time, in both orders, by the logits of its
one-letter answer (A or B).

Qin et al., "Large Language Models are Effective Text Rankers with Pairwise Ranking Prompting", NAACL 2024
(PRP-Allpair and PRP-Sliding-K).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kernel.types import Hit
from rankers.base import Reranker, RerankReport, assemble, check_cancelled, rank_scores, split_head
from rankers.llm.base import ChatLLM
from rankers.llm.loader import load_llm
from rankers.llm.prompts import clean, pairwise_messages
from rankers.specs import PairwiseSpec, RerankCall

AB = ("A", "B")


class PairwiseReranker(Reranker):
    """``allpairs``: every pair compared, each candidate scored by its wins (1 per consistent win, 0.5 per
    inconsistent comparison). ``sliding``: ``passes`` bubble passes from the bottom up, swapping a pair only when the
    lower candidate wins in both orders.

    Args:
        spec: the LLM, strategy, passes, passage word budget, blending.
        llm: an already loaded chat model (default: ``load_llm(spec.llm)``).
    """

    stage = "pairwise"

    def __init__(self, spec: PairwiseSpec, llm: ChatLLM | None = None) -> None:
        self.spec = spec
        self.defaults = spec.call()
        self.llm = llm or load_llm(spec.llm)
        self.name = (f"pairwise({self.llm.name}, strategy={spec.strategy}, passes={spec.passes}, "
                     f"words={spec.max_passage_words})")

    def prefers(self, query: str, first: str, second: str, counts: Counter[str]) -> float:
        """How strongly ``first`` beats ``second``: 1 (both orders say so), 0 (both say the opposite), 0.5 (the
        two orders disagree: position bias, counted as ``inconsistent``)."""
        check_cancelled()
        ab = self.llm.label_logprobs(pairwise_messages(query, first, second), AB)
        check_cancelled()
        ba = self.llm.label_logprobs(pairwise_messages(query, second, first), AB)
        counts["llm_calls"] += 2
        counts["comparisons"] += 1
        wins = int(ab[0] > ab[1]) + int(ba[1] > ba[0])
        if wins == 1:
            counts["inconsistent"] += 1
        return wins / 2

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                           call: RerankCall | None = None) -> RerankReport:
        """Raw scores under ``pairwise``: the share of comparisons won (``allpairs``) or ``(n - rank) / n`` of the
        bubbled order (``sliding``). Counts: ``llm_calls``, ``comparisons``, ``inconsistent``."""
        call = call or self.defaults
        head, tail, passages = split_head(hits, call.top_n)
        special = self.llm.special_tokens
        words = self.spec.max_passage_words
        texts = [clean(p, max_words=words, special_tokens=special) for p in passages]
        q = clean(query, max_words=words, special_tokens=special)
        counts: Counter[str] = Counter()
        raw = (self._allpairs if self.spec.strategy == "allpairs" else self._sliding)(q, texts, counts)
        out = assemble(head, tail, raw, stage=self.stage, call=call, top_k=top_k)
        return RerankReport(out, dict(counts))

    def _allpairs(self, query: str, texts: list[str], counts: Counter[str]) -> list[float]:
        wins = [0.0] * len(texts)
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                s = self.prefers(query, texts[i], texts[j], counts)
                wins[i] += s
                wins[j] += 1 - s
        # Share of comparisons won, in [0, 1]; ties keep first-stage order (the sort in ``assemble`` is stable).
        return [w / max(1, len(texts) - 1) for w in wins]

    def _sliding(self, query: str, texts: list[str], counts: Counter[str]) -> list[float]:
        order = list(range(len(texts)))
        for settled in range(min(self.spec.passes, len(texts) - 1)):
            for pos in range(len(texts) - 2, settled - 1, -1):
                upper, lower = order[pos], order[pos + 1]
                if self.prefers(query, texts[lower], texts[upper], counts) == 1.0:
                    order[pos], order[pos + 1] = lower, upper
        return rank_scores(order, len(texts))
