"""Live collection changes on real indexes: create, upsert, delete, rebuild — copy-on-write, new versions."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from indexers.collection import list_collections, open_collection
from indexers.corpus import BeirDataset
from indexers.create import create_collection
from indexers.dense import DenseIndexSpec
from indexers.matryoshka import MatryoshkaSpec, PrefixTransform
from indexers.matryoshka.build import add_matryoshka
from indexers.segments.merge import apply_changes
from indexers.updates import delete_collection
from kernel.errors import InvalidInput, NotFound
from kernel.types import Doc
from tests.indexers.conftest import ENCODER


@pytest.fixture(scope="module")
def docs(scifact_slice: Path) -> list[Doc]:
    return list(itertools.islice(BeirDataset.open(scifact_slice).corpus(), 25))


@pytest.fixture()
def root(tmp_path: Path, docs: list[Doc]) -> Path:
    create_collection(tmp_path, "live", docs, [DenseIndexSpec(encoder=ENCODER)])
    add_matryoshka(tmp_path / "live" / "indexes" / "dense", MatryoshkaSpec(dims=(64, 32)))
    return tmp_path


def test_create_refuses_duplicates_and_empty(root: Path, docs: list[Doc]) -> None:
    with pytest.raises(InvalidInput, match="already exists"):
        create_collection(root, "live", docs, [])
    with pytest.raises(InvalidInput, match="at least one document"):
        create_collection(root, "empty", [], [])


def test_upsert_and_delete_rebuild_every_index(root: Path, docs: list[Doc], encoder_for) -> None:  # type: ignore[no-untyped-def]
    before = open_collection(root / "live")
    old_versions = {n: i.manifest.version for n, i in {**before.sparse, **before.dense}.items()}
    old_vectors = dict(zip(before.dense["dense"].docids, np.asarray(before.dense["dense"].vectors()), strict=True))
    old_transform = PrefixTransform.load(root / "live" / "indexes" / "dense")
    new = Doc("new-1", "Hypersonic boundary layer transition on slender cones", "Wind tunnel study")
    replaced = Doc(docs[0].id, "Completely rewritten abstract about zebrafish fin regeneration", "Zebrafish")
    report = apply_changes(root, "live", encoder_for=encoder_for, upserts=[new, replaced],
                           deletes=[docs[1].id, "no-such-id"])
    assert (report.added, report.replaced, report.deleted, report.not_found) == (1, 1, 1, ["no-such-id"])
    assert report.doc_count == 25 and set(report.versions) == {"bm25", "dense"}
    after = open_collection(root / "live")
    assert all(after.sparse.get(n, after.dense.get(n)).manifest.version != v for n, v in old_versions.items())
    assert after.sparse["bm25"].search("hypersonic slender cones", 1)[0][0] == "new-1"
    assert docs[1].id not in after.docs.get_many([docs[1].id])
    assert after.docs.get_many([docs[0].id])[docs[0].id].title == "Zebrafish"
    dense = after.dense["dense"]
    q = encoder_for(ENCODER).encode_queries(["zebrafish fin regeneration"])
    assert dense.search(q, 1)[0][0][0] == docs[0].id
    vectors = dict(zip(dense.docids, np.asarray(dense.vectors()), strict=True))
    np.testing.assert_array_equal(vectors[docs[2].id], old_vectors[docs[2].id])  # reused, not re-encoded
    assert not np.allclose(vectors[docs[0].id], old_vectors[docs[0].id])  # replaced text, new vector
    np.testing.assert_allclose(vectors["new-1"], encoder_for(ENCODER).encode_docs([new.contents])[0], atol=1e-5)
    assert dense.supported_dims == [384, 64, 32]
    assert dense.manifest.build["matryoshka"]["reused_transform"] is True
    np.testing.assert_array_equal(PrefixTransform.load(dense.folder).rotation, old_transform.rotation)
    assert [p.name for p in list_collections(root)] == ["live"]


def test_rebuild_keeps_docs_and_moves_versions(root: Path, encoder_for) -> None:  # type: ignore[no-untyped-def]
    before = open_collection(root / "live").dense["dense"].manifest.version
    report = apply_changes(root, "live", encoder_for=encoder_for)
    assert report.doc_count == 25 and report.added == report.deleted == 0
    assert report.versions["dense"] != before


def test_bad_changes(root: Path, docs: list[Doc], encoder_for) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound, match="unknown collection 'nope'"):
        apply_changes(root, "nope", encoder_for=encoder_for)
    with pytest.raises(InvalidInput, match="duplicate ids"):
        apply_changes(root, "live", encoder_for=encoder_for, upserts=[docs[0], docs[0]])
    with pytest.raises(InvalidInput, match="leave the collection empty"):
        apply_changes(root, "live", encoder_for=encoder_for, deletes=[d.id for d in docs])
    assert open_collection(root / "live").docs.count == 25  # a refused change leaves the old version in place
    delete_collection(root, "live")
    assert list_collections(root) == []
