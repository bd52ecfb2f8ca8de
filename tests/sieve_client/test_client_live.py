"""``SieveClient`` and ``AsyncSieveClient`` against the real app under uvicorn on loopback (SciFact slice)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sieve_client import AsyncSieveClient, SieveAPIError, SieveClient, SieveInputError

QUERY = "vitamin D deficiency and cancer risk"


@pytest.fixture(scope="module")
def sieve(live_server: str) -> Iterator[SieveClient]:
    with SieveClient(live_server, timeout=60) as client:
        yield client


def test_health_and_collections(sieve: SieveClient) -> None:
    health = sieve.health()
    assert health.status == "ok" and "sf" in health.collections and health.errors == {}
    (sf,) = [c for c in sieve.collections() if c.name == "sf"]
    by_name = {i.name: i for i in sf.indexes}
    assert {"bm25", "dense", "dense-hnsw", "dense-onnx"} <= set(by_name)
    assert by_name["dense"].kind == "dense" and by_name["dense"].dims == 384
    assert all(i.doc_count == sf.doc_count for i in sf.indexes)


@pytest.mark.parametrize("retriever", ["sparse", "dense", "hybrid"])
def test_search_matches_raw_http(sieve: SieveClient, live_server: str, retriever: str) -> None:
    result = sieve.search("sf", QUERY, k=5, retriever=retriever)
    raw = httpx.post(f"{live_server}/v1/search", json={"collection": "sf", "query": QUERY, "k": 5,
                                                       "retriever": retriever}, timeout=60).json()
    assert result.retriever == retriever and len(result.hits) == 5
    assert [h.id for h in result.hits] == [h["id"] for h in raw["hits"]]
    assert [h.score for h in result.hits] == pytest.approx([h["score"] for h in raw["hits"]], rel=1e-6)
    assert all(h.title and h.text for h in result.hits)
    assert "total" in result.timings_ms and result.degraded == []
    stages = {"sparse": {"sparse"}, "dense": {"dense"}, "hybrid": {"sparse", "dense"}}[retriever]
    assert all(stages <= set(h.stage_scores) for h in result.hits)


def test_search_options_reach_the_server(sieve: SieveClient) -> None:
    result = sieve.search("sf", QUERY, k=3, retriever="hybrid", depth=20, fusion={"method": "convex"},
                          dense_index="dense-onnx", include_text=False)
    assert len(result.hits) == 3 and all(h.text == "" for h in result.hits)
    assert "fusion" in result.timings_ms
    (dense,) = [i for c in sieve.collections() if c.name == "sf" for i in c.indexes if i.name == "dense"]
    assert dense.supported_dims and 64 in dense.supported_dims
    small = sieve.search("sf", QUERY, k=3, retriever="dense", dimensions=64)
    assert len(small.hits) == 3


async def test_async_client_equals_sync(sieve: SieveClient, live_server: str) -> None:
    expected = sieve.search("sf", QUERY, k=5, retriever="hybrid")
    async with AsyncSieveClient(live_server, timeout=60) as client:
        got = await client.search("sf", QUERY, k=5, retriever="hybrid")
        assert "sf" in (await client.health()).collections
        assert [c.name for c in await client.collections()] == [c.name for c in sieve.collections()]
    assert [h.id for h in got.hits] == [h.id for h in expected.hits]


def test_server_errors_are_typed(sieve: SieveClient) -> None:
    with pytest.raises(SieveAPIError) as missing:
        sieve.search("nope", QUERY)
    assert missing.value.status == 404 and missing.value.type == "NotFound" and "nope" in missing.value.message
    assert missing.value.attempts == 1
    with pytest.raises(SieveAPIError) as bad:
        sieve.search("sf", QUERY, k=5000)
    assert bad.value.status == 422 and bad.value.details and bad.value.path == "/v1/search"
    with pytest.raises(SieveAPIError) as bad_index:
        sieve.search("sf", QUERY, retriever="dense", dense_index="missing")
    assert bad_index.value.status == 404 and "dense-hnsw" in bad_index.value.message


def test_bad_input_is_refused_before_sending(sieve: SieveClient) -> None:
    for call, needle in [
        (lambda: sieve.search("sf", "  "), "query"),
        (lambda: sieve.search("", QUERY), "collection"),
        (lambda: sieve.search("sf", QUERY, k=0), "k must"),
        (lambda: sieve.search("sf", QUERY, nonsense=1), "unknown search option"),  # type: ignore[call-arg]
    ]:
        with pytest.raises(SieveInputError, match=needle):
            call()
    with pytest.raises(SieveInputError, match="base_url"):
        SieveClient("localhost:8000")
