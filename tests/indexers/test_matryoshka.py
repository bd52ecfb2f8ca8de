"""Matryoshka structure on the real SciFact-slice vectors: transforms, prefix indexes, the funnel, the adaptor."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex
from indexers.encoders import EncoderSpec, build_encoder
from indexers.manifest import IndexManifest
from indexers.matryoshka import FunnelSpec, MatryoshkaSpec, PrefixTransform
from indexers.matryoshka.build import add_matryoshka
from indexers.matryoshka.transform import fit_pca
from kernel.errors import InvalidInput
from training.matryoshka_supervision import supervision_from_beir

QUERIES = ["Vitamin D deficiency increases cancer risk", "stem cells regenerate heart tissue",
           "antibiotic resistance in hospital bacteria"]


@pytest.fixture(scope="module")
def dense(index_root: Path) -> DenseIndex:
    return DenseIndex(index_root / "sf" / "indexes" / "dense")


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return build_encoder(EncoderSpec()).encode_queries(QUERIES)


def test_pca_is_a_rotation_that_orders_variance(dense: DenseIndex) -> None:
    vectors = np.asarray(dense.vectors())
    pca = fit_pca(vectors)
    assert pca.rotation is not None
    np.testing.assert_allclose(pca.rotation.T @ pca.rotation, np.eye(384), atol=1e-4)
    rotated = pca.apply(vectors)
    variance = rotated.var(axis=0)
    assert variance[:32].sum() > variance[-32:].sum() * 5
    np.testing.assert_allclose(rotated @ rotated[:5].T, vectors @ vectors[:5].T, atol=1e-4)


def test_full_dimension_results_unchanged_and_prefixes_served(dense: DenseIndex, queries: np.ndarray) -> None:
    assert dense.supported_dims == [384, 128, 64, 32]
    assert dense.search_dims(queries, 10, 384) == dense.search(queries, 10)
    low = dense.search_dims(queries, 10, 32)
    assert low != dense.search(queries, 10)
    # A 32-dim prefix still finds the same best doc for at least one of these queries.
    assert any(lo[0][0] == hi[0][0] for lo, hi in zip(low, dense.search(queries, 10), strict=True))
    with pytest.raises(InvalidInput, match=r"serves dims \[384, 128, 64, 32\].*48 dims"):
        dense.search_dims(queries, 10, 48)


def test_funnel_over_every_doc_equals_exact_search(dense: DenseIndex, queries: np.ndarray) -> None:
    exact = dense.search(queries, 10)
    rows, rescored = dense.search_funnel(queries, 10, FunnelSpec(dims=64, code="fp32", shortlist=10_000))
    assert rescored == len(dense.docids)
    for got, want in zip(rows, exact, strict=True):
        assert [d for d, _ in got] == [d for d, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)


@pytest.mark.parametrize("code", ["sq8", "binary"])
def test_compressed_shortlists_keep_the_top_hit(dense: DenseIndex, queries: np.ndarray, code: str) -> None:
    exact = dense.search(queries, 5)
    rows, rescored = dense.search_funnel(queries, 5, FunnelSpec(dims=64, code=code, shortlist=50))
    assert rescored == 50
    assert [r[0][0] for r in rows] == [e[0][0] for e in exact]


def test_index_records_sizes_and_refuses_bad_specs(dense: DenseIndex, index_root: Path) -> None:
    info = dense.manifest.build["matryoshka"]
    assert info["transform"] == "pca" and info["full_dims"] == 384
    n = len(dense.docids)
    assert info["resident_bytes"]["64-sq8"] == 64 * n and info["resident_bytes"]["64-binary"] == 8 * n
    with pytest.raises(InvalidInput, match="> the index's 384"):
        add_matryoshka(index_root / "sf" / "indexes" / "dense", MatryoshkaSpec(dims=(512,)))
    with pytest.raises(InvalidInput, match="funnel's 64-dim binary index is not among"):
        add_matryoshka(index_root / "sf" / "indexes" / "dense",
                       MatryoshkaSpec(dims=(64,), codes=("fp32",), funnel=FunnelSpec(code="binary")))
    with pytest.raises(ValueError, match="multiples of 8"):
        MatryoshkaSpec(dims=(30,))


def test_index_without_prefixes_says_how_to_add_them(index_root: Path, queries: np.ndarray) -> None:
    hnsw = DenseIndex(index_root / "sf" / "indexes" / "dense-hnsw")
    assert hnsw.supported_dims == [384]
    with pytest.raises(InvalidInput, match="sieve index matryoshka"):
        hnsw.search_dims(queries, 5, 64)


def test_supervised_adaptor_trains_saves_and_serves(
    index_root: Path, scifact_slice: Path, tmp_path: Path, queries: np.ndarray
) -> None:
    folder = tmp_path / "dense"
    shutil.copytree(index_root / "sf" / "indexes" / "dense", folder)
    before = IndexManifest.read(folder).version
    index = DenseIndex(folder)
    supervision = supervision_from_beir(BeirDataset.open(scifact_slice), "test", build_encoder(EncoderSpec()), index)
    assert len(supervision.pairs) >= 30
    spec = MatryoshkaSpec(transform="adaptor", dims=(384, 64), codes=("fp32",), adaptor_steps=15,
                          funnel=FunnelSpec(dims=64, code="fp32"))
    manifest = add_matryoshka(folder, spec, supervision)
    assert manifest.version != before
    assert manifest.build["matryoshka"]["supervised_pairs"] == len(supervision.pairs)
    transform = PrefixTransform.load(folder)
    assert transform.kind == "adaptor" and not transform.preserves_full_scores
    adapted = DenseIndex(folder)
    rows = adapted.search_dims(queries, 5, 64)
    assert len(rows) == 3 and all(len(r) == 5 for r in rows)
    # The adaptor's own 384-dim space is served from its prefix index, not the untouched plain index.
    adapted_scores = [s for _, s in adapted.search_dims(queries, 5, 384)[0]]
    plain_scores = [s for _, s in adapted.search(queries, 5)[0]]
    assert np.abs(np.array(adapted_scores) - np.array(plain_scores)).max() > 1e-4
