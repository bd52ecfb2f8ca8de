"""API keys and scopes, per-key rate limits, CORS, and every request limit, each answered with a JSON error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import Depends

from service.auth import Principal, require_admin
from service.config import Settings
from service.main import create_app

READER = {"Authorization": "Bearer reader-key"}
ADMIN = {"X-API-Key": "admin-key"}
SLOW = {"Authorization": "Bearer slow-key"}
ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
async def strict(index_root: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        index_root=index_root, workers=2, max_body_bytes=4096, max_query_chars=100, max_k=50,
        max_embedding_inputs=4,
        auth={"api_keys": {"reader-key": "read", "admin-key": {"scope": "admin", "name": "ops"},
                           "slow-key": {"scope": "read", "rate_per_s": 0.5}}},
        rate_limit={"burst": 2}, cors={"allow_origins": [ORIGIN]}, batching={"max_queue": 2},
    )
    app = create_app(settings)

    @app.get("/v1/admin-probe", dependencies=[Depends(require_admin)])
    async def probe(who: Principal = Depends(require_admin)) -> dict[str, str]:
        return {"caller": who.name}

    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=60) as c:
            yield c


async def search(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: object) -> httpx.Response:
    return await client.post("/v1/search", headers=headers,
                             json={"collection": "sf", "query": "vitamin D", "k": 3, "retriever": "sparse", **body})


def error(resp: httpx.Response, status: int, kind: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["error"]["type"] == kind
    return str(resp.json()["error"]["message"])


async def test_keys_are_required_and_checked(strict: httpx.AsyncClient) -> None:
    resp = await search(strict)
    assert "missing API key" in error(resp, 401, "Unauthorized")
    assert resp.headers["www-authenticate"] == "Bearer"
    assert error(await search(strict, {"Authorization": "Bearer nope"}), 401, "Unauthorized") == "unknown API key"
    assert (await search(strict, READER)).status_code == 200
    assert (await search(strict, {"X-API-Key": "reader-key"})).status_code == 200
    assert (await search(strict, {"Authorization": "bearer reader-key"})).status_code == 200


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz", "/metrics", "/openapi.json"])
async def test_probes_metrics_and_docs_are_public(strict: httpx.AsyncClient, path: str) -> None:
    assert (await strict.get(path)).status_code == 200


async def test_admin_routes_need_the_admin_scope(strict: httpx.AsyncClient) -> None:
    assert "admin scope" in error(await strict.get("/v1/admin-probe", headers=READER), 403, "Forbidden")
    resp = await strict.get("/v1/admin-probe", headers=ADMIN)
    assert resp.status_code == 200 and resp.json() == {"caller": "ops"}
    # the real collection-admin routes are behind the same scope (refused before their handler runs)
    error(await strict.post("/v1/collections/sf/rebuild", headers=READER), 403, "Forbidden")
    assert (await search(strict, ADMIN)).status_code == 200  # admin includes read


async def test_rate_limit_per_key_with_retry_after(strict: httpx.AsyncClient) -> None:
    assert [(await search(strict, SLOW)).status_code for _ in range(2)] == [200, 200]  # the burst
    resp = await search(strict, SLOW)
    assert "0.5 requests/s" in error(resp, 429, "RateLimited")
    assert resp.headers["retry-after"] == "2"
    assert (await search(strict, READER)).status_code == 200  # other keys have their own buckets
    metrics = (await strict.get("/metrics")).text
    assert 'sieve_rejected_total{reason="rate_limited"} 1.0' in metrics


async def test_request_limits_are_json_errors(strict: httpx.AsyncClient) -> None:
    assert "limit is 100" in error(await search(strict, READER, query="x" * 101), 422, "InvalidInput")
    assert "limit of 50" in error(await search(strict, READER, k=51), 422, "InvalidInput")
    body = {"model": "sentence-transformers/all-MiniLM-L6-v2", "input": ["a"] * 5}
    resp = await strict.post("/v1/embeddings", json=body, headers=READER)
    assert "the limit is 4" in error(resp, 422, "InvalidInput")
    resp = await strict.post("/v1/search", headers={**READER, "content-type": "application/json"},
                             content=b'{"collection": "sf", "query": "' + b"a" * 5000 + b'"}')
    assert "4096 bytes" in error(resp, 413, "PayloadTooLarge")


async def test_cors(strict: httpx.AsyncClient) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    resp = await strict.options("/v1/search", headers=preflight)
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in resp.headers["access-control-allow-headers"].lower()
    resp = await strict.options("/v1/search", headers={**preflight, "Origin": "https://evil.example"})
    assert resp.status_code == 400 and "access-control-allow-origin" not in resp.headers
    refused = await search(strict, {"Origin": ORIGIN})  # a browser can read the 401 too
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in refused.headers["access-control-expose-headers"].lower()


async def test_full_model_queue_is_503_overloaded(strict: httpx.AsyncClient) -> None:
    queries = [f"overload probe {uuid.uuid4().hex} {i}" for i in range(40)]  # unique: no cache can answer
    answers = await asyncio.gather(*(search(strict, READER, query=q, retriever="dense") for q in queries))
    statuses = {r.status_code for r in answers}
    assert statuses <= {200, 503} and 503 in statuses and 200 in statuses
    refused = next(r for r in answers if r.status_code == 503)
    assert "retry shortly" in error(refused, 503, "Overloaded") and refused.headers["retry-after"] == "1"
