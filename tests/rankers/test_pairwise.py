"""Pairwise ranking prompting: both strategies against an oracle (see ``llm_doubles``), and end to end with the real
packaged SmolLM2 through transformers."""

from __future__ import annotations

import pytest

from kernel.types import Hit
from rankers.llm.base import ChatLLM
from rankers.pairwise import PairwiseReranker
from rankers.specs import PairwiseSpec
from tests.rankers.llm_doubles import OracleLLM
from tests.rankers.test_listwise import graded


def test_allpairs_scores_by_share_of_wins() -> None:
    oracle = OracleLLM()
    report = PairwiseReranker(PairwiseSpec(strategy="allpairs"), llm=oracle).rerank_with_report(
        "q", graded([1, 3, 0, 2]))
    assert [h.id for h in report.hits] == ["d1", "d3", "d0", "d2"]
    assert [h.stage_scores["pairwise"] for h in report.hits] == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert report.counts == {"llm_calls": 12, "comparisons": 6}  # 4 * 3 / 2 pairs, both orders each
    assert oracle.calls == 12


def test_sliding_passes_settle_the_top() -> None:
    oracle = OracleLLM()
    grades = [2, 0, 1, 5, 3, 4]
    report = PairwiseReranker(PairwiseSpec(strategy="sliding", passes=2), llm=oracle).rerank_with_report(
        "q", graded(grades))
    assert [h.id for h in report.hits][:2] == ["d3", "d5"]  # the top 2 settled by 2 bubble passes
    assert report.counts["comparisons"] == 5 + 4


def test_position_bias_counts_as_inconsistent(smollm2: ChatLLM, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    head = candidates[:4]
    report = PairwiseReranker(PairwiseSpec(strategy="allpairs", max_passage_words=30), llm=smollm2
                              ).rerank_with_report(query, head)
    assert sorted(h.id for h in report.hits) == sorted(h.id for h in head)
    assert report.counts["comparisons"] == 6 and report.counts["llm_calls"] == 12
    scores = [h.stage_scores["pairwise"] for h in report.hits]
    assert sum(scores) == pytest.approx(len(head) / 2) and all(0 <= s <= 1 for s in scores)
    # Each inconsistent comparison gives both sides 0.5: the total is preserved either way.
    assert 0 <= report.counts.get("inconsistent", 0) <= 6


def test_sliding_with_smollm2(smollm2: ChatLLM, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    report = PairwiseReranker(PairwiseSpec(strategy="sliding", passes=1, max_passage_words=30), llm=smollm2
                              ).rerank_with_report(query, candidates[:5])
    assert sorted(h.id for h in report.hits) == sorted(h.id for h in candidates[:5])
    assert report.counts["comparisons"] == 4 and report.counts["llm_calls"] == 8
