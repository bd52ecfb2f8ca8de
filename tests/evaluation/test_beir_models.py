"""``SieveBeirModel`` inside BEIR's own ``DenseRetrievalExactSearch`` agrees with Sieve's dense pipeline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from evaluation.beir_eval import load_pipeline
from evaluation.beir_models import SieveBeirModel, corpus_texts
from evaluation.harness import run_in_process
from evaluation.metrics import evaluate
from indexers.encoders import EncoderSpec
from kernel.errors import InvalidInput
from service.config import Settings
from service.specs import PipelineSpec


def test_beir_exact_search_matches_sieve_dense_ndcg(settings: Settings, scifact_slice: Path) -> None:
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch

    corpus, queries, qrels = GenericDataLoader(str(scifact_slice)).load(split="test")
    model = SieveBeirModel(EncoderSpec())  # the encoder of the slice's "dense" (torch, Flat) index
    search = DenseRetrievalExactSearch(model, batch_size=32, show_progress_bar=False)
    retriever = EvaluateRetrieval(search, score_function="cos_sim", k_values=[10, 100])
    beir_ndcg, _map, _recall, _p = retriever.evaluate(qrels, retriever.retrieve(corpus, queries), [10, 100])

    pipeline = load_pipeline(settings.index_root / "sf")
    ours = asyncio.run(run_in_process(pipeline, queries, PipelineSpec.named("dense"), 100)).run
    sieve_ndcg = evaluate(qrels, ours)["ndcg@10"]
    assert beir_ndcg["NDCG@10"] == pytest.approx(sieve_ndcg, abs=1e-4)
    assert beir_ndcg["NDCG@10"] > 0.6


def test_vectors_match_what_the_index_stores(settings: Settings) -> None:
    pipeline = load_pipeline(settings.index_root / "sf")
    index = pipeline.collection.dense["dense"]
    first = pipeline.collection.docs.get_many([index.docids[0]])[index.docids[0]]
    model = SieveBeirModel(EncoderSpec())
    got = model.encode_corpus([{"title": first.title, "text": first.text}], batch_size=4)
    np.testing.assert_allclose(got[0], index.vectors()[0], atol=1e-5)
    as_tensor = model.encode_queries(["a", "b", "c"], batch_size=2, convert_to_tensor=True)
    assert tuple(as_tensor.shape) == (3, 384)


def test_corpus_shapes_and_bad_records() -> None:
    assert corpus_texts([{"title": "T", "text": "x"}, {"title": "", "text": "y"}, "z"]) == ["T x", "y", "z"]
    assert corpus_texts({"title": ["T", ""], "text": ["x", "y"]}) == ["T x", "y"]
    with pytest.raises(InvalidInput, match="record 1 has no 'text'"):
        corpus_texts([{"text": "a"}, {"title": "only a title"}])
    with pytest.raises(InvalidInput, match="2 titles for 1 texts"):
        corpus_texts({"title": ["a", "b"], "text": ["x"]})
