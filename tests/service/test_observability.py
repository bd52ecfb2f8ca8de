"""Request ids, JSON logs, Prometheus metrics, liveness vs readiness, and OpenTelemetry spans."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.config import Settings
from service.logs import JsonFormatter
from service.main import create_app

BODY = {"collection": "sf", "query": "statins and heart failure", "k": 3}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123.XYZ:7", True), ("", False), ("has spaces", False), ("x" * 129, False), ("id\u00e9", False)],
)
async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient, sent: str, kept: bool) -> None:
    headers = {"X-Request-ID": sent} if sent else {}
    resp = await client.get("/livez", headers={k: v.encode("utf-8") for k, v in headers.items()})
    rid = resp.headers["x-request-id"]
    assert rid == sent if kept else (len(rid) == 32 and rid != sent)


async def test_access_log_is_json_with_the_request_id(client: httpx.AsyncClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sieve.access"):
        resp = await client.post("/v1/search", json=BODY, headers={"X-Request-ID": "trace-me-1"})
    record = next(r for r in caplog.records if r.name == "sieve.access" and r.path == "/v1/search")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-me-1" == resp.headers["x-request-id"]
    assert line["level"] == "INFO" and line["method"] == "POST" and line["status"] == 200
    assert line["duration_ms"] > 0 and line["msg"] == "POST /v1/search 200"


def test_json_formatter_carries_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",),
                                                   exc_info=__import__("sys").exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "failed here" and "ValueError: boom" in line["exc"] and line["request_id"] == "-"


async def test_metrics_cover_requests_stages_cache_and_batching(client: httpx.AsyncClient) -> None:
    await client.post("/v1/search", json={**BODY, "retriever": "hybrid"})
    await client.post("/v1/search", json={**BODY, "retriever": "hybrid"})
    await client.get("/v1/nothing-here")
    resp = await client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    for sample in (
        'sieve_requests_total{method="POST",route="/v1/search",status="200"}',
        'sieve_requests_total{method="GET",route="unmatched",status="404"}',
        'sieve_request_seconds_bucket{le="0.1",method="POST",route="/v1/search"}',
        'sieve_stage_seconds_count{stage="dense.encode"}',
        'sieve_stage_seconds_count{stage="fusion"}',
        'sieve_cache_requests_total{kind="result",result="hit"}',
        'sieve_cache_requests_total{kind="vector",result="miss"}',
        'sieve_batch_size_count{batcher="torch:sentence-transformers/all-MiniLM-L6-v2:queries"}',
        'sieve_batch_queue_depth{batcher="torch:sentence-transformers/all-MiniLM-L6-v2:queries"}',
        "sieve_requests_in_flight",
    ):
        assert sample in text, sample


async def test_liveness_and_readiness(client: httpx.AsyncClient, settings: Settings) -> None:
    assert (await client.get("/livez")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["collections"] == ["sf"] and ready["cache"].startswith("lru")
    assert (await client.get("/healthz")).json()["status"] == "ok"
    unstarted = create_app(settings)  # lifespan not run: alive, not ready
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=unstarted), base_url="http://x") as c:
        assert (await c.get("/livez")).status_code == 200
        assert (await c.get("/readyz")).status_code == 503


async def test_tracing_spans_per_request_and_stage(index_root: Path) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(Settings(index_root=index_root, workers=2, tracing={"enabled": True}), span_exporter=exporter)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=60) as c:
            resp = await c.post("/v1/search", json={**BODY, "retriever": "sparse"}, headers={"X-Request-ID": "t-1"})
            assert resp.status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans["POST /v1/search"]
    assert root.attributes["sieve.request_id"] == "t-1" and root.attributes["http.status_code"] == 200
    for stage in ("sparse", "hydrate"):
        assert spans[stage].parent.span_id == root.context.span_id
        assert root.start_time <= spans[stage].start_time <= spans[stage].end_time <= root.end_time
    # after shutdown the app says it is not ready (a load balancer stops sending traffic)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        assert (await c.get("/readyz")).status_code == 503
