"""The cross-encoder reranker on a real (tiny, in-session trained) model and real SciFact slice hits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from kernel.errors import InvalidInput, ModelUnavailable
from kernel.types import Hit
from rankers.cross_encoder import CrossEncoderReranker
from rankers.pair_models import load_pair_model
from rankers.registry import RerankerPool, build_reranker
from rankers.specs import CrossEncoderSpec, RerankCall


def test_training_saves_a_folder_that_loads_by_path(tiny_ce: Path) -> None:
    info = json.loads((tiny_ce / "sieve_training.json").read_text())
    assert info["loss"] == "listnet" and info["train_queries"] == 10 and info["dev_queries"] == 2
    assert "eval_dev_ndcg@10" in info["dev_before"] or any("ndcg" in k for k in info["dev_before"])
    assert info["dev_per_epoch"], "no per-epoch dev evaluation was logged"
    assert list((tiny_ce / "checkpoints").glob("checkpoint-*")), "no epoch checkpoint"
    model = load_pair_model(CrossEncoderSpec(model=str(tiny_ce), max_length=64))
    assert model.revision.startswith("local:") and model.model.num_labels == 1  # type: ignore[attr-defined]


def test_rerank_orders_by_model_score_and_keeps_stage_scores(tiny_ce: Path, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    reranker = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), max_length=128))
    out = reranker.rerank(query, candidates)
    assert sorted(h.id for h in out) == sorted(h.id for h in candidates)
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
    direct = reranker.model.model.predict([(query, f"{h.title} {h.text}") for h in candidates])  # type: ignore[attr-defined]
    by_id = {h.id: h for h in out}
    for h, want in zip(candidates, direct, strict=True):
        got = by_id[h.id]
        assert got.stage_scores["cross_encoder"] == pytest.approx(float(want), abs=1e-4)
        assert got.stage_scores["sparse"] == h.score and got.stage_scores["rerank"] == got.score
    assert [h.id for h in reranker.rerank(query, candidates, top_k=3)] == [h.id for h in out[:3]]


def test_long_pairs_are_counted_or_refused(tiny_ce: Path, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    long = Hit("long", 1.0, text="protein " * 400)
    short = Hit("short", 0.5, text="vitamin D")
    report = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), max_length=64)).rerank_with_report(
        query, [long, short])
    assert report.counts["truncated"] == 1 and report.counts["pairs"] == 2 and len(report.hits) == 2
    assert "1 of 2 passages were truncated to fit 64 tokens" in report.warnings[0]
    strict = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), max_length=64, truncation="error"))
    with pytest.raises(InvalidInput, match=r"1 passages do not fit 64 tokens .*indexes \[0\]"):
        strict.rerank(query, [long, short])
    with pytest.raises(InvalidInput, match="without text"):
        strict.rerank(query, [Hit("empty", 1.0)])


def test_blend_one_keeps_first_stage_order_and_blend_interpolates(tiny_ce: Path,
                                                                  hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    kept = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), blend=1.0)).rerank(query, candidates)
    assert [h.id for h in kept] == [h.id for h in candidates]
    half = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), blend=0.5)).rerank(query, candidates)
    raw = np.array([h.stage_scores["cross_encoder"] for h in half])
    first = np.array([h.stage_scores["sparse"] for h in half])
    minmax = lambda a: (a - a.min()) / (a.max() - a.min())  # noqa: E731
    assert np.allclose([h.score for h in half], 0.5 * minmax(raw) + 0.5 * minmax(first))


def test_top_n_rescores_only_the_head(tiny_ce: Path, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    out = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), top_n=5)).rerank(query, candidates)
    assert sorted(h.id for h in out[:5]) == sorted(h.id for h in candidates[:5])
    assert [h.id for h in out[5:]] == [h.id for h in candidates[5:]]
    assert all("cross_encoder" not in h.stage_scores for h in out[5:])
    assert out[4].score > out[5].score


def test_pool_builds_one_reranker_per_model_whatever_the_call_options(tiny_ce: Path,
                                                                      hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    pool = RerankerPool()
    a = pool.reranker(CrossEncoderSpec(model=str(tiny_ce)))
    assert pool.reranker(CrossEncoderSpec(model=str(tiny_ce), top_n=5, blend=0.3)) is a  # options are per call
    b = pool.reranker(CrossEncoderSpec(model=str(tiny_ce), truncation="error"))
    assert b is not a and b.model is a.model  # type: ignore[attr-defined]
    assert pool.sizes() == {"rerankers": 2, "pair_models": 1, "llms": 0}
    # A call's options give what a reranker built with them as defaults gives.
    own = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), top_n=5, blend=0.3), a.model)  # type: ignore[attr-defined]
    call = RerankCall(top_n=5, blend=0.3)
    assert [(h.id, h.score) for h in a.rerank(query, candidates, call=call)] == \
        [(h.id, h.score) for h in own.rerank(query, candidates)]
    with pytest.raises(ModelUnavailable, match="not a local path"):
        pool.reranker(CrossEncoderSpec(model="no-such-org/no-such-reranker"))
    pool.close()
    assert pool.sizes() == {"rerankers": 0, "pair_models": 0, "llms": 0}


def test_arerank_matches_rerank(tiny_ce: Path, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    reranker = build_reranker(CrossEncoderSpec(model=str(tiny_ce)))
    assert [h.id for h in asyncio.run(reranker.arerank(query, candidates))] == \
        [h.id for h in reranker.rerank(query, candidates)]


def test_packaged_bi_encoder_loads_as_a_cross_encoder() -> None:
    reranker = CrossEncoderReranker(CrossEncoderSpec(model="sentence-transformers/all-MiniLM-L6-v2", max_length=32))
    scores = reranker.score("vitamin D", ["vitamin D and cancer", "plate tectonics"]).scores
    assert scores.shape == (2,) and np.isfinite(scores).all()
