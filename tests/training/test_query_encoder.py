"""ADORE query-encoder training against the SciFact slice's stored vectors, its registration on the index, and the
service choosing it per request (and refusing it once the index has moved to another version)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex, query_encoders
from indexers.encoders import EncoderSpec, build_encoder
from indexers.manifest import IndexManifest
from indexers.segments.merge import apply_changes
from service.config import Settings
from tests.conftest import asgi_client, link_dense_copy, register_trained, vectors_sha
from training.query_encoder import train_query_encoder
from training.rank_lists import judged_queries
from training.specs import QueryEncoderTrainSpec


def _rank_of_positives(index: DenseIndex, vectors: np.ndarray, positives: list[set[str]]) -> float:
    rows = index.search(vectors, len(index.docids))
    return float(np.mean([min(i for i, (d, _) in enumerate(row) if d in pos) for row, pos in
                          zip(rows, positives, strict=True)]))


@pytest.fixture(scope="module")
def trained(index_root: Path, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("qenc")
    dst = link_dense_copy(index_root, root)
    folder = dst / "indexes" / "dense"
    before = vectors_sha(folder)
    index = DenseIndex(folder)
    source = judged_queries(BeirDataset.open(scifact_slice), "test")
    spec = QueryEncoderTrainSpec(steps=6, batch_size=8, learning_rate=1e-4, negatives=20, dev_queries=0,
                                 eval_every=6)
    info = train_query_encoder(index, source, spec, root / "model")
    register_trained(dst, "tuned", index, info, root / "model")
    return {"root": root, "folder": folder, "index": index, "source": source, "vectors_before": before,
            "info": info}


def test_training_moves_only_the_query_side_toward_the_positives(trained: dict) -> None:
    folder, index, source = trained["folder"], trained["index"], trained["source"]
    assert vectors_sha(folder) == trained["vectors_before"]
    assert trained["info"]["documents_reencoded"] == 0
    ids = [q for q in source.queries if q in source.qrels]
    texts = [source.queries[q] for q in ids]
    positives = [{d for d, r in source.qrels[q].items() if r > 0} for q in ids]
    spec = query_encoders.resolve(folder.parent.parent, "dense", index.manifest.version, "tuned")
    tuned = build_encoder(spec).encode_queries(texts)
    base = build_encoder(EncoderSpec()).encode_queries(texts)
    assert not np.allclose(tuned, base, atol=1e-3)
    # Trained on these very queries: their judged documents move up against the unchanged document vectors.
    assert _rank_of_positives(index, tuned, positives) < _rank_of_positives(index, base, positives)


async def test_service_serves_the_query_encoder_and_refuses_it_after_a_rebuild(trained: dict) -> None:
    root, folder, index = trained["root"], trained["folder"], trained["index"]
    query = {"collection": "sf", "query": "vitamin D and cancer risk", "retriever": "dense", "k": 10,
             "include_text": False}
    spec = query_encoders.resolve(folder.parent.parent, "dense", index.manifest.version, "tuned")
    expected = [d for d, _ in index.search(build_encoder(spec).encode_queries([query["query"]]), 10)[0]]
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        base = (await client.post("/v1/search", json=query)).json()["hits"]
        tuned = await client.post("/v1/search", json={**query, "query_encoder": "tuned"})
        assert tuned.status_code == 200 and [h["id"] for h in tuned.json()["hits"]] == expected
        assert [h["id"] for h in base] != expected or [h["score"] for h in base] != [
            h["score"] for h in tuned.json()["hits"]]
        missing = await client.post("/v1/search", json={**query, "query_encoder": "nope"})
        assert missing.status_code == 404 and "tuned" in missing.json()["error"]["message"]
        both = await client.post("/v1/search", json={**query, "query_encoder": "tuned", "layers": 2})
        assert both.status_code == 422
    # A live change rebuilds the index (a new version): the query encoder is kept but refused until retrained.
    old = IndexManifest.read(folder).version
    apply_changes(root, "sf", encoder_for=build_encoder, deletes=[index.docids[0]])
    new = IndexManifest.read(folder).version
    assert (folder.parent.parent / "query_encoders" / "tuned" / "query_encoder.json").is_file()
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        refused = await client.post("/v1/search", json={**query, "query_encoder": "tuned"})
        assert refused.status_code == 422
        message = refused.json()["error"]["message"]
        assert old in message and new in message and "retrain" in message
        assert (await client.post("/v1/search", json=query)).status_code == 200
