"""Metrics against hand-computed values, BEIR's identical-id rule, and TREC run files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evaluation.metrics import evaluate, top
from evaluation.runfile import read_trec_run, write_trec_run

QRELS = {"q1": {"d1": 1, "d3": 2}, "q2": {"d9": 1}}


def test_hand_computed_ndcg_recall_mrr() -> None:
    run = {"q1": {"d2": 3.0, "d1": 2.0, "d3": 1.0}, "q2": {"d9": 5.0}}
    m = evaluate(QRELS, run)
    # q1: gains at ranks 2,3 = 1,2 (trec_eval uses linear gain): dcg = 1/log2(3) + 2/log2(4); idcg = 2 + 1/log2(3)
    dcg = 1 / math.log2(3) + 2 / 2
    idcg = 2 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((dcg / idcg + 1.0) / 2)
    assert m["recall@100"] == pytest.approx(1.0)
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["queries"] == 2


def test_identical_ids_are_ignored_like_beir() -> None:
    run = {"q2": {"q2": 9.0, "d9": 1.0}}
    assert evaluate({"q2": {"d9": 1}}, run)["mrr@10"] == pytest.approx(1.0)
    assert evaluate({"q2": {"d9": 1}}, run, ignore_identical_ids=False)["mrr@10"] == pytest.approx(0.5)


def test_mrr_is_cut_at_ten() -> None:
    run = {"q2": {f"x{i}": 100.0 - i for i in range(10)} | {"d9": 1.0}}
    assert evaluate({"q2": {"d9": 1}}, run)["mrr@10"] == 0.0


def test_top_keeps_best_scores() -> None:
    assert top({"q": {"a": 1.0, "b": 3.0, "c": 2.0}}, 2) == {"q": {"b": 3.0, "c": 2.0}}


def test_trec_run_round_trip(tmp_path: Path) -> None:
    run = {"q1": {"d1": 0.5, "d2": 1.5}, "q2": {"d3": 2.0}}
    path = tmp_path / "r.trec"
    write_trec_run(run, path, tag="t")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 d2 1 1.500000 t" and lines[1] == "q1 Q0 d1 2 0.500000 t"
    assert read_trec_run(path) == run
