"""The similarity cross-encoder: its score at initialisation is the bi-encoder's segment cosine (checked by hand),
and the in-session trained model serves identically through torch and ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kernel.model_resolver import resolve_model
from kernel.types import Hit
from rankers.cross_encoder import CrossEncoderReranker
from rankers.pair_models import SimilarityPairModel, load_pair_model
from rankers.similarity_cross_encoder import HEAD_FILE, is_similarity_model, new_model
from rankers.specs import CrossEncoderSpec

QUERY = "vitamin D deficiency and cancer"
DOCS = ["Low serum vitamin D is associated with higher cancer incidence.", "Plate tectonics and earthquakes."]


def test_an_untrained_model_scores_scale_times_the_segment_cosine() -> None:
    from transformers import AutoModel, AutoTokenizer

    base = resolve_model("sentence-transformers/all-MiniLM-L6-v2").path
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = new_model(base, scale=10.0).eval()
    enc = tokenizer([QUERY] * 2, DOCS, padding=True, return_tensors="pt")
    with torch.no_grad():
        got = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).reshape(-1)
        hidden = AutoModel.from_pretrained(str(base))(**enc).last_hidden_state
    want = []
    for i in range(2):
        live = enc["attention_mask"][i].bool()
        q = hidden[i][live & (enc["token_type_ids"][i] == 0)].mean(0)
        d = hidden[i][live & (enc["token_type_ids"][i] == 1)].mean(0)
        want.append(10.0 * torch.nn.functional.cosine_similarity(q, d, dim=0).item())
    assert got.tolist() == pytest.approx(want, abs=1e-4)
    assert got[0] > got[1]  # the bi-encoder's opinion, before any training


def test_training_saves_a_similarity_model_with_dev_scores(tiny_sim: Path) -> None:
    assert is_similarity_model(tiny_sim) and json.loads((tiny_sim / HEAD_FILE).read_text())["kind"] == "similarity"
    info = json.loads((tiny_sim / "sieve_training.json").read_text())
    assert info["head"] == "similarity" and info["weak_queries"] == 6 and info["train_queries"] == 7 + 6
    assert len(info["dev_qids"]) == 3 and 0 <= info["dev_before"]["dev_ndcg@10"] <= 1
    assert [e["epoch"] for e in info["dev_per_epoch"]] == [1]
    assert is_similarity_model(tiny_sim / "checkpoints" / "last")
    assert isinstance(load_pair_model(CrossEncoderSpec(model=str(tiny_sim))), SimilarityPairModel)


def test_torch_and_onnx_agree_on_real_candidates(tiny_sim: Path, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    passages = [f"{h.title} {h.text}" for h in candidates]
    torch_scores = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_sim), max_length=128)).score(
        query, passages).scores
    onnx_scores = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_sim), max_length=128, backend="onnx")).score(
        query, passages).scores
    assert np.allclose(onnx_scores, torch_scores, atol=1e-3), np.abs(onnx_scores - torch_scores).max()
    assert torch_scores.std() > 0.1  # a real spread of opinions, not a flat head
