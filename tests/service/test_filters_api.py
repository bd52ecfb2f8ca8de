"""``filter`` over HTTP on the ``meta`` collection (the SciFact slice with synthetic metadata): every retriever
applies it, hits carry metadata, bad filters are 422s, the result cache keys on the filter, and the client, the
LangChain and the LlamaIndex adapters send filters in their own conventions that the server applies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.main import create_app
from sieve_client import SieveClient
from tests.conftest import asgi_client
from tests.indexers.test_filters import synthetic
from tests.servers import serve_in_thread

QUERY = "vitamin D deficiency and cancer risk"


@pytest.fixture(scope="module")
def meta_settings(meta_root: Path) -> Settings:
    return Settings(index_root=meta_root, workers=2)


@pytest.fixture(scope="module")
async def api(meta_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(meta_settings) as c:
        yield c


async def _search(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await api.post("/v1/search", json={"collection": "meta", "query": QUERY, **body})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.parametrize("route", [{"retriever": "sparse"}, {"retriever": "sparse", "sparse_index": "bm25-lucene"},
                                   {"retriever": "dense"}, {"retriever": "dense", "dense_index": "dense-hnsw"},
                                   {"retriever": "hybrid"}, {"retriever": "dense", "dimensions": 64}])
async def test_every_route_applies_the_filter(api: httpx.AsyncClient, route: dict[str, Any]) -> None:
    flt = {"and": [{"field": "tag", "in": ["a", "b"]}, {"field": "year", "gte": 2005}]}
    out = await _search(api, k=10, filter=flt, **route)
    assert len(out["hits"]) == 10 and out["counts"]["filter.allowed"] >= 10
    for hit in out["hits"]:
        assert hit["metadata"] == synthetic(hit["id"])
        assert hit["metadata"]["tag"] in ("a", "b") and hit["metadata"]["year"] >= 2005
    unfiltered = await _search(api, k=200, **route)
    if route["retriever"] != "hybrid":  # one retriever: the filtered top 10 is the unfiltered ranking's allowed top
        allowed = [h["id"] for h in unfiltered["hits"] if h["metadata"]["tag"] in ("a", "b")
                   and h["metadata"]["year"] >= 2005][:10]
        if route.get("dense_index") != "dense-hnsw":
            assert [h["id"] for h in out["hits"]] == allowed


async def test_single_document_filter_and_no_match(api: httpx.AsyncClient) -> None:
    everything = await _search(api, k=200, retriever="dense")
    one = everything["hits"][-1]["id"]  # the least similar document still comes back when it is the only one let in
    out = await _search(api, k=10, retriever="hybrid", filter={"or": [{"field": "year", "eq": -1},
                                                                       {"field": "tag", "in": ["zz"]}]})
    assert out["hits"] == []
    year = synthetic(one)["year"]
    same = [h["id"] for h in everything["hits"] if h["metadata"]["year"] == year]
    out = await _search(api, k=len(same) + 5, retriever="dense", filter={"field": "year", "eq": year})
    assert sorted(h["id"] for h in out["hits"]) == sorted(same) and one in same


@pytest.mark.parametrize("bad, words", [
    ({"field": "year"}, "a condition needs field"),
    ({"field": "year", "gt": "soon"}, "neither a number nor an ISO date"),
    ({"and": [{"field": "a", "eq": 1}], "or": [{"field": "a", "eq": 1}]}, "one of a condition, and, or, not"),
    ({"field": "tag", "like": "a"}, "Extra inputs"),
    ("tag = a", "valid dictionary"),
])
async def test_bad_filters_are_422(api: httpx.AsyncClient, bad: Any, words: str) -> None:
    r = await api.post("/v1/search", json={"collection": "meta", "query": QUERY, "filter": bad})
    assert r.status_code == 422
    assert words in str(r.json()["error"])


async def test_rm3_with_a_filter_on_lucene_is_refused(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/search", json={"collection": "meta", "query": QUERY, "retriever": "sparse",
                                           "sparse_index": "bm25-lucene", "bm25": {"rm3": True},
                                           "filter": {"field": "tag", "eq": "a"}})
    assert r.status_code == 422 and "RM3" in r.json()["error"]["message"]


async def test_cache_keys_on_the_filter(api: httpx.AsyncClient) -> None:
    for tag in ("a", "b", "a"):
        out = await _search(api, k=5, retriever="sparse", filter={"field": "tag", "eq": tag})
        assert {h["metadata"]["tag"] for h in out["hits"]} == {tag}


@pytest.fixture(scope="module")
def meta_server(meta_settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(meta_settings)) as url:
        yield url


def test_client_and_adapters_send_filters(meta_server: str) -> None:
    from llama_index.core.vector_stores.types import (
        ExactMatchFilter,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
    )

    from sieve_client.integrations.langchain import SieveRetriever as LangChainRetriever
    from sieve_client.integrations.llamaindex import SieveRetriever as LlamaRetriever

    with SieveClient(meta_server, timeout=60) as client:
        hits = client.search("meta", QUERY, k=8, retriever="hybrid", filter={"field": "year", "lt": 2006}).hits
        assert len(hits) == 8 and all(h.metadata and h.metadata["year"] < 2006 for h in hits)

        lc = LangChainRetriever(client=client, collection="meta", k=6, retriever="sparse",
                                filter={"tag": {"$in": ["c"]}})
        docs = lc.invoke(QUERY)
        assert len(docs) == 6 and {d.metadata["tag"] for d in docs} == {"c"}
        per_call = lc.invoke(QUERY, filter={"$and": [{"tag": "d"}, {"year": {"$gte": 2010}}]})
        assert per_call and all(d.metadata["tag"] == "d" and d.metadata["year"] >= 2010 for d in per_call)

        filters = MetadataFilters(filters=[
            ExactMatchFilter(key="tag", value="a"),
            MetadataFilters(filters=[MetadataFilter(key="year", value=2015, operator=FilterOperator.GTE),
                                     MetadataFilter(key="year", value=2002, operator=FilterOperator.LTE)],
                            condition=FilterCondition.OR)])
        nodes = LlamaRetriever(client, "meta", k=5, retriever="dense", filters=filters).retrieve(QUERY)
        assert len(nodes) == 5
        for n in nodes:
            meta = n.node.metadata
            assert meta["tag"] == "a" and (meta["year"] >= 2015 or meta["year"] <= 2002)


async def test_admin_documents_carry_metadata_that_filters_read(tmp_path: Path, scifact_slice: Path) -> None:
    """Documents sent to the admin API with metadata: stored, returned on hits, filtered on; upserts replace it."""
    from indexers.corpus import BeirDataset

    docs = [{"id": d.id, "title": d.title, "text": d.text, "metadata": {"n": i, "odd": i % 2 == 1}}
            for i, d in enumerate(BeirDataset.open(scifact_slice).corpus(limit=12))]
    async with asgi_client(Settings(index_root=tmp_path, workers=2)) as c:
        r = await c.post("/v1/collections", json={"name": "adm", "documents": docs,
                                                  "dense": [{"name": "dense", "backend": "onnx"}]})
        assert r.status_code == 201, r.text
        body = {"collection": "adm", "query": QUERY, "k": 12, "retriever": "hybrid",
                "filter": {"field": "odd", "eq": True}}
        hits = (await c.post("/v1/search", json=body)).json()["hits"]
        assert sorted(h["metadata"]["n"] for h in hits) == [1, 3, 5, 7, 9, 11]
        changed = {**docs[1], "metadata": {"n": 1, "odd": False}}
        assert (await c.post("/v1/collections/adm/documents", json={"documents": [changed]})).status_code == 200
        hits = (await c.post("/v1/search", json=body)).json()["hits"]
        assert sorted(h["metadata"]["n"] for h in hits) == [3, 5, 7, 9, 11]
        big = {**docs[0], "metadata": {"x": "y" * 20_000}}
        r = await c.post("/v1/collections/adm/documents", json={"documents": [big]})
        assert r.status_code == 422 and "16 KiB" in r.text
