"""Weak supervision from the slice's own documents: title -> body and inverse-cloze sentence -> passage."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers.collection import open_collection
from kernel.errors import InvalidInput
from training.rank_lists import MiningSpec, mine_lists
from training.weak import weak_queries


def test_title_queries_hide_the_title_from_the_model(index_root: Path) -> None:
    collection = open_collection(index_root / "sf")
    source = weak_queries(collection, "title", 25, seed=1)
    assert len(source.queries) == 25
    docs = collection.docs.get_many([next(iter(j)) for j in source.qrels.values()])
    for qid, query in source.queries.items():
        (doc_id,) = source.qrels[qid]
        assert qid == f"weak-title:{doc_id}" and query == docs[doc_id].title
        assert source.text_of(docs[doc_id]) == docs[doc_id].text  # the body only
    lists = mine_lists(source, collection, MiningSpec(depth=10, negatives=3))
    assert len(lists) == 25
    for rl in lists:
        assert rl.positives == frozenset({rl.qid.split(":", 1)[1]}) and rl.doc_ids[0] in rl.positives
        assert rl.query not in rl.docs[0]  # the title is not in what the model reads
        assert len(rl.doc_ids) == 4 and rl.labels[0] == max(rl.labels)


def test_ict_queries_are_sentences_cut_out_of_their_passage(index_root: Path) -> None:
    collection = open_collection(index_root / "sf")
    source = weak_queries(collection, "ict", 10, seed=2)
    assert 0 < len(source.queries) <= 10
    for qid, sentence in source.queries.items():
        (doc_id,) = source.qrels[qid]
        doc = collection.docs.get_many([doc_id])[doc_id]
        assert sentence in doc.text and len(sentence.split()) >= 5
        assert sentence not in source.text_of(doc)
    # Other docs read unchanged.
    other = next(d for d in collection.docs.iter_docs() if f"weak-ict:{d.id}" not in source.queries)
    assert source.text_of(other) == other.text


def test_a_corpus_without_titles_gives_no_title_queries(tmp_path: Path) -> None:
    from indexers.collection import BuildPlan, build_collection

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "1", "text": "Just a body with no title at all here."}\n')
    build_collection(BuildPlan(name="nt", source=corpus, dense=()), tmp_path / "idx")
    with pytest.raises(InvalidInput, match="no documents that give 'title' queries"):
        weak_queries(open_collection(tmp_path / "idx" / "nt"), "title", 5)
