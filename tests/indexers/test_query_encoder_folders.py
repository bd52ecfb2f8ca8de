"""Registered query encoders keep their model files in a folder new at every registration: a cache keyed by the
encoder spec (the model path) can never serve a replaced query encoder's old model under its new name."""

from __future__ import annotations

import json
from pathlib import Path

from indexers.dense import query_encoders
from indexers.dense.query_encoders import QueryEncoderManifest


def _model(folder: Path, weights: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "weights.txt").write_text(weights)
    return folder


def test_re_registering_a_name_gives_a_new_model_path(tmp_path: Path) -> None:
    collection = tmp_path / "col"
    manifest = QueryEncoderManifest(name="tuned", index="dense", trained_against="v1", base_model="m",
                                    encoder={"model": "m", "backend": "torch"})
    query_encoders.register(collection, manifest, _model(tmp_path / "a", "first"))
    first = query_encoders.model_spec(collection, query_encoders.read(collection, "tuned"))
    query_encoders.register(collection, manifest, _model(tmp_path / "b", "second"))
    second = query_encoders.model_spec(collection, query_encoders.read(collection, "tuned"))
    assert first.model != second.model and first.backend == second.backend == "torch"
    assert not Path(first.model).exists()  # the replaced model's files are gone with it
    assert (Path(second.model) / "weights.txt").read_text() == "second"


def test_a_manifest_from_before_keeps_its_model_folder(tmp_path: Path) -> None:
    folder = tmp_path / "col" / query_encoders.FOLDER / "old"
    _model(folder / "model", "old")
    record = {"name": "old", "index": "dense", "trained_against": "v1", "base_model": "m", "encoder": {"model": "m"}}
    (folder / query_encoders.MANIFEST_FILE).write_text(json.dumps(record))
    spec = query_encoders.model_spec(tmp_path / "col", query_encoders.read(tmp_path / "col", "old"))
    assert spec.model == str(folder / "model")
