"""Both encoder backends load offline and agree on real SciFact text."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from indexers.corpus import BeirDataset
from indexers.encoders import EncoderSpec, build_encoder
from kernel.errors import InvalidInput


@pytest.fixture(scope="module")
def texts(datasets: Path) -> list[str]:
    return [d.contents for d in itertools.islice(BeirDataset.open(datasets / "scifact").corpus(), 12)]


def test_torch_and_onnx_agree(texts: list[str]) -> None:
    torch_vecs = build_encoder(EncoderSpec(backend="torch")).encode_docs(texts)
    onnx_vecs = build_encoder(EncoderSpec(backend="onnx")).encode_docs(texts)
    assert torch_vecs.shape == onnx_vecs.shape == (12, 384)
    np.testing.assert_allclose(np.linalg.norm(torch_vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(onnx_vecs, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(torch_vecs * onnx_vecs, axis=1)
    assert cosine.min() > 0.98, cosine
    # Same neighbours: each doc is closest to itself across backends.
    assert (np.argmax(torch_vecs @ onnx_vecs.T, axis=1) == np.arange(12)).all()


def test_onnx_keeps_input_order_across_length_sorted_batches(texts: list[str]) -> None:
    enc = build_encoder(EncoderSpec(backend="onnx", batch_size=5))
    together = enc.encode_docs(texts)
    one_by_one = np.vstack([enc.encode_queries([t]) for t in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)


def test_query_closer_to_its_relevant_doc_than_to_others() -> None:
    enc = build_encoder(EncoderSpec())
    q = enc.encode_queries(["Vitamin D supplements lower the risk of bone fractures"])
    d = enc.encode_docs(["Vitamin D supplementation and fracture risk in elderly people", "Jet engine noise"])
    assert float(q[0] @ d[0]) > float(q[0] @ d[1]) + 0.2


def test_unknown_backend_names_the_choices() -> None:
    spec = EncoderSpec.model_construct(model="x", backend="tpu", max_length=8, batch_size=1, device=None)
    with pytest.raises(InvalidInput, match=r"choose one of \['onnx', 'torch'\]"):
        build_encoder(spec)
