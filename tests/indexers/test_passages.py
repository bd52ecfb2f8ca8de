"""Passage indexes over long documents: the answer sits past the first window; whole-document vectors miss it,
passages find it and point at it; truncation is counted either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluation.long_docs import LongCorpus, make_long_corpus
from indexers.collection import BuildPlan, build_collection, open_collection
from indexers.dense import DenseIndexSpec
from indexers.dense.passages import ChunkSpec, aggregate, windows
from indexers.encoders import EncoderSpec, build_encoder
from kernel.errors import InvalidInput

CHUNK = "128:32"


@pytest.fixture(scope="module")
def long_corpus(datasets: Path) -> LongCorpus:
    return make_long_corpus(datasets / "scifact" / "corpus.jsonl", needles=3, distractors=1, abstracts_per_doc=8)


@pytest.fixture(scope="module")
def long_root(long_corpus: LongCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``long``: bm25, ``whole`` (first window of each doc) and ``passages`` (128-token windows, 32 overlap)."""
    root = tmp_path_factory.mktemp("long")
    source = long_corpus.write(tmp_path_factory.mktemp("long-data"))
    plan = BuildPlan(name="long", source=source, dense=(
        DenseIndexSpec(name="passages", passages=ChunkSpec.parse(CHUNK), prefixes=None),
        DenseIndexSpec(name="whole", prefixes=None),
    ))
    build_collection(plan, root)
    return root


def test_chunk_spec_and_windows() -> None:
    assert ChunkSpec.parse("256:64:sum") == ChunkSpec(window=256, overlap=64, aggregate="sum")
    for bad in ("256", "64:64", "a:b", "256:64:mean"):
        with pytest.raises(InvalidInput, match="--chunk"):
            ChunkSpec.parse(bad)
    offsets = [(i * 2, i * 2 + 1) for i in range(20)]  # twenty one-character tokens, a space apart
    assert windows(offsets, 39, ChunkSpec(window=8, overlap=2)) == [(0, 15), (12, 27), (24, 39)]
    assert windows(offsets, 39, ChunkSpec(window=32, overlap=4)) == [(0, 39)]
    assert windows([], 0, ChunkSpec()) == [(0, 0)]


def test_passage_hits_fold_into_documents_by_max_or_sum() -> None:
    docids, spans = ["a", "b", "a", "c"], np.array([[0, 10], [0, 5], [8, 20], [3, 9]])
    scores, positions = np.array([0.5, 0.6, 0.45, 0.2, 0.0]), np.array([2, 1, 0, 3, -1])
    assert aggregate(docids, spans, scores, positions, 2, "max") == [("b", 0.6, (0, 5)), ("a", 0.5, (8, 20))]
    top = aggregate(docids, spans, scores, positions, 3, "sum")
    assert [(d, round(s, 2), span) for d, s, span in top] == [("a", 0.95, (8, 20)), ("b", 0.6, (0, 5)),
                                                              ("c", 0.2, (3, 9))]


def test_the_answer_is_past_the_first_window(long_corpus: LongCorpus) -> None:
    encoder = build_encoder(EncoderSpec())
    for q, doc_id in long_corpus.answer.items():
        doc = next(d for d in long_corpus.docs if d.id == doc_id)
        offsets = encoder.token_offsets([doc.text])[0]
        assert len(offsets) > 2000  # several thousand tokens
        assert doc.text.index(long_corpus.needle[q]) > offsets[encoder.max_tokens][0]  # beyond what one vector reads


def test_passages_find_and_point_at_the_answer_whole_documents_do_not(long_root: Path,
                                                                       long_corpus: LongCorpus) -> None:
    col = open_collection(long_root / "long")
    encoder = build_encoder(EncoderSpec())
    ids = list(long_corpus.queries)
    vectors = encoder.encode_queries([long_corpus.queries[q] for q in ids])
    texts = {d.id: d.text for d in long_corpus.docs}
    chunked = col.dense["passages"].search(vectors, 3)
    whole = col.dense["whole"].search(vectors, 3)
    for q, rows in zip(ids, chunked, strict=True):
        top = rows[0]
        assert top[0] == long_corpus.answer[q], (q, rows)
        start, end = top.passage
        assert long_corpus.needle[q] in texts[top[0]][start:end]  # the offsets cite the answering passage
        assert end - start < len(texts[top[0]]) // 5
        assert len({r[0] for r in rows}) == len(rows)  # documents, not passages
    found_whole = sum(rows[0][0] == long_corpus.answer[q] for q, rows in zip(ids, whole, strict=True))
    assert found_whole < len(ids)
    assert all(r.passage is None for rows in whole for r in rows)


def test_truncation_is_counted_in_the_manifest(long_root: Path, long_corpus: LongCorpus) -> None:
    col = open_collection(long_root / "long")
    whole, passages = col.dense["whole"].manifest, col.dense["passages"].manifest
    assert whole.build["truncated"] == {"texts": 4, "truncated": 4, "max_tokens": 254, "unit": "documents"}
    assert passages.doc_count == 4 and passages.build["passage_count"] > 4 * 2000 // 96
    assert passages.build["truncated"]["truncated"] == 0 and passages.build["truncated"]["unit"] == "passages"
    assert passages.build["truncated"]["texts"] == passages.build["passage_count"]


async def test_search_api_returns_passage_offsets(long_root: Path, long_corpus: LongCorpus) -> None:
    from service.config import Settings
    from tests.conftest import asgi_client

    settings = Settings(index_root=long_root, workers=2, rerank={"models": ()})
    q = next(iter(long_corpus.queries))
    async with asgi_client(settings) as client:
        for retriever in ("dense", "hybrid"):
            resp = await client.post("/v1/search", json={"collection": "long", "query": long_corpus.queries[q], "k": 2,
                                                         "retriever": retriever, "dense_index": "passages"})
            assert resp.status_code == 200, resp.text
            hit = resp.json()["hits"][0]
            assert hit["id"] == long_corpus.answer[q]
            assert long_corpus.needle[q] in hit["text"][hit["passage"]["start"]:hit["passage"]["end"]]
        resp = await client.post("/v1/search", json={"collection": "long", "query": "storm days", "k": 2,
                                                     "retriever": "dense", "dense_index": "whole"})
        assert all(h["passage"] is None for h in resp.json()["hits"])


def test_live_updates_re_split_a_passage_index(long_root: Path, long_corpus: LongCorpus, tmp_path: Path) -> None:
    import shutil

    from indexers.segments.merge import apply_changes
    from kernel.types import Doc

    root = tmp_path / "copy"
    shutil.copytree(long_root, root)
    before = open_collection(root / "long").dense["passages"].manifest.build["passage_count"]
    new = Doc("fresh", "The Halvorsen glacier advanced forty metres in the winter of 2003. " * 30, title="Glaciers")
    apply_changes(root, "long", encoder_for=build_encoder, upserts=[new], deletes=["long-3"])
    col = open_collection(root / "long")
    index = col.dense["passages"]
    assert index.manifest.doc_count == 4 and "long-3" not in index.docids
    assert before - 30 < index.manifest.build["passage_count"] < before  # one long document out, a short one in
    top = index.search(build_encoder(EncoderSpec()).encode_queries(["How far did the Halvorsen glacier advance?"]),
                       1)[0][0]
    assert top[0] == "fresh" and "Halvorsen" in new.text[top.passage[0]:top.passage[1]]
