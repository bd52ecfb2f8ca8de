"""The BEIR harness on the SciFact slice: in-process, over real HTTP, and driven by BEIR's own evaluator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from evaluation.beir_eval import evaluate_pipelines, load_pipeline
from evaluation.harness import run_in_process, run_over_http
from evaluation.metrics import evaluate
from indexers.corpus import BeirDataset
from service.config import Settings
from service.specs import PipelineSpec


def test_eval_writes_run_and_summary(settings: Settings, scifact_slice: Path, tmp_path: Path) -> None:
    summaries = evaluate_pipelines(
        data=scifact_slice, pipelines=["bm25", "dense", "hybrid"], split="test", k=100, collection="sf", url=None,
        out=tmp_path, dense_index=None, build=False, settings=settings,
    )
    ndcg = {s["pipeline"]: s["metrics"]["ndcg@10"] for s in summaries}  # type: ignore[index]
    # A 30-query slice with ~200 docs: real but easy; all three must clearly work.
    assert all(v > 0.6 for v in ndcg.values()), ndcg
    assert ndcg["hybrid"] >= min(ndcg["bm25"], ndcg["dense"])
    saved = json.loads((tmp_path / "scifact-slice.bm25.json").read_text())
    assert saved["metrics"]["ndcg@10"] == pytest.approx(ndcg["bm25"])
    trec = (tmp_path / "scifact-slice.hybrid.trec").read_text().splitlines()
    assert len(trec) == 30 * 100 and trec[0].split()[3] == "1"


def test_http_run_equals_in_process_run(settings: Settings, scifact_slice: Path, live_server: str) -> None:
    queries = BeirDataset.open(scifact_slice).queries()
    pipeline = load_pipeline(settings.index_root / "sf")
    for name in ("bm25", "hybrid"):
        spec = PipelineSpec.named(name)
        local = asyncio.run(run_in_process(pipeline, queries, spec, 20)).run
        remote = asyncio.run(run_over_http(live_server, "sf", queries, spec, 20)).run
        assert local.keys() == remote.keys()
        for qid in local:
            assert list(local[qid]) == list(remote[qid])
            assert list(local[qid].values()) == pytest.approx(list(remote[qid].values()), rel=1e-6)


def test_beir_evaluate_retrieval_drives_sieve(settings: Settings, scifact_slice: Path) -> None:
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval.evaluation import EvaluateRetrieval

    from evaluation.beir_adapter import SieveSearch

    corpus, queries, qrels = GenericDataLoader(str(scifact_slice)).load(split="test")
    pipeline = load_pipeline(settings.index_root / "sf")
    retriever = EvaluateRetrieval(SieveSearch(pipeline, PipelineSpec.named("bm25")), k_values=[10, 100])
    results = retriever.retrieve(corpus, queries)
    ndcg, _map, recall, _p = retriever.evaluate(qrels, results, retriever.k_values)
    ours = evaluate(qrels, results)
    assert ndcg["NDCG@10"] == pytest.approx(round(ours["ndcg@10"], 5), abs=1e-5)
    assert recall["Recall@100"] == pytest.approx(round(ours["recall@100"], 5), abs=1e-5)
