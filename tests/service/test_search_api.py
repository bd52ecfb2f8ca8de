"""The real app over HTTP (httpx, lifespan running) against the real SciFact-slice indexes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from indexers.corpus import BeirDataset

QUERY = "Vitamin D deficiency increases the risk of cancer"


async def search(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/v1/search", json={"collection": "sf", "query": QUERY, **body})


@pytest.mark.parametrize("retriever", ["sparse", "dense", "hybrid"])
async def test_search_returns_hits_with_text_and_timings(client: httpx.AsyncClient, retriever: str) -> None:
    resp = await search(client, k=5, retriever=retriever)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["retriever"] == retriever and len(body["hits"]) == 5
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all(h["text"] for h in body["hits"]) and any(h["title"] for h in body["hits"])
    assert body["timings_ms"]["total"] > 0 and "hydrate" in body["timings_ms"]
    expected_stages = {"sparse": {"sparse"}, "dense": {"dense.encode", "dense.search"},
                       "hybrid": {"sparse", "dense.encode", "dense.search", "fusion"}}[retriever]
    assert expected_stages <= set(body["timings_ms"])


async def test_hybrid_fuses_both_runs(client: httpx.AsyncClient) -> None:
    sparse = (await search(client, k=10, retriever="sparse")).json()["hits"]
    dense = (await search(client, k=10, retriever="dense")).json()["hits"]
    hybrid = (await search(client, k=10, retriever="hybrid", depth=10)).json()["hits"]
    top = hybrid[0]
    assert set(top["stage_scores"]) >= {"fusion"}
    expected = sum(1 / (60 + r) for r, h in enumerate(sparse + [], 1) if h["id"] == top["id"])
    expected += sum(1 / (60 + r) for r, h in enumerate(dense, 1) if h["id"] == top["id"])
    assert top["score"] == pytest.approx(expected)
    convex = (await search(client, k=10, retriever="hybrid", fusion={"method": "convex", "weights": [0, 1]})).json()
    assert [h["id"] for h in convex["hits"][:3]] == [h["id"] for h in dense[:3]]


async def test_include_text_false_and_named_indexes(client: httpx.AsyncClient) -> None:
    resp = await search(client, k=3, retriever="dense", dense_index="dense-onnx", include_text=False)
    assert resp.status_code == 200
    hits = resp.json()["hits"]
    assert all(h["text"] == "" for h in hits)
    torch_hits = (await search(client, k=3, retriever="dense")).json()["hits"]
    assert hits[0]["id"] == torch_hits[0]["id"]


async def test_relevant_doc_ranks_first_for_a_real_query(client: httpx.AsyncClient, scifact_slice: Path) -> None:
    ds = BeirDataset.open(scifact_slice)
    qrels, queries = ds.qrels(), ds.queries()
    hits_at_1 = 0
    for qid, text in list(queries.items())[:10]:
        body = (await client.post("/v1/search", json={"collection": "sf", "query": text, "k": 1})).json()
        hits_at_1 += body["hits"][0]["id"] in qrels[qid]
    assert hits_at_1 >= 5


async def test_collections_and_health(client: httpx.AsyncClient) -> None:
    cols = (await client.get("/v1/collections")).json()["collections"]
    assert [c["name"] for c in cols] == ["sf"]
    kinds = {i["name"]: i["kind"] for i in cols[0]["indexes"]}
    assert kinds == {"bm25": "sparse", "dense": "dense", "dense-hnsw": "dense", "dense-onnx": "dense"}
    dense = next(i for i in cols[0]["indexes"] if i["name"] == "dense")
    assert dense["dims"] == 384 and dense["metric"] == "cosine" and dense["build"]["factory"] == "Flat"
    health = (await client.get("/healthz")).json()
    assert health["status"] == "ok" and health["collections"] == ["sf"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"collection": "nope", "query": "q"}, 404, "unknown collection 'nope'; available: ['sf']"),
        ({"collection": "sf", "query": ""}, 422, "query"),
        ({"collection": "sf", "query": "   "}, 422, "query"),
        ({"collection": "sf"}, 422, "query: Field required"),
        ({"collection": "sf", "query": "q", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ({"collection": "sf", "query": "q", "k": 1001}, 422, "k: Input should be less than or equal to 1000"),
        ({"collection": "sf", "query": "q", "k": "ten"}, 422, "k: Input should be a valid integer"),
        ({"collection": "sf", "query": "q", "retriever": "magic"}, 422, "retriever"),
        ({"collection": "sf", "query": "q", "depth": 0}, 422, "depth"),
        ({"collection": "sf", "query": "q", "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ({"collection": "sf", "query": "q", "fusion": {"method": "borda"}}, 422, "fusion.method"),
        ({"collection": "sf", "query": "q", "fusion": {"weights": [-1, 1]}}, 422, "non-negative"),
        ({"collection": "sf", "query": "q", "bm25": {"b": 2}}, 422, "bm25.b"),
        ({"collection": "sf", "query": "q", "retriever": "dense", "dense_index": "x"}, 404, "no dense index 'x'"),
        ({"collection": "sf", "query": "q", "ef_search": 0}, 422, "ef_search"),
        ({"collection": "sf", "query": "x" * 5000}, 422, "query"),
        ({"collection": "", "query": "q"}, 422, "collection"),
    ],
)
async def test_bad_input_is_a_clear_4xx(client: httpx.AsyncClient, body: dict, status: int, message: str) -> None:
    resp = await client.post("/v1/search", json=body)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]["message"]


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/search", content=b'{"collection": "sf", "query":', headers={"content-type":
                                                                                              "application/json"})
    assert resp.status_code == 422 and resp.json()["error"]["type"] == "InvalidInput"


async def test_oversized_body_is_413_by_header_and_by_stream(client: httpx.AsyncClient) -> None:
    big = b'{"collection": "sf", "query": "' + b"a" * 70_000 + b'"}'
    resp = await client.post("/v1/search", content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and "65536 bytes" in resp.json()["error"]["message"]

    async def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(10):
            yield b" " * 8000
        yield big

    resp = await client.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413


async def test_unknown_route_and_method_are_json_errors(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/nothing")
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "HTTPError"
    resp = await client.get("/v1/search")
    assert resp.status_code == 405


async def test_matryoshka_dimensions_and_funnel_over_http(client: httpx.AsyncClient) -> None:
    full = (await search(client, k=5, retriever="dense")).json()
    same = (await search(client, k=5, retriever="dense", dimensions=384)).json()
    assert [h["id"] for h in same["hits"]] == [h["id"] for h in full["hits"]]
    low = await search(client, k=5, retriever="dense", dimensions=64)
    assert low.status_code == 200 and len(low.json()["hits"]) == 5
    funnel = (await search(client, k=5, retriever="dense", funnel={"shortlist": 100, "code": "binary"})).json()
    assert funnel["counts"] == {"dense.rescored": 100}
    assert funnel["hits"][0]["id"] == full["hits"][0]["id"]
    assert funnel["hits"][0]["score"] == pytest.approx(full["hits"][0]["score"], abs=1e-5)
    hybrid = (await search(client, k=5, retriever="hybrid", funnel={})).json()
    assert hybrid["counts"]["dense.rescored"] == 200  # the index's default shortlist


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        ({"dimensions": 48}, 422, "serves dims [384, 128, 64, 32]"),
        ({"dimensions": 4}, 422, "dimensions"),
        ({"funnel": {"dims": 256}}, 422, "256 dims as sq8 is not one of them"),
        ({"funnel": {"code": "pq"}}, 422, "funnel.code"),
        ({"dense_index": "dense-hnsw", "dimensions": 64}, 422, "add them with `sieve index matryoshka`"),
    ],
)
async def test_matryoshka_bad_requests(client: httpx.AsyncClient, extra: dict, status: int, message: str) -> None:
    resp = await search(client, k=5, retriever="dense", **extra)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]["message"]


async def test_collections_report_supported_dims(client: httpx.AsyncClient) -> None:
    cols = (await client.get("/v1/collections")).json()["collections"]
    dims = {i["name"]: i["supported_dims"] for i in cols[0]["indexes"]}
    assert dims["dense"] == [384, 128, 64, 32] and dims["dense-hnsw"] == [384] and dims["bm25"] is None
