"""``sieve eval beir --pipeline bm25+ce``: first stage and reranked run side by side, on the slice, real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.beir_eval import evaluate_pipelines
from evaluation.rerank_eval import split_name
from rankers.specs import CrossEncoderSpec
from service.config import Settings


@pytest.mark.parametrize(("name", "want"), [
    ("bm25+ce", ("bm25", "ce")), ("hybrid", ("hybrid", None)), ("hybrid-convex+ce", ("hybrid-convex", "ce")),
    ("hybrid+listwise", ("hybrid", "listwise")), ("bm25+first", ("bm25", "first")),
    ("dense+pairwise", ("dense", "pairwise")), ("bm25+other", ("bm25+other", None)),
])
def test_split_name(name: str, want: tuple[str, str | None]) -> None:
    assert split_name(name) == want


def test_reranked_eval_reports_first_stage_and_blends(settings: Settings, scifact_slice: Path, tiny_ce: Path,
                                                      tmp_path: Path) -> None:
    summaries = evaluate_pipelines(
        data=scifact_slice, pipelines=["bm25+ce"], split="test", k=100, collection="sf", url=None, out=tmp_path,
        dense_index=None, build=False, settings=settings,
        rerankers={"ce": CrossEncoderSpec(model=str(tiny_ce), max_length=64)},
        rerank_depth=5, blends=(0.0, 1.0), max_queries=6,
    )
    by_name = {s["pipeline"]: s for s in summaries}
    assert list(by_name) == ["bm25@5", "bm25+ce", "bm25+ce@blend1"]
    first, reranked, kept = by_name["bm25@5"], by_name["bm25+ce"], by_name["bm25+ce@blend1"]
    # Blend weight 1 is the first stage's own order over the same candidates: same metrics exactly.
    assert kept["metrics"] == pytest.approx(first["metrics"])  # type: ignore[arg-type]
    assert reranked["metrics"]["recall@100"] == pytest.approx(first["metrics"]["recall@100"])  # type: ignore[index]
    assert reranked["latency_stage"] == "rerank" and reranked["latency_ms"]["p50"] > 0  # type: ignore[index]
    assert reranked["pairs"] == 6 * 5 and reranked["depth"] == 5
    saved = json.loads((tmp_path / "scifact-slice.bm25+ce.json").read_text())
    assert saved["reranker"]["model"] == str(tiny_ce) and "truncated_pairs" in saved
    assert len((tmp_path / "scifact-slice.bm25+ce.trec").read_text().splitlines()) == 6 * 5


def test_reranked_pipeline_needs_a_reranker(settings: Settings, scifact_slice: Path) -> None:
    with pytest.raises(ValueError, match="needs a ce reranker"):
        evaluate_pipelines(data=scifact_slice, pipelines=["bm25+ce"], split="test", k=10, collection="sf", url=None,
                           out=None, dense_index=None, build=False, settings=settings)


def test_llm_reranked_eval_with_smollm2(settings: Settings, scifact_slice: Path, smollm2: object,
                                        tmp_path: Path) -> None:
    """``bm25+first``: the real packaged SmolLM2 ranks each query's top 5 from its first-token logits."""
    from rankers.specs import ListwiseSpec

    summaries = evaluate_pipelines(
        data=scifact_slice, pipelines=["bm25+first"], split="test", k=100, collection="sf", url=None, out=tmp_path,
        dense_index=None, build=False, settings=settings,
        rerankers={"first": ListwiseSpec(mode="first", window=5, stride=5, max_passage_words=30)},
        rerank_depth=5, blends=(0.0, 1.0), max_queries=3,
    )
    by_name = {s["pipeline"]: s for s in summaries}
    assert list(by_name) == ["bm25@5", "bm25+first", "bm25+first@blend1"]
    assert by_name["bm25+first@blend1"]["metrics"] == pytest.approx(by_name["bm25@5"]["metrics"])  # type: ignore[arg-type]
    assert by_name["bm25+first"]["counts"]["llm_calls"] == 3  # one window per query  # type: ignore[index]
    assert len((tmp_path / "scifact-slice.bm25+first.trec").read_text().splitlines()) == 3 * 5
