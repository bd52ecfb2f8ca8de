"""Query-side distillation into the first 3 layers against the SciFact slice's stored vectors: a few steps bring the
student closer to the full model on held-out texts than the plain 3-layer cut, the registered folder is a 3-layer
model, and the service serves it by name (``query_encoder``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexers.collection import open_collection
from indexers.dense import DenseIndex, query_encoders
from indexers.encoders import EncoderSpec, build_encoder
from service.config import Settings
from tests.conftest import asgi_client, link_dense_copy, register_trained, vectors_sha
from training.distil import train_distilled
from training.early_exit import pseudo_queries
from training.specs import DistilTrainSpec


@pytest.fixture(scope="module")
def distilled(index_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    import torch

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("distil")
    dst = link_dense_copy(index_root, root)
    folder = dst / "indexes" / "dense"
    before = vectors_sha(folder)
    index = DenseIndex(folder)
    collection = open_collection(dst)
    texts, _ = pseudo_queries(collection, 400)
    collection.close()
    held_out, train = texts[:80], texts[80:]
    spec = DistilTrainSpec(steps=12, batch_size=16, learning_rate=2e-4, dev_texts=40, eval_every=6)
    info = train_distilled(index, train, spec, root / "model")
    register_trained(dst, "early3", index, info, root / "model")
    return {"root": root, "folder": folder, "index": index, "held_out": held_out, "info": info,
            "vectors_before": before}


def test_student_is_closer_to_the_full_model_than_the_plain_cut(distilled: dict) -> None:
    folder, index, held_out = distilled["folder"], distilled["index"], distilled["held_out"]
    assert vectors_sha(folder) == distilled["vectors_before"]
    spec = query_encoders.resolve(folder.parent.parent, "dense", index.manifest.version, "early3")
    config = json.loads((Path(spec.model) / "config.json").read_text())
    assert config["num_hidden_layers"] == 3 and distilled["info"]["layers"] == 3
    student = build_encoder(spec)
    assert getattr(student, "num_layers", 3) == 3
    full = build_encoder(EncoderSpec.model_validate(index.manifest.build["encoder"]))
    teacher = full.encode_queries(held_out)
    plain = full.encode_queries_at(held_out, 3)  # type: ignore[attr-defined]
    tuned = student.encode_queries(held_out)
    plain_cos, tuned_cos = float((plain * teacher).sum(1).mean()), float((tuned * teacher).sum(1).mean())
    assert tuned_cos > plain_cos + 0.01, (plain_cos, tuned_cos)
    info = distilled["info"]
    assert info["objective"] == "distil" and info["documents_reencoded"] == 0
    assert info["dev_best_cosine"] > info["dev_unmapped_cosine"]


async def test_service_serves_the_distilled_encoder(distilled: dict) -> None:
    root, folder, index = distilled["root"], distilled["folder"], distilled["index"]
    query = {"collection": "sf", "query": "vitamin D and cancer risk", "retriever": "dense", "k": 10,
             "include_text": False}
    spec = query_encoders.resolve(folder.parent.parent, "dense", index.manifest.version, "early3")
    expected = [d for d, _ in index.search(np.ascontiguousarray(build_encoder(spec).encode_queries(
        [query["query"]])), 10)[0]]
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        served = await client.post("/v1/search", json={**query, "query_encoder": "early3"})
        assert served.status_code == 200 and [h["id"] for h in served.json()["hits"]] == expected


def test_source_layers_default_to_the_first_and_the_top_and_refuse_bad_choices() -> None:
    from kernel.errors import InvalidInput
    from training.distil import source_layers

    assert source_layers(3, 6, None) == (0, 4, 5)
    assert source_layers(1, 6, None) == (0,)
    assert source_layers(6, 6, None) == (0, 1, 2, 3, 4, 5)
    assert source_layers(3, 6, (0, 1, 2)) == (0, 1, 2)
    for layers, chosen in ((3, (0, 1)), (3, (2, 1, 0)), (3, (0, 0, 1)), (3, (0, 1, 6)), (7, None), (0, None)):
        with pytest.raises(InvalidInput):
            source_layers(layers, 6, chosen)


def test_student_starts_as_a_copy_of_the_chosen_layers(distilled: dict) -> None:
    from sentence_transformers import SentenceTransformer

    from kernel.model_resolver import resolve_model
    from training.distil import student_model

    index = distilled["index"]
    student, picked = student_model(index, 3, 32, (1, 3, 5))
    encoder = EncoderSpec.model_validate(index.manifest.build["encoder"])
    full = SentenceTransformer(str(resolve_model(encoder.model).path), device="cpu")
    ours, theirs = student[0].auto_model.encoder.layer, full[0].auto_model.encoder.layer
    assert picked == (1, 3, 5) and len(ours) == 3
    for mine, source in zip(ours, (theirs[1], theirs[3], theirs[5]), strict=True):
        for a, b in zip(mine.parameters(), source.parameters(), strict=True):
            assert a.shape == b.shape and bool((a == b).all())
    assert distilled["info"]["source_layers"] == [0, 4, 5]
