"""Matryoshka fine-tuning end to end on a handful of real SciFact triples (tiny, so it runs on the CPU in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from indexers.bm25 import Bm25IndexSpec
from indexers.collection import BuildPlan, build_collection, open_collection
from indexers.corpus import BeirDataset
from indexers.encoders import EncoderSpec, build_encoder
from training.embedder import EmbedderTrainSpec, train_embedder
from training.pairs import mine_triples, triples_for
from training.weak import weak_queries


def test_mined_triples_pair_judged_docs_with_unjudged_bm25_hits(index_root: Path, scifact_slice: Path) -> None:
    dataset = BeirDataset.open(scifact_slice)
    collection = open_collection(index_root / "sf")
    triples = mine_triples(dataset, "test", collection)
    qrels, queries = dataset.qrels(), dataset.queries()
    docs = {d.contents: d.id for d in collection.docs.iter_docs()}
    assert len(triples) >= 30
    by_text = {text: qid for qid, text in queries.items()}
    for t in triples:
        qid = by_text[t.query]
        assert docs[t.positive] in qrels[qid] and docs[t.negative] not in qrels[qid]


def test_weak_title_triples_read_bodies_without_titles(index_root: Path, tmp_path: Path) -> None:
    collection = open_collection(index_root / "sf")
    by_body = {d.text: d for d in collection.docs.iter_docs()}
    triples = triples_for(weak_queries(collection, "title", 20), collection)
    assert len(triples) == 20
    for t in triples:
        positive, negative = by_body[t.positive], by_body[t.negative]  # bodies: a title-prefixed text is no key
        assert t.query == positive.title and negative.id != positive.id
    echo = [{"_id": d.id, "title": d.title, "text": f"{d.title} {d.text}"} for d in list(by_body.values())[:30]]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in echo))  # bodies that repeat titles
    build_collection(BuildPlan(name="echo", source=tmp_path / "corpus.jsonl", sparse=(Bm25IndexSpec(),), dense=()),
                     tmp_path)
    repeated = open_collection(tmp_path / "echo")
    for t in triples_for(weak_queries(repeated, "title", 10), repeated):
        assert t.query not in t.positive and t.positive in by_body and t.negative in by_body, t


def test_fine_tuned_model_saves_and_loads_by_path(index_root: Path, scifact_slice: Path, tmp_path: Path) -> None:
    triples = mine_triples(BeirDataset.open(scifact_slice), "test", open_collection(index_root / "sf"))[:8]
    spec = EmbedderTrainSpec(matryoshka_dims=(384, 64), batch_size=4, max_length=64, learning_rate=1e-4)
    info = train_embedder(triples, spec, tmp_path / "model")
    assert info["triples"] == 8
    assert json.loads((tmp_path / "model" / "sieve_training.json").read_text())["matryoshka_dims"] == [384, 64]
    tuned = build_encoder(EncoderSpec(model=str(tmp_path / "model")))
    base = build_encoder(EncoderSpec())
    assert tuned.revision.startswith("local:") and tuned.dim == 384
    a, b = tuned.encode_queries([triples[0].query]), base.encode_queries([triples[0].query])
    assert 0.9 < float(a[0] @ b[0]) < 0.99999  # moved, but still the same model
    assert np.isclose(np.linalg.norm(a[0]), 1.0, atol=1e-5)
