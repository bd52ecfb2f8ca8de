"""Rankers' shared fixture: a real query's BM25 candidates with texts, from the SciFact slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers.collection import open_collection
from indexers.corpus import BeirDataset
from kernel.types import Hit


@pytest.fixture(scope="session")
def hits(index_root: Path, scifact_slice: Path) -> tuple[str, list[Hit]]:
    """A real query's BM25 top 12 with texts."""
    collection = open_collection(index_root / "sf")
    qid, query = next(iter(BeirDataset.open(scifact_slice).queries("test").items()))
    found = next(iter(collection.sparse.values())).search(query, 12)
    docs = collection.docs.get_many([d for d, _ in found])
    return query, [Hit(d, s, docs[d].title, docs[d].text, {"sparse": s}) for d, s in found]
