"""Listwise reranking with an LLM: RankGPT's sliding windows, ranked by a generated permutation or, FIRST-style,
by the first answer token's logits over the passage labels.

Sun et al., "Is ChatGPT Good at Search? Investigating Large Language Models as Re-Ranking Agents", EMNLP 2023;
Reddy et al., "FIRST: Faster Improved Listwise Reranking with Single Token Decoding", 2024.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence

from kernel.errors import InvalidInput
from kernel.types import Hit
from rankers.base import Reranker, RerankReport, assemble, check_cancelled, rank_scores, split_head
from rankers.llm.base import ChatLLM
from rankers.llm.loader import load_llm
from rankers.llm.prompts import clean, letter_labels, listwise_messages, number_labels
from rankers.permutation import parse_permutation
from rankers.specs import ListwiseSpec, RerankCall
from rankers.windows import apply_permutation, sliding_windows

log = logging.getLogger(__name__)

REPAIRS = ("duplicates", "out_of_range", "missing", "unparsable")


class ListwiseReranker(Reranker):
    """Reranks the first ``top_n`` candidates (all by default) in windows of ``window``, moving up by ``stride``.

    Args:
        spec: the LLM, the mode (``generate`` | ``first``), window, stride, passage word budget, blending.
        llm: an already loaded chat model (default: ``load_llm(spec.llm)``).

    Raises:
        InvalidInput: ``stride > window``, or a ``first`` window wider than its 26 single-letter labels.
        ModelUnavailable: a local model cannot be found offline.
    """

    stage = "listwise"

    def __init__(self, spec: ListwiseSpec, llm: ChatLLM | None = None) -> None:
        if spec.stride > spec.window:
            raise InvalidInput(f"stride {spec.stride} > window {spec.window} would leave candidates unranked")
        if spec.mode == "first" and spec.window > 26:
            raise InvalidInput(f"mode 'first' labels passages A..Z: window {spec.window} > 26")
        self.spec = spec
        self.defaults = spec.call()
        self.llm = llm or load_llm(spec.llm)
        self.name = (f"listwise({self.llm.name}, mode={spec.mode}, window={spec.window}, stride={spec.stride}, "
                     f"words={spec.max_passage_words})")

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                           call: RerankCall | None = None) -> RerankReport:
        """Each window, bottom first, is reordered by the LLM; the final order gives scores ``(n - rank) / n``
        (recorded under ``listwise``). Counts: ``llm_calls``, and in ``generate`` mode each kind of repair the
        parser made; in ``first`` mode, ``unscored_labels`` (labels the backend gave no log-probability)."""
        call = call or self.defaults
        head, tail, passages = split_head(hits, call.top_n)
        special = self.llm.special_tokens
        words = self.spec.max_passage_words
        texts = [clean(p, max_words=words, special_tokens=special) for p in passages]
        q = clean(query, max_words=words, special_tokens=special)
        order = list(range(len(head)))
        counts: Counter[str] = Counter()
        for start, end in sliding_windows(len(head), self.spec.window, self.spec.stride):
            check_cancelled()
            window = [texts[i] for i in order[start:end]]
            perm = self._rank(q, window, counts) if len(window) > 1 else [0]
            apply_permutation(order, start, end, perm)
        raw = rank_scores(order, len(head))
        out = assemble(head, tail, raw, stage=self.stage, call=call, top_k=top_k)
        warnings: tuple[str, ...] = ()
        if repaired := sum(counts[k] for k in REPAIRS):
            warnings = (f"the LLM's rankings needed {repaired} repairs over {counts['llm_calls']} windows "
                        f"({', '.join(f'{k} {counts[k]}' for k in REPAIRS if counts[k])})",)
            log.info("listwise: %s", warnings[0])
        return RerankReport(out, dict(counts), warnings)

    def _rank(self, query: str, window: list[str], counts: Counter[str]) -> list[int]:
        counts["llm_calls"] += 1
        if self.spec.mode == "first":
            labels = letter_labels(len(window))
            logprobs = self.llm.label_logprobs(listwise_messages(query, window, labels), labels)
            counts["unscored_labels"] += sum(1 for lp in logprobs if lp == -math.inf)
            return sorted(range(len(window)), key=lambda i: (-logprobs[i], i))
        labels = number_labels(len(window))
        # "[12] > " is at most 5 tokens: a complete answer fits, and a model that rambles is cut off early.
        budget = min(self.spec.llm.max_new_tokens, 5 * len(window) + 8)
        answer = self.llm.complete(listwise_messages(query, window, labels), max_tokens=budget)
        parsed = parse_permutation(answer, len(window))
        for kind in REPAIRS:
            counts[kind] += int(getattr(parsed, kind))
        return parsed.order
