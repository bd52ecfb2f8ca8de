"""Rerankers as served: ``/v1/search``'s ``rerank`` options, ``GET /v1/rerankers``, an LLM listwise reranker behind
the rerank routes, cross-encoder pairs micro-batched across concurrent requests, and a real hanging LLM endpoint
against the request deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rankers.cross_encoder import CrossEncoderReranker
from rankers.specs import CrossEncoderSpec, ListwiseSpec, LLMSpec
from service.config import Settings
from tests.conftest import asgi_client
from tests.servers import silent_server

QUERY = "Vitamin D deficiency increases the risk of cancer"
DOCS = ["Low serum vitamin D is associated with higher cancer incidence in a cohort study.",
        "Plate tectonics explains the distribution of earthquakes.",
        "Vitamin D supplementation and cancer mortality: a meta-analysis of randomised trials.",
        "A survey of football fans."]


@pytest.fixture(scope="module")
def hung_url() -> Iterator[str]:
    with silent_server() as url:
        yield url


@pytest.fixture(scope="module")
def served(rerank_settings: Settings, hung_url: str) -> Settings:
    """The rerank test settings plus two named LLM rerankers: SmolLM2 in-process, and one whose endpoint hangs."""
    rankers = {
        "smollm2-listwise": ListwiseSpec(window=4, stride=2, max_passage_words=30),
        "hung-listwise": ListwiseSpec(llm=LLMSpec(backend="openai", model="m", base_url=hung_url, timeout_s=30,
                                                  max_retries=0)),
    }
    rerank = rerank_settings.rerank.model_copy(update={"rankers": rankers})
    return rerank_settings.model_copy(update={"rerank": rerank})


@pytest.fixture(scope="module")
async def api(served: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(served) as c:
        yield c


async def test_rerankers_are_listed(api: httpx.AsyncClient, tiny_ce: Path) -> None:
    body = (await api.get("/v1/rerankers")).json()
    names = [r["name"] for r in body["rerankers"]]
    assert names == [str(tiny_ce), "sentence-transformers/all-MiniLM-L6-v2", "smollm2-listwise", "hung-listwise"]
    assert body["rerankers"][0]["spec"]["kind"] == "cross-encoder"
    assert body["rerankers"][2]["spec"]["kind"] == "listwise" and body["search"] is None


async def test_search_rerank_options(api: httpx.AsyncClient, tiny_ce: Path) -> None:
    base = {"collection": "sf", "query": QUERY, "k": 6, "retriever": "sparse", "timeout_ms": 60_000}
    first = (await api.post("/v1/search", json={**base, "k": 8})).json()["hits"]
    resp = await api.post("/v1/search", json={**base, "rerank": {"model": str(tiny_ce), "depth": 8, "top_n": 4,
                                                                 "blend": 0.5}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["counts"]["rerank.pairs"] == 4 and "rerank" in body["timings_ms"] and body["degraded"] == []
    hits = body["hits"]
    assert sorted(h["id"] for h in hits[:4]) == sorted(h["id"] for h in first[:4])  # only the head is rescored
    assert all("cross_encoder" in h["stage_scores"] for h in hits[:4])
    assert [h["id"] for h in hits[4:]] == [h["id"] for h in first[4:6]]
    raw = np.array([h["stage_scores"]["cross_encoder"] for h in hits[:4]])
    bm25 = np.array([h["stage_scores"]["sparse"] for h in hits[:4]])
    minmax = lambda a: (a - a.min()) / (a.max() - a.min())  # noqa: E731
    assert np.allclose([h["score"] for h in hits[:4]], 0.5 * minmax(raw) + 0.5 * minmax(bm25), atol=1e-5)


@pytest.mark.parametrize(("rerank", "status", "needle"), [
    ({"model": "gpt-9"}, 404, "unknown rerank model 'gpt-9'"),
    ({"blend": 1.5}, 422, "blend"),
    ({"depth": 0}, 422, "depth"),
    ({"window": 3}, 422, "window"),
])
async def test_bad_rerank_options(api: httpx.AsyncClient, rerank: dict[str, object], status: int,
                                  needle: str) -> None:
    resp = await api.post("/v1/search", json={"collection": "sf", "query": QUERY, "rerank": rerank})
    assert resp.status_code == status, resp.text
    assert needle in resp.text


async def test_an_llm_listwise_reranker_behind_the_cohere_route(api: httpx.AsyncClient) -> None:
    resp = await api.post("/v2/rerank", json={"model": "smollm2-listwise", "query": QUERY, "documents": DOCS,
                                              "timeout_ms": 60_000})
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3]
    assert [r["relevance_score"] for r in results] == [1.0, 0.75, 0.5, 0.25]  # (n - rank) / n


async def test_a_hung_llm_endpoint_gets_a_504_on_time(api: httpx.AsyncClient) -> None:
    start = time.perf_counter()
    resp = await api.post("/v2/rerank", json={"model": "hung-listwise", "query": QUERY, "documents": DOCS,
                                              "timeout_ms": 400})
    elapsed = time.perf_counter() - start
    assert resp.status_code == 504 and resp.json()["error"]["type"] == "DeadlineExceeded"
    assert "within the 400 ms budget" in resp.json()["error"]["message"]
    assert 0.35 < elapsed < 1.5, elapsed


async def test_search_with_a_hung_llm_reranker_degrades_on_time(api: httpx.AsyncClient) -> None:
    body = {"collection": "sf", "query": QUERY, "k": 3, "retriever": "sparse", "timeout_ms": 500,
            "rerank": {"model": "hung-listwise", "depth": 5}}
    start = time.perf_counter()
    resp = await api.post("/v1/search", json=body)
    elapsed = time.perf_counter() - start
    assert resp.status_code == 200, resp.text
    assert resp.json()["degraded"] == ["rerank"] and len(resp.json()["hits"]) == 3
    assert 0.45 < elapsed < 1.5, elapsed


async def test_concurrent_rerank_requests_share_model_calls(api: httpx.AsyncClient, tiny_ce: Path) -> None:
    queries = [f"{QUERY} {i}" for i in range(8)]
    replies = await asyncio.gather(*(api.post("/rerank", json={"query": q, "texts": DOCS, "raw_scores": True})
                                     for q in queries))
    assert all(r.status_code == 200 for r in replies)
    direct = CrossEncoderReranker(CrossEncoderSpec(model=str(tiny_ce), max_length=128))
    for q, reply in zip(queries, replies, strict=True):
        want = direct.score(q, DOCS).scores
        got = {r["index"]: r["score"] for r in reply.json()}
        assert np.allclose([got[i] for i in range(len(DOCS))], want, atol=1e-4)
    metrics = (await api.get("/metrics")).text
    samples = {(s.name, s.labels.get("batcher", "")): s.value for f in text_string_to_metric_families(metrics)
               for s in f.samples}
    name = f"rerank:torch:{tiny_ce}"
    assert samples[("sieve_batch_size_sum", name)] >= 8 * len(DOCS)
    assert samples[("sieve_batch_size_count", name)] < 8  # 8 requests' pairs in fewer model calls
