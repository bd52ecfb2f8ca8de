"""Matryoshka structure on the real SciFact-slice vectors: transforms, prefix indexes, the funnel, the adaptor."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex, DenseSearchOptions
from indexers.encoders import EncoderSpec, build_encoder
from indexers.manifest import IndexManifest
from indexers.matryoshka import FunnelOptions, FunnelSpec, MatryoshkaSpec, PrefixTransform
from indexers.matryoshka.build import add_matryoshka
from indexers.matryoshka.transform import fit_pca
from kernel.errors import InvalidInput
from training.matryoshka_supervision import supervision_from_beir

QUERIES = ["Vitamin D deficiency increases cancer risk", "stem cells regenerate heart tissue",
           "antibiotic resistance in hospital bacteria"]


@pytest.fixture(scope="module")
def dense(index_root: Path) -> DenseIndex:
    return DenseIndex(index_root / "sf" / "indexes" / "dense")


def at_dims(dims: int) -> DenseSearchOptions:
    return DenseSearchOptions(dimensions=dims)


def funnel(**fields: object) -> DenseSearchOptions:
    return DenseSearchOptions(funnel=FunnelOptions(**fields))


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
    assert dense.search(queries, 10, at_dims(384)) == dense.search(queries, 10)
    low = dense.search(queries, 10, at_dims(32))
    assert low != dense.search(queries, 10)
    # A 32-dim prefix still finds the same best doc for at least one of these queries.
    assert any(lo[0][0] == hi[0][0] for lo, hi in zip(low, dense.search(queries, 10), strict=True))
    with pytest.raises(InvalidInput, match=r"serves dims \[384, 128, 64, 32\].*48 dims"):
        dense.search(queries, 10, at_dims(48))


def test_funnel_over_every_doc_equals_exact_search(dense: DenseIndex, queries: np.ndarray) -> None:
    exact = dense.search(queries, 10)
    counts: dict[str, int] = {}
    rows = dense.search(queries, 10, funnel(dims=64, code="fp32", shortlist=10_000), counts=counts)
    assert counts == {"rescored": len(dense.docids)}
    for got, want in zip(rows, exact, strict=True):
        assert [d for d, _ in got] == [d for d, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)


@pytest.mark.parametrize("code", ["sq8", "binary"])
def test_compressed_shortlists_keep_the_top_hit(dense: DenseIndex, queries: np.ndarray, code: str) -> None:
    exact = dense.search(queries, 5)
    counts: dict[str, int] = {}
    rows = dense.search(queries, 5, funnel(dims=64, code=code, shortlist=50), counts=counts)
    assert counts == {"rescored": 50}
    assert [r[0][0] for r in rows] == [e[0][0] for e in exact]


def test_funnel_fields_left_out_take_the_built_funnel(dense: DenseIndex, queries: np.ndarray) -> None:
    built = FunnelSpec.model_validate(dense.manifest.build["matryoshka"]["funnel"])
    counts: dict[str, int] = {}
    rows = dense.search(queries, 5, funnel(shortlist=40), counts=counts)
    assert counts == {"rescored": 40}
    assert rows == dense.search(queries, 5, funnel(dims=built.dims, code=built.code, shortlist=40))
    # The funnel wins over a prefix dimension asked for in the same options.
    both = DenseSearchOptions(dimensions=32, funnel=FunnelOptions(shortlist=40))
    assert dense.search(queries, 5, both) == rows


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
        hnsw.search(queries, 5, at_dims(64))
    with pytest.raises(InvalidInput, match="has no funnel"):
        hnsw.search(queries, 5, funnel())


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
    rows = adapted.search(queries, 5, at_dims(64))
    assert len(rows) == 3 and all(len(r) == 5 for r in rows)
    # This index's funnel is built on fp32 codes only: unset fields take that, not FunnelSpec's class default (sq8).
    assert len(adapted.search(queries, 5, funnel())[0]) == 5
    # The adaptor's own 384-dim space is served from its prefix index, not the untouched plain index.
    adapted_scores = [s for _, s in adapted.search(queries, 5, at_dims(384))[0]]
    plain_scores = [s for _, s in adapted.search(queries, 5)[0]]
    assert np.abs(np.array(adapted_scores) - np.array(plain_scores)).max() > 1e-4
