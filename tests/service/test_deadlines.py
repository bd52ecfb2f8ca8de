"""Time budgets and graceful degradation: a hanging reranker, a failing one, a broken or slow retriever.

The rerankers here are stand-ins plugged into the real pipeline's rerank hook through the ``Reranker`` contract, for
behaviours a real model cannot produce on demand: one blocks until released, one raises, one reverses the order (to
show the hook applies a reranker's answer). A real LLM reranker whose endpoint hangs is in
``test_rerank_serving.py``. Likewise the broken/slow retrievers stand in for a dead index or model server.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from indexers.collection import open_collection
from indexers.filters import AllowedDocs
from kernel.types import Hit
from rankers.base import Reranker, RerankReport
from rankers.specs import RerankCall
from service.config import Settings
from service.deadlines import Deadline
from service.encoders import EncoderCache
from service.errors import DeadlineExceeded
from service.main import create_app
from service.pipeline import Pipeline
from service.retrieval import Trace
from service.specs import PipelineSpec

QUERY = "Vitamin D deficiency increases the risk of cancer"


class StandInReranker(Reranker):
    """Behaves by query prefix: ``hang:`` blocks until released (a deliberately hanging backend), ``fail:`` raises,
    anything else reverses the first-stage order."""

    name = "stand-in"

    def __init__(self) -> None:
        self.release = threading.Event()

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None,
                           call: RerankCall | None = None) -> RerankReport:
        if query.startswith("hang:"):
            self.release.wait(60)
        if query.startswith("fail:"):
            raise RuntimeError("cross-encoder server returned garbage")
        assert all(h.text for h in hits), "the rerank stage must see document texts"
        out = [h.with_score(float(i), "rerank") for i, h in enumerate(hits)][::-1]
        return RerankReport(out[:top_k])


class BrokenRetriever:
    stage = "dense"

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        raise RuntimeError("FAISS index file vanished")


class SlowRetriever:
    stage = "dense"

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        await asyncio.sleep(30)
        return []


@pytest.fixture(scope="module")
def reranker() -> Iterator[StandInReranker]:
    r = StandInReranker()
    yield r
    r.release.set()


@pytest.fixture(scope="module")
def rr_app(index_root: Path, reranker: StandInReranker) -> FastAPI:
    return create_app(Settings(index_root=index_root, workers=2), reranker=reranker)


@pytest.fixture(scope="module")
async def rr_client(rr_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(rr_app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=60) as c:
            yield c


async def search(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/v1/search", json={"collection": "sf", "k": 5, "retriever": "sparse", **body})


async def test_the_rerank_hook_applies_the_reranker(rr_client: httpx.AsyncClient) -> None:
    plain = (await search(rr_client, query=QUERY, rerank=False, depth=20, k=20)).json()
    reranked = (await search(rr_client, query=QUERY, depth=20)).json()
    assert reranked["degraded"] == [] and "rerank" in reranked["timings_ms"]
    assert [h["id"] for h in reranked["hits"]] == [h["id"] for h in plain["hits"]][::-1][:5]
    assert "rerank" in reranked["hits"][0]["stage_scores"] and "sparse" in reranked["hits"][0]["stage_scores"]
    assert "rerank" not in plain["timings_ms"]


async def test_a_hanging_reranker_returns_degraded_results_on_time(rr_client: httpx.AsyncClient) -> None:
    first_stage = (await search(rr_client, query="hang: " + QUERY, rerank=False)).json()
    for _ in range(2):  # the second time too: a degraded answer is never cached
        start = time.perf_counter()
        resp = await search(rr_client, query="hang: " + QUERY, timeout_ms=400)
        elapsed = time.perf_counter() - start
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["degraded"] == ["rerank"] and body["cached"] is False
        assert [h["id"] for h in body["hits"]] == [h["id"] for h in first_stage["hits"]]
        assert all(h["text"] for h in body["hits"])
        assert 0.35 < elapsed < 1.5, elapsed  # the budget, not the reranker, decides when we answer
    metrics = (await rr_client.get("/metrics")).text
    assert 'sieve_degraded_total{reason="deadline",stage="rerank"} 2.0' in metrics


async def test_a_failing_reranker_degrades_instead_of_failing(rr_client: httpx.AsyncClient) -> None:
    resp = await search(rr_client, query="fail: " + QUERY, include_text=False)
    assert resp.status_code == 200
    body = resp.json()
    assert body["degraded"] == ["rerank"] and len(body["hits"]) == 5
    assert all(h["text"] == "" for h in body["hits"])  # include_text=false holds on the fallback path too


async def test_a_broken_backend_costs_its_stage_never_the_process(rr_client: httpx.AsyncClient,
                                                                  rr_app: FastAPI) -> None:
    pipeline = rr_app.state.registry.pipelines["sf"]
    healthy = pipeline._retrievers[("dense", "dense")]
    pipeline._retrievers[("dense", "dense")] = BrokenRetriever()
    try:
        hybrid = await search(rr_client, query=QUERY, retriever="hybrid", rerank=False)
        assert hybrid.status_code == 200 and hybrid.json()["degraded"] == ["dense"]
        sparse = (await search(rr_client, query=QUERY, rerank=False)).json()
        assert [h["id"] for h in hybrid.json()["hits"]] == [h["id"] for h in sparse["hits"]]
        dense = await search(rr_client, query=QUERY, retriever="dense", rerank=False)
        assert dense.status_code == 500 and dense.json()["error"]["type"] == "InternalError"
        assert "vanished" not in dense.text and dense.headers["x-request-id"]
    finally:
        pipeline._retrievers[("dense", "dense")] = healthy
    assert (await rr_client.get("/livez")).status_code == 200
    assert (await search(rr_client, query=QUERY, retriever="dense", rerank=False)).status_code == 200


async def test_per_request_budget_is_bounded(rr_client: httpx.AsyncClient) -> None:
    resp = await search(rr_client, query=QUERY, timeout_ms=600_001)
    assert resp.status_code == 422 and "timeout_ms" in resp.json()["error"]["message"]
    resp = await search(rr_client, query=QUERY, timeout_ms=120_000)
    assert resp.status_code == 422 and "limit of 60000" in resp.json()["error"]["message"]


@pytest.fixture(scope="module")
def pipeline(index_root: Path) -> Iterator[Pipeline]:
    executor = ThreadPoolExecutor(2)
    yield Pipeline(open_collection(index_root / "sf"), EncoderCache(), executor)
    executor.shutdown(wait=False)


async def test_a_slow_retriever_is_cut_at_the_deadline(pipeline: Pipeline) -> None:
    spec = PipelineSpec(retriever="hybrid", depth=20)
    pipeline._retrievers[("dense", "dense")] = SlowRetriever()
    try:
        start = time.perf_counter()
        result = await pipeline.run(QUERY, k=5, spec=spec, deadline=Deadline.after(300))
        assert time.perf_counter() - start < 1.0
        assert result.degraded == ["dense"] and len(result.hits) == 5
        assert all(set(h.stage_scores) == {"sparse"} for h in result.hits)
        with pytest.raises(DeadlineExceeded, match="300 ms budget"):
            await pipeline.run(QUERY, k=5, spec=PipelineSpec(retriever="dense"), deadline=Deadline.after(300))
    finally:
        del pipeline._retrievers[("dense", "dense")]
