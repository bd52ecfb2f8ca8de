"""Collections admin over real HTTP: create, upsert, delete, rebuild, drop; an index swap under live search load."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from indexers.corpus import BeirDataset
from service.config import Settings
from service.main import create_app
from tests.servers import serve_in_thread

DENSE = [{"name": "dense", "backend": "onnx"}]


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own, over an index root that starts empty (the shared ``sf`` collection stays untouched)."""
    settings = Settings(index_root=tmp_path_factory.mktemp("admin-root"), workers=2)
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def documents(scifact_slice: Path) -> list[dict[str, str]]:
    docs = itertools.islice(BeirDataset.open(scifact_slice).corpus(), 20)
    return [{"id": d.id, "title": d.title, "text": d.text} for d in docs]


async def _versions(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """The collection's version (it moves on every change: cache keys follow) and each index's (a write is logged
    and searchable from the delta: no index is rebuilt, so index versions move only at a merge or rebuild)."""
    col = next(c for c in (await client.get("/v1/collections")).json()["collections"] if c["name"] == name)
    return {"": col["version"], **{i["name"]: i["version"] for i in col["indexes"]}}


async def test_create_then_swap_under_load(admin_server: str, documents: list[dict[str, str]]) -> None:
    async with httpx.AsyncClient(base_url=admin_server, timeout=120) as client:
        resp = await client.post("/v1/collections", json={"name": "live", "documents": documents, "dense": DENSE})
        assert resp.status_code == 201, resp.text
        assert resp.json()["doc_count"] == 20 and set(resp.json()["versions"]) == {"bm25", "dense"}
        before = await _versions(client, "live")
        query = {"collection": "live", "query": "hypersonic flow over slender cones", "k": 3, "retriever": "hybrid"}
        statuses: list[int] = []
        done = asyncio.Event()

        async def load() -> None:  # bounded: stops when the change is done, or after 2,000 requests
            for _ in range(2000):
                statuses.append((await client.post("/v1/search", json=query)).status_code)
                if done.is_set():
                    return

        new = {"id": "cone-1", "title": "Hypersonic flow", "text": "Hypersonic flow over slender cones at Mach 8"}
        workers = [asyncio.create_task(load()) for _ in range(4)]
        change = await client.post("/v1/collections/live/documents", json={"documents": [new]})
        done.set()
        await asyncio.gather(*workers)
        assert change.status_code == 200, change.text
        assert change.json()["added"] == 1 and change.json()["doc_count"] == 21
        assert len(statuses) >= 4 and set(statuses) == {200}
        after = await _versions(client, "live")
        assert after[""] != before[""] and {n: v for n, v in after.items() if n} == {
            n: v for n, v in before.items() if n}
        hits = (await client.post("/v1/search", json=query)).json()["hits"]
        assert hits[0]["id"] == "cone-1"


async def test_delete_rebuild_drop_and_bad_input(admin_server: str, documents: list[dict[str, str]]) -> None:
    async with httpx.AsyncClient(base_url=admin_server, timeout=120) as client:
        assert (await client.post("/v1/collections", json={"name": "small", "documents": documents[:5],
                                                           "dense": DENSE})).status_code == 201
        gone = documents[0]["id"]
        resp = await client.post("/v1/collections/small/documents/delete", json={"ids": [gone, "missing"]})
        assert resp.status_code == 200 and resp.json()["deleted"] == 1 and resp.json()["not_found"] == ["missing"]
        ids = {h["id"] for h in (await client.post("/v1/search", json={
            "collection": "small", "query": documents[0]["title"], "k": 10, "retriever": "sparse"})).json()["hits"]}
        assert gone not in ids
        rebuilt = await client.post("/v1/collections/small/rebuild")
        assert rebuilt.status_code == 200 and rebuilt.json()["doc_count"] == 4
        bad = [
            (await client.post("/v1/collections", json={"name": "small", "documents": documents[:1]}), 422,
             "already exists"),
            (await client.post("/v1/collections", json={"name": "x", "documents": []}), 422, "documents"),
            (await client.post("/v1/collections", json={"name": "../etc", "documents": documents[:1]}), 422, "name"),
            (await client.post("/v1/collections/nope/documents", json={"documents": documents[:1]}), 404,
             "unknown collection 'nope'"),
            (await client.post("/v1/collections/small/documents", json={"documents": [{"id": " ", "text": "x"}]}),
             422, "documents.0.id"),
            (await client.post("/v1/collections/small/documents/delete", json={"ids": []}), 422, "ids"),
        ]
        for resp, status, message in bad:
            assert resp.status_code == status, resp.text
            assert message in resp.json()["error"]["message"]
        assert (await client.delete("/v1/collections/small")).status_code == 204
        resp = await client.post("/v1/search", json={"collection": "small", "query": "x"})
        assert resp.status_code == 404
        assert (await client.delete("/v1/collections/small")).status_code == 404
