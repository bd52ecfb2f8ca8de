"""Metadata filters inside each retriever, on a SciFact slice with synthetic metadata (year = crc32(id) % 20 + 2000,
tag = one of a, b, c, d by crc32(id) // 20 % 4): a filtered top-k equals the exact post-filtering of the same index's
unfiltered FULL ranking (k = every document), ids and scores, and k hits come back whenever k documents match."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from indexers.collection import Collection, open_collection
from indexers.corpus import BeirDataset
from indexers.dense.options import DenseSearchOptions
from indexers.docstore import DocStore
from indexers.encoders import EncoderSpec, build_encoder
from indexers.filters import AllowedDocs, Filter, MetadataTable
from indexers.matryoshka.spec import FunnelOptions
from kernel.types import Doc

TAGS = ("a", "b", "c", "d")


def synthetic(doc_id: str) -> dict[str, Any]:
    h = zlib.crc32(doc_id.encode())
    return {"year": h % 20 + 2000, "tag": TAGS[h // 20 % 4], "date": f"{2000 + h % 20}-0{1 + h % 9}-15"}


def write_with_metadata(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    lines = [json.loads(line) for line in (src / "corpus.jsonl").open() if line.strip()]
    (dst / "corpus.jsonl").write_text("".join(json.dumps({**d, "metadata": synthetic(d["_id"])}) + "\n"
                                              for d in lines))
    return dst


@pytest.fixture(scope="module")
def meta_collection(meta_root: Path) -> Collection:
    """The slice with metadata (conftest ``meta_root``)."""
    return open_collection(meta_root / "meta")


@pytest.fixture(scope="module")
def table(meta_collection: Collection) -> MetadataTable:
    return MetadataTable(meta_collection.docs.iter_metadata())


@pytest.fixture(scope="module")
def queries(scifact_slice: Path) -> list[str]:
    return list(BeirDataset.open(scifact_slice).queries("test").values())[:6]


FILTERS = [  # from about three quarters of the slice down to a single document (the last one is set per test)
    {"not": {"field": "tag", "eq": "a"}},
    {"field": "year", "lt": 2010},
    {"field": "tag", "in": ["a"]},
    {"and": [{"field": "year", "gte": 2004}, {"field": "year", "lte": 2005}, {"not": {"field": "tag", "eq": "b"}}]},
    {"field": "date", "gte": "2019-01-01T00:00:00Z"},
]


def _filters(table: MetadataTable) -> list[tuple[Filter, AllowedDocs]]:
    out = [(f := Filter.model_validate(raw), table.allowed(f)) for raw in FILTERS]
    one = table.ids[7]
    out.append((f := Filter.model_validate({"field": "year", "eq": synthetic(one)["year"]}), table.allowed(f)))
    out.append((f := Filter.model_validate({"field": "tag", "eq": "nope"}), table.allowed(f)))
    return out


def _post(full: Sequence[tuple[str, float]], allowed: AllowedDocs, k: int) -> list[tuple[str, float]]:
    return [(d, s) for d, s in full if d in allowed.ids][:k]


def test_table_matches_python_evaluation(meta_collection: Collection, table: MetadataTable) -> None:
    meta: dict[str, Any] = {d.id: d.metadata for d in meta_collection.docs.iter_docs()}
    assert all(m == synthetic(i) for i, m in meta.items())
    expect = [
        {i for i, m in meta.items() if m["tag"] != "a"},
        {i for i, m in meta.items() if m["year"] < 2010},
        {i for i, m in meta.items() if m["tag"] == "a"},
        {i for i, m in meta.items() if 2004 <= m["year"] <= 2005 and m["tag"] != "b"},
        {i for i, m in meta.items() if m["date"] >= "2019-01-01"},
    ]
    for raw, want in zip(FILTERS, expect, strict=True):
        assert table.allowed(Filter.model_validate(raw)).ids == want and want
    sizes = [len(a) for _, a in _filters(table)]
    assert sizes[0] > len(meta) // 2 and sizes[1] > len(meta) // 3 and sizes[-2] >= 1 and sizes[-1] == 0


@pytest.mark.parametrize("name", ["bm25", "bm25-lucene"])
def test_bm25_filtered_equals_post_filtered_full_ranking(meta_collection: Collection, table: MetadataTable,
                                                         queries: list[str], name: str) -> None:
    index = meta_collection.sparse[name]
    n = meta_collection.docs.count
    for query in queries:
        full = index.search(query, n)
        for _, allowed in _filters(table):
            for k in (1, 10):
                got = index.search(query, k, None, allowed)
                want = _post(full, allowed, k)
                assert [d for d, _ in got] == [d for d, _ in want]
                # Anserini rounds BM25 to 4 decimals and then subtracts 1e-6 per tied document to keep ties in
                # docid order: a document's score moves by a few 1e-6 with which tied peers share the list.
                assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-4 if "lucene" in name
                                                            else 1e-9)
                assert len(got) == min(k, len([d for d, _ in full if d in allowed.ids]))


def _dense_queries(collection: Collection, queries: list[str]) -> Any:
    return build_encoder(EncoderSpec()).encode_queries(queries)


@pytest.mark.parametrize("exact_rows", [0, 10_000], ids=["faiss-selector", "exact-rows"])
def test_dense_flat_filtered_equals_post_filtered_full_ranking(meta_collection: Collection, table: MetadataTable,
                                                               queries: list[str], exact_rows: int) -> None:
    index = meta_collection.dense["dense"]
    index.filter_exact_rows = exact_rows
    vectors = _dense_queries(meta_collection, queries)
    n = len(index.docids)
    fulls = index.search(vectors, n)
    for _, allowed in _filters(table):
        counts: dict[str, int] = {}
        got = index.search(vectors, 10, counts=counts, allowed=allowed)
        assert counts["allowed"] == len(allowed)
        assert counts.get("exact", 0) == (len(queries) if exact_rows and len(allowed) else 0)
        for rows, full in zip(got, fulls, strict=True):
            want = _post(full, allowed, 10)
            assert [d for d, _ in rows] == [d for d, _ in want]
            assert [s for _, s in rows] == pytest.approx([s for _, s in want], abs=1e-5)
            assert len(rows) == min(10, len(allowed))


def test_dense_hnsw_filtered(meta_collection: Collection, table: MetadataTable, queries: list[str]) -> None:
    """HNSW under a selector is approximate: asserted are k hits when k match, only allowed documents, each with its
    exact score (HNSW32 stores full vectors), and recall@10 of the exact filtered top 10 at least 0.9 (on this
    200-document slice HNSW finds all of them; measured, not assumed). Short answers fall back to exact scoring."""
    index = meta_collection.dense["dense-hnsw"]
    index.filter_exact_rows = 0
    vectors = _dense_queries(meta_collection, queries)
    exact = meta_collection.dense["dense"].search(vectors, len(index.docids))
    found = wanted = 0
    for _, allowed in _filters(table):
        got = index.search(vectors, 10, allowed=allowed)
        for rows, full in zip(got, exact, strict=True):
            scores = dict(full)
            assert len(rows) == min(10, len(allowed))
            assert all(d in allowed.ids for d, _ in rows)
            assert [s for _, s in rows] == pytest.approx([scores[d] for d, _ in rows], abs=1e-5)
            want = {d for d, _ in _post(full, allowed, 10)}
            found, wanted = found + len(want & {d for d, _ in rows}), wanted + len(want)
    assert found / wanted >= 0.9
    index.filter_exact_rows = 10_000  # the exact route: equal to the Flat post-filtered ranking
    for _, allowed in _filters(table):
        for rows, full in zip(index.search(vectors, 10, allowed=allowed), exact, strict=True):
            assert [d for d, _ in rows] == [d for d, _ in _post(full, allowed, 10)]


def test_hnsw_every_allowed_document_comes_back(meta_collection: Collection, queries: list[str]) -> None:
    """k = every allowed document (a filter keeping one in nine) through the HNSW selector with a tiny efSearch:
    whether HNSW finds them all or comes back short and the query is scored exactly, the answer is the exact
    filtered ranking of all of them."""
    index = meta_collection.dense["dense-hnsw"]
    index.filter_exact_rows = 0
    vectors = _dense_queries(meta_collection, queries)
    allowed = AllowedDocs(frozenset(index.docids[::9]), len(index.docids))
    exact = meta_collection.dense["dense"].search(vectors, len(index.docids))
    got = index.search(vectors, len(allowed), DenseSearchOptions(ef_search=1), allowed=allowed)
    for rows, full in zip(got, exact, strict=True):
        assert [d for d, _ in rows] == [d for d, _ in _post(full, allowed, len(allowed))]


@pytest.mark.parametrize("options", [DenseSearchOptions(dimensions=64), DenseSearchOptions(dimensions=384),
                                     DenseSearchOptions(funnel=FunnelOptions(dims=32, shortlist=200))],
                         ids=["prefix", "full-dimension", "funnel"])
def test_matryoshka_paths_filtered(meta_collection: Collection, table: MetadataTable, queries: list[str],
                                   options: DenseSearchOptions) -> None:
    index = meta_collection.dense["dense"]
    vectors = _dense_queries(meta_collection, queries)
    fulls = index.search(vectors, len(index.docids), options)
    for _, allowed in _filters(table):
        for rows, full in zip(index.search(vectors, 5, options, allowed=allowed), fulls, strict=True):
            want = _post(full, allowed, 5)
            assert [d for d, _ in rows] == [d for d, _ in want]
            assert [s for _, s in rows] == pytest.approx([s for _, s in want], abs=1e-5)


@pytest.mark.parametrize("bad", [
    {"field": "year"},  # no test
    {"field": "year", "eq": 1, "in": [1]},  # two tests
    {"and": []},
    {"field": "year", "gt": "last year"},
    {"field": "year", "gt": 1, "lt": "2020-01-01"},
    {"field": "year", "gt": 1, "gte": 2},
    {"field": "tag", "eq": ["a"]},
    {"field": "tag", "in": list(range(2000))},
    {"field": "tag", "eq": "a", "or": [{"field": "x", "eq": 1}]},
    {"year": 2020},
])
def test_grammar_refuses_bad_filters(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Filter.model_validate(bad)


def test_grammar_bounds_depth_and_size() -> None:
    node: dict[str, Any] = {"field": "a", "eq": 1}
    for _ in range(7):
        node = {"not": node}
    Filter.model_validate(node)  # 8 levels: accepted
    with pytest.raises(ValidationError, match="deeper than 8"):
        Filter.model_validate({"not": node})
    with pytest.raises(ValidationError, match="more than 64"):
        Filter.model_validate({"or": [{"and": [{"field": "a", "eq": i}] * 10} for i in range(7)]})


def test_lists_nested_and_kinds(tmp_path: Path) -> None:
    from indexers.docstore import write_docstore

    docs = [Doc("1", "x", metadata={"tags": ["a", "b"], "venue": {"name": "N"}, "n": 1, "ok": True}),
            Doc("2", "y", metadata={"tags": "b", "n": "1", "ok": 1}), Doc("3", "z")]
    write_docstore(docs, tmp_path / "docs.sqlite", version="v")
    store = DocStore(tmp_path / "docs.sqlite")
    assert store.get_many(["1", "3"]) == {"1": docs[0], "3": docs[2]}
    t = MetadataTable(store.iter_metadata())

    def ids(raw: dict[str, Any]) -> set[str]:
        return set(t.allowed(Filter.model_validate(raw)).ids)

    assert ids({"field": "tags", "eq": "a"}) == {"1"}
    assert ids({"field": "tags", "in": ["b"]}) == {"1", "2"}
    assert ids({"field": "venue.name", "eq": "N"}) == {"1"}
    assert ids({"field": "n", "eq": 1}) == {"1"}  # the string "1" is not the number 1
    assert ids({"field": "ok", "eq": True}) == {"1"}  # nor is 1 true
    assert ids({"not": {"field": "tags", "eq": "a"}}) == {"2", "3"}
    assert ids({"field": "venue", "exists": False}) == {"2", "3"}


def test_old_doc_store_without_metadata_column_opens(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL)")
    con.execute("INSERT INTO docs VALUES ('d1', 't', 'body')")
    con.commit()
    con.close()
    store = DocStore(path)
    assert not store.has_metadata
    assert list(store.iter_docs()) == [Doc("d1", "body", "t")]
    assert list(store.iter_metadata()) == [("d1", None)]
    assert MetadataTable(store.iter_metadata()).allowed(Filter(field="x", exists=False)).ids == {"d1"}
    assert np.array_equal(MetadataTable([]).evaluate(Filter(field="x", eq=1)), np.zeros(0, dtype=bool))


def test_dense_ivf_filtered(meta_collection: Collection, queries: list[str], tmp_path: Path) -> None:
    """IVF with the selector in SearchParametersIVF: one probed list of eight comes back short under a filter,
    and those queries are answered by exact scoring: k = every allowed document gives the exact filtered ranking."""
    import shutil

    import faiss

    from indexers.dense import DenseIndex

    folder = tmp_path / "dense-ivf"
    shutil.copytree(meta_collection.dense["dense-hnsw"].folder, folder)
    vectors = np.load(folder / "vectors.npy")
    ivf = faiss.index_factory(vectors.shape[1], "IVF8,Flat", faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors)
    ivf.add(vectors)
    faiss.write_index(ivf, str(folder / "index.faiss"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["build"]["ivf_nprobe"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    index = DenseIndex(folder)
    index.filter_exact_rows = 0
    qv = _dense_queries(meta_collection, queries)
    exact = meta_collection.dense["dense"].search(qv, len(index.docids))
    allowed = AllowedDocs(frozenset(index.docids[::6]), len(index.docids))
    counts: dict[str, int] = {}
    got = index.search(qv, len(allowed), counts=counts, allowed=allowed)
    assert counts["exact"] >= 1  # one list of eight cannot hold every allowed document
    for rows, full in zip(got, exact, strict=True):
        assert [d for d, _ in rows] == [d for d, _ in _post(full, allowed, len(allowed))]
    few = index.search(qv, 3, counts=counts, allowed=allowed)
    assert all(len(r) == 3 and all(d in allowed.ids for d, _ in r) for r in few)
