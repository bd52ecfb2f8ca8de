"""The served rerankers' pool stays flat: many ``/v1/search`` and ``/v2/rerank`` requests with distinct ``rerank``
options (``top_n``, ``blend``) share one live cross-encoder and one loaded model, and each answer follows its own
options (and its own result-cache entry)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from rankers.registry import RerankerPool
from rankers.specs import CrossEncoderSpec
from service.config import Settings
from service.main import create_app

QUERY = "Vitamin D deficiency increases the risk of cancer"
DOCS = ["Low serum vitamin D is associated with higher cancer incidence in a cohort study.",
        "Plate tectonics explains the distribution of earthquakes.",
        "Vitamin D supplementation and cancer mortality: a meta-analysis of randomised trials."]
FLAT = {"rerankers": 1, "pair_models": 1, "llms": 0}


@pytest.fixture(scope="module")
async def app(rerank_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(rerank_settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=120) as client:
            yield app, client


def _pool(app: FastAPI) -> RerankerPool:
    return app.state.registry.rerankers.pool  # type: ignore[no-any-return]


async def _search(client: httpx.AsyncClient, rerank: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"collection": "sf", "query": QUERY, "k": 8, "retriever": "sparse", "timeout_ms": 60_000}
    if rerank is not None:
        body["rerank"] = {"depth": 8, **rerank}
    resp = await client.post("/v1/search", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["degraded"] == []
    return resp.json()  # type: ignore[no-any-return]


async def test_distinct_rerank_options_share_one_reranker(app: tuple[FastAPI, httpx.AsyncClient],
                                                          tiny_ce: Path) -> None:
    served, client = app
    first = [h["id"] for h in (await _search(client, None))["hits"]]
    assert (await client.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})).status_code == 200
    assert _pool(served).sizes() == FLAT

    options = list(itertools.product([None, 1, 3, 5, 8], [0.0, 0.25, 0.5, 1.0]))
    searches = [_search(client, {"top_n": n, "blend": b}) for n, b in options]
    reranks = [client.post("/v2/rerank", json={"query": f"{QUERY} {i}", "documents": DOCS, "top_n": i % 3 + 1})
               for i in range(12)]
    answers = await asyncio.gather(*searches)
    assert all(r.status_code == 200 for r in await asyncio.gather(*reranks))
    assert _pool(served).sizes() == FLAT  # 20 option sets and 12 more rerank calls later: still one reranker, one model

    by_option = dict(zip(options, answers, strict=True))
    for (top_n, blend), body in by_option.items():
        hits = body["hits"]
        head = top_n or 8
        assert body["counts"]["rerank.pairs"] == head
        assert sorted(h["id"] for h in hits[:head]) == sorted(first[:head])  # only the head is rescored
        assert [h["id"] for h in hits[head:]] == first[head:]  # the tail keeps first-stage order
        raw = [h["stage_scores"]["cross_encoder"] for h in hits[:head]]
        if blend == 0.0:
            assert raw == sorted(raw, reverse=True)  # the cross-encoder's order
        if blend == 1.0:
            assert [h["id"] for h in hits] == first  # the first stage's order
    # blend 0 over the whole list is the model's own order on the same passages, scored in-process.
    hits = by_option[(None, 0.0)]["hits"]
    direct = CrossEncoderSpec(model=str(tiny_ce), max_length=128)
    want = _pool_scores(direct, [f"{h['title']} {h['text']}".strip() for h in hits])
    assert np.allclose([h["stage_scores"]["cross_encoder"] for h in hits], want, atol=1e-4)


def _pool_scores(spec: CrossEncoderSpec, passages: list[str]) -> list[float]:
    pool = RerankerPool()
    try:
        return pool.reranker(spec).score(QUERY, passages).scores.tolist()  # type: ignore[attr-defined, no-any-return]
    finally:
        pool.close()


async def test_each_option_set_has_its_own_cached_answer(app: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = app
    half = await _search(client, {"top_n": 4, "blend": 0.5})
    again = await _search(client, {"top_n": 4, "blend": 0.5})
    other = await _search(client, {"top_n": 4, "blend": 0.0})
    assert again["cached"] and again["hits"] == half["hits"]
    assert not other["cached"]
    assert [h["score"] for h in other["hits"][:4]] != [h["score"] for h in half["hits"][:4]]


async def test_the_pool_is_the_apps_and_closes_with_it(rerank_settings: Settings) -> None:
    app = create_app(rerank_settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=120) as client:
            assert (await client.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})).status_code == 200
        pool = _pool(app)
        assert pool.sizes() == FLAT
    assert pool.sizes() == {"rerankers": 0, "pair_models": 0, "llms": 0}  # shutdown let go of the model
