"""The ONNX Runtime cross-encoder backend: exported from the real (tiny, in-session trained) model, fp32 and int8,
scored against the torch backend on real SciFact candidates."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from kernel.types import Hit
from rankers.cross_encoder import CrossEncoderReranker
from rankers.onnx_pair_model import ensure_export, export_folder
from rankers.specs import CrossEncoderSpec


@pytest.fixture(scope="module")
def model_dir(tiny_ce: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny cross-encoder, so exports here never touch the shared one."""
    copy = tmp_path_factory.mktemp("onnx") / "ce"
    shutil.copytree(tiny_ce, copy, ignore=shutil.ignore_patterns("checkpoints"))
    return copy


def _scores(model_dir: Path, hits: tuple[str, list[Hit]], **spec: object) -> np.ndarray:
    query, candidates = hits
    reranker = CrossEncoderReranker(CrossEncoderSpec(model=str(model_dir), max_length=256, **spec))  # type: ignore[arg-type]
    return reranker.score(query, [f"{h.title} {h.text}" for h in candidates]).scores


def test_fp32_onnx_matches_torch(model_dir: Path, hits: tuple[str, list[Hit]]) -> None:
    torch_scores = _scores(model_dir, hits)
    onnx_scores = _scores(model_dir, hits, backend="onnx")
    assert np.allclose(onnx_scores, torch_scores, atol=1e-4), np.abs(onnx_scores - torch_scores).max()
    assert (model_dir / "onnx" / "model.onnx").is_file()
    assert json.loads((model_dir / "onnx" / "sieve_export.json").read_text())["source"] == str(model_dir)


def test_int8_onnx_stays_close_to_torch(model_dir: Path, hits: tuple[str, list[Hit]]) -> None:
    torch_scores = _scores(model_dir, hits)
    int8 = _scores(model_dir, hits, backend="onnx", quantize="int8")
    assert (model_dir / "onnx" / "model_qint8.onnx").is_file()
    assert not np.allclose(int8, torch_scores, atol=1e-6)  # really quantised
    # The tiny model's logits span only ~0.005, so its order is not a fair test of int8 (the full-size model's nDCG
    # is: benchmarks/bench_rerank.py); what must hold is that quantisation error stays at the 1e-3 level.
    assert np.abs(int8 - torch_scores).max() < 0.01


def test_reranker_names_the_backend(model_dir: Path) -> None:
    torch_name = CrossEncoderReranker(CrossEncoderSpec(model=str(model_dir))).name
    onnx_name = CrossEncoderReranker(CrossEncoderSpec(model=str(model_dir), backend="onnx", quantize="int8")).name
    assert "+onnx-int8" in onnx_name and onnx_name != torch_name  # result caches keep the two apart


def test_new_weights_are_exported_again(model_dir: Path) -> None:
    onnx = ensure_export(model_dir, "none")
    before = onnx.stat().st_mtime_ns
    weights = model_dir / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert ensure_export(model_dir, "none").stat().st_mtime_ns != before
    assert not (model_dir / "onnx" / "model_qint8.onnx").exists()  # the stale int8 copy is dropped


def test_a_read_only_model_exports_to_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    own, cached = export_folder(tmp_path / "m", writable=True), export_folder(tmp_path / "m", writable=False)
    assert own == tmp_path / "m" / "onnx"
    assert cached.parent == tmp_path / "home" / ".cache" / "sieve" / "onnx"
    assert export_folder(tmp_path / "other", writable=False) != cached  # one folder per model
