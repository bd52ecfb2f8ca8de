"""The rerank routes (Cohere v2, Jina, TEI) on the real app serving a real (tiny, in-session trained) cross-encoder."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from rankers.registry import build_reranker
from rankers.specs import CrossEncoderSpec
from service.config import Settings
from service.main import create_app

QUERY = "Vitamin D deficiency increases the risk of cancer"
DOCS = ["Low serum vitamin D is associated with higher cancer incidence in a cohort study.",
        "Plate tectonics explains the distribution of earthquakes.",
        "Vitamin D supplementation and cancer mortality: a meta-analysis of randomised trials."]


def _expected(tiny_ce: Path) -> list[int]:
    """The order the same model gives in-process (raw scores, best first)."""
    scores = build_reranker(CrossEncoderSpec(model=str(tiny_ce), max_length=128)).score(QUERY, DOCS).scores  # type: ignore[attr-defined]
    return sorted(range(len(DOCS)), key=lambda i: -float(scores[i]))


async def test_cohere_v2_shape_and_order(rerank_client: httpx.AsyncClient, tiny_ce: Path) -> None:
    resp = await rerank_client.post("/v2/rerank", json={"model": str(tiny_ce), "query": QUERY, "documents": DOCS,
                                                        "top_n": 2})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"id", "results", "meta"} and body["meta"]["api_version"] == {"version": "2"}
    assert [r["index"] for r in body["results"]] == _expected(tiny_ce)[:2]
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert set(body["results"][0]) == {"index", "relevance_score"}
    assert "warnings" not in body["meta"] and body["meta"]["tokens"]["input_tokens"] > 0


async def test_cohere_default_model_and_truncation_warning(rerank_client: httpx.AsyncClient) -> None:
    long = "protein folding " * 200
    resp = await rerank_client.post("/v2/rerank", json={"query": QUERY, "documents": [DOCS[0], long]})
    assert resp.status_code == 200, resp.text
    warnings = resp.json()["meta"]["warnings"]
    assert len(warnings) == 1 and "1 of 2 documents were truncated to fit 128 tokens" in warnings[0]
    assert "(indexes [1])" in warnings[0]


async def test_jina_shape_with_and_without_documents(rerank_client: httpx.AsyncClient, tiny_ce: Path) -> None:
    resp = await rerank_client.post("/v1/rerank", json={"model": str(tiny_ce), "query": QUERY,
                                                        "documents": [{"text": d} for d in DOCS], "top_n": 3})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == str(tiny_ce) and body["usage"]["total_tokens"] > 0
    assert [r["index"] for r in body["results"]] == _expected(tiny_ce)
    assert all(r["document"]["text"] == DOCS[r["index"]] for r in body["results"])
    bare = await rerank_client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS, "return_documents": False})
    assert all("document" not in r for r in bare.json()["results"])


async def test_tei_shape_raw_scores_and_text(rerank_client: httpx.AsyncClient, tiny_ce: Path) -> None:
    resp = await rerank_client.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True,
                                                     "return_text": True})
    assert resp.status_code == 200, resp.text
    ranks = resp.json()
    assert [r["index"] for r in ranks] == _expected(tiny_ce)
    assert all(r["text"] == DOCS[r["index"]] for r in ranks)
    plain = (await rerank_client.post("/rerank", json={"query": QUERY, "texts": DOCS})).json()
    assert all(set(r) == {"index", "score"} and 0 < r["score"] < 1 for r in plain)
    refused = await rerank_client.post("/rerank", json={"query": QUERY, "texts": ["x " * 300], "truncate": False})
    assert refused.status_code == 422 and "do not fit 128 tokens" in refused.json()["error"]["message"]


@pytest.mark.parametrize(("path", "body", "status", "needle"), [
    ("/v2/rerank", {"query": QUERY, "documents": []}, 422, "documents is empty"),
    ("/v2/rerank", {"query": QUERY, "documents": ["a"] * 51}, 422, "51 documents; the limit is 50"),
    ("/v2/rerank", {"query": QUERY, "documents": ["a", " ", ""]}, 422, "documents[1, 2] are empty strings"),
    ("/v2/rerank", {"query": "", "documents": ["a"]}, 422, "query"),
    ("/v2/rerank", {"query": QUERY, "documents": ["a"], "top_n": 0}, 422, "top_n"),
    ("/v2/rerank", {"query": QUERY, "documents": ["a"], "model": "rerank-english-v3.0"}, 404,
     "unknown rerank model 'rerank-english-v3.0'; this server serves"),
    ("/v1/rerank", {"query": QUERY}, 422, "documents"),
    ("/rerank", {"query": QUERY, "texts": []}, 422, "texts is empty"),
])
async def test_bad_input_is_a_clear_4xx(rerank_client: httpx.AsyncClient, path: str, body: dict[str, object],
                                        status: int, needle: str) -> None:
    resp = await rerank_client.post(path, json=body)
    assert resp.status_code == status, resp.text
    assert needle in resp.json()["error"]["message"]


async def test_no_model_served_is_a_404_naming_the_setting(client: httpx.AsyncClient, settings: Settings) -> None:
    """The default settings serve one cross-encoder; a model not in the list is a 404 naming it."""
    resp = await client.post("/v2/rerank", json={"query": QUERY, "documents": DOCS, "model": "other"})
    assert resp.status_code == 404 and settings.rerank.models[0] in resp.json()["error"]["message"]


async def test_first_run_serves_a_reranker_and_prefixes_without_extra_steps(client: httpx.AsyncClient,
                                                                            settings: Settings) -> None:
    """Default settings, no training, no `sieve index matryoshka`: the three rerank routes, ``"rerank": true`` and
    ``"dimensions": 64`` on an index built with the default spec all answer 200."""
    assert settings.rerank.models in (("models/sieve-ce-scifact",), ("models/sieve-ce-untrained",))
    for path, body in (("/v2/rerank", {"query": QUERY, "documents": DOCS}),
                       ("/v1/rerank", {"query": QUERY, "documents": DOCS}),
                       ("/rerank", {"query": QUERY, "texts": DOCS})):
        resp = await client.post(path, json=body)
        assert resp.status_code == 200, (path, resp.text)
    results = (await client.post("/v2/rerank", json={"query": QUERY, "documents": DOCS})).json()["results"]
    assert results[-1]["index"] == 1  # the off-topic document last, untrained or not
    search = {"collection": "sf", "query": QUERY, "k": 3, "retriever": "sparse", "depth": 8, "timeout_ms": 60_000}
    resp = await client.post("/v1/search", json={**search, "rerank": True})
    assert resp.status_code == 200 and resp.json()["degraded"] == [], resp.text
    assert all("cross_encoder" in h["stage_scores"] for h in resp.json()["hits"])
    resp = await client.post("/v1/search", json={**search, "retriever": "dense", "dense_index": "dense-onnx",
                                                 "dimensions": 64})
    assert resp.status_code == 200 and len(resp.json()["hits"]) == 3, resp.text


async def test_rerank_true_without_a_reranker_is_a_422(settings: Settings) -> None:
    from service.config import RerankSettings
    from tests.conftest import asgi_client

    async with asgi_client(settings.model_copy(update={"rerank": RerankSettings(models=())})) as c:
        body = {"collection": "sf", "query": QUERY, "k": 3, "retriever": "sparse"}
        resp = await c.post("/v1/search", json={**body, "rerank": True})
        assert resp.status_code == 422 and "serves no rerankers" in resp.json()["error"]["message"], resp.text
        assert (await c.post("/v1/search", json=body)).status_code == 200  # left out: first stage, as before


async def test_search_reranks_with_the_configured_second_stage(rerank_settings: Settings, tiny_ce: Path) -> None:
    """``SIEVE_RERANK__SEARCH__MODEL``: /v1/search reranks its top ``depth`` with the configured cross-encoder."""
    rerank = rerank_settings.rerank.model_copy(update={"search": CrossEncoderSpec(model=str(tiny_ce), max_length=64)})
    app = create_app(rerank_settings.model_copy(update={"rerank": rerank}))
    body = {"collection": "sf", "query": QUERY, "k": 3, "retriever": "sparse", "depth": 8, "timeout_ms": 60_000}
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://sieve", timeout=60) as c:
        reranked = (await c.post("/v1/search", json=body)).json()
        plain = (await c.post("/v1/search", json={**body, "rerank": False})).json()
    assert reranked["degraded"] == [] and "rerank" in reranked["timings_ms"]
    hits = reranked["hits"]
    assert len(hits) == 3 and all({"sparse", "cross_encoder", "rerank"} <= set(h["stage_scores"]) for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all("cross_encoder" not in h["stage_scores"] for h in plain["hits"])
