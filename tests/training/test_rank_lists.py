"""Listwise cross-encoder training data mined from the slice's real BM25 and dense indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers.collection import open_collection
from indexers.corpus import BeirDataset
from kernel.errors import InvalidInput
from kernel.types import Hit
from training.rank_lists import MiningSpec, first_stage_texts, fuse_minmax, mine_rank_lists


def test_fuse_minmax_matches_hand_values() -> None:
    fused = fuse_minmax([[Hit("a", 10.0), Hit("b", 6.0), Hit("c", 2.0)], [Hit("c", 0.9), Hit("a", 0.5)]])
    assert fused == pytest.approx({"a": 0.5 * 1.0 + 0.5 * 0.0, "b": 0.5 * 0.5, "c": 0.5 * 0.0 + 0.5 * 1.0})


def test_lists_put_judged_docs_first_with_gold_plus_teacher_labels(index_root: Path, scifact_slice: Path) -> None:
    dataset = BeirDataset.open(scifact_slice)
    spec = MiningSpec(depth=10, negatives=4, gold_weight=4.0, teacher_weight=2.0)
    lists = mine_rank_lists(dataset, "test", open_collection(index_root / "sf"), spec)
    qrels, queries = dataset.qrels("test"), dataset.queries("test")
    assert len(lists) == len(queries)
    for rl in lists:
        n_pos = len(rl.positives)
        assert set(rl.doc_ids[:n_pos]) == set(rl.positives) == {d for d, g in qrels[rl.qid].items() if g > 0}
        assert not set(rl.doc_ids[n_pos:]) & set(qrels[rl.qid]) and len(rl.doc_ids[n_pos:]) <= 4
        assert len(set(rl.doc_ids)) == len(rl.doc_ids) == len(rl.docs) == len(rl.labels)
        assert all(4.0 <= lab <= 6.0 for lab in rl.labels[:n_pos])
        assert all(0.0 <= lab <= 2.0 for lab in rl.labels[n_pos:])
        assert rl.query == queries[rl.qid]


def test_first_stage_texts_and_refusals(index_root: Path, scifact_slice: Path) -> None:
    dataset = BeirDataset.open(scifact_slice)
    collection = open_collection(index_root / "sf")
    texts = first_stage_texts(dataset, "test", collection, 5)
    assert len(texts) == 30 and all(len(t) == 5 and all(t) for t in texts.values())
    with pytest.raises(InvalidInput, match="needs a sparse and a dense index"):
        mine_rank_lists(dataset, "test", type(collection)(collection.name, collection.folder, collection.docs))
