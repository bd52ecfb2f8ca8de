"""Filters over live writes: a document upserted after the build (in the delta segment, not yet merged) is filtered
by its own metadata, a base document whose replacement no longer matches is gone, and a filtered search equals the
allowed prefix of the unfiltered ranking on every retriever, base and delta together."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from tests.conftest import asgi_client
from tests.indexers.test_filters import synthetic

QUERY = "vitamin D deficiency and cancer risk"
ROUTES = [{"retriever": "sparse"}, {"retriever": "sparse", "sparse_index": "bm25-lucene"}, {"retriever": "dense"}]


async def _hits(api: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    r = await api.post("/v1/search", json={"collection": "meta", "query": QUERY, **body})
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["hits"]
    return hits


async def test_filters_see_live_writes(meta_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "idx"
    shutil.copytree(meta_root, root)
    async with asgi_client(Settings(index_root=root, workers=2)) as api:
        top = await _hits(api, k=5, retriever="dense")
        replaced, kept = top[0], top[1]
        new = {"id": "live-new", "title": "Vitamin D and cancer", "text": "Vitamin D deficiency raises cancer risk.",
               "metadata": {"tag": "live", "year": 1999}}
        moved = {"id": replaced["id"], "title": replaced["title"], "text": replaced["text"],
                 "metadata": {"tag": "moved", "year": 1990}}
        r = await api.post("/v1/collections/meta/documents", json={"documents": [new, moved]})
        assert r.status_code == 200, r.text
        for route in ROUTES:
            live = await _hits(api, k=3, filter={"field": "tag", "eq": "live"}, **route)
            assert [h["id"] for h in live] == ["live-new"] and live[0]["metadata"] == new["metadata"]
            old_tag = synthetic(replaced["id"])["tag"]
            same_tag = await _hits(api, k=200, filter={"field": "tag", "eq": old_tag}, **route)
            assert replaced["id"] not in [h["id"] for h in same_tag]  # its new metadata no longer matches
            moved_hits = await _hits(api, k=3, filter={"field": "tag", "eq": "moved"}, **route)
            assert [h["id"] for h in moved_hits] == [replaced["id"]]
            flt = {"field": "year", "lt": 2010}
            filtered = await _hits(api, k=10, filter=flt, **route)
            everything = await _hits(api, k=300, **route)
            allowed = [h["id"] for h in everything if (h.get("metadata") or {}).get("year", 9999) < 2010][:10]
            assert [h["id"] for h in filtered] == allowed and "live-new" in [h["id"] for h in everything]
        r = await api.post("/v1/collections/meta/documents/delete", json={"ids": [kept["id"], "live-new"]})
        assert r.status_code == 200, r.text
        tag = synthetic(kept["id"])["tag"]
        for route in ROUTES:
            ids = [h["id"] for h in await _hits(api, k=300, filter={"field": "tag", "eq": tag}, **route)]
            assert kept["id"] not in ids
            assert await _hits(api, k=3, filter={"field": "tag", "eq": "live"}, **route) == []

