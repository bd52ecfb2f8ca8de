"""The OpenAI-compatible backend against a real endpoint on loopback: llama.cpp's own server (``llama_cpp.server``)
serving the packaged SmolLM2 GGUF, started by the test session; plus a flaky proxy in front of it (retries) and a
socket that never answers (timeouts)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from kernel.errors import InvalidInput, UpstreamError
from kernel.types import Hit
from rankers.listwise import ListwiseReranker
from rankers.llm.openai_llm import OpenAIChatLLM
from rankers.pairwise import PairwiseReranker
from rankers.specs import ListwiseSpec, LLMSpec, PairwiseSpec
from tests.servers import serve_in_thread, silent_server


def endpoint(url: str, **kw: object) -> LLMSpec:
    return LLMSpec(backend="openai", model="smollm2", base_url=url, **kw)  # type: ignore[arg-type]


def test_listwise_generate_through_the_endpoint(llama_server: str, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    spec = ListwiseSpec(llm=endpoint(llama_server), window=5, stride=3, max_passage_words=40)
    report = ListwiseReranker(spec).rerank_with_report(query, candidates[:8])
    assert sorted(h.id for h in report.hits) == sorted(h.id for h in candidates[:8])
    assert report.counts["llm_calls"] == 2  # windows (3,8) and (0,5)
    assert all("listwise" in h.stage_scores for h in report.hits)


def test_first_token_logprobs_through_the_endpoint(llama_server: str, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    llm = OpenAIChatLLM(endpoint(llama_server))
    from rankers.llm.prompts import letter_labels, listwise_messages
    labels = letter_labels(4)
    logprobs = llm.label_logprobs(listwise_messages(query, [h.text[:200] for h in candidates[:4]], labels), labels)
    assert len(logprobs) == 4 and any(lp > -50 for lp in logprobs)  # labels among the top-20 tokens
    spec = ListwiseSpec(llm=endpoint(llama_server), mode="first", window=4, stride=2, max_passage_words=40)
    report = ListwiseReranker(spec).rerank_with_report(query, candidates[:6])
    assert sorted(h.id for h in report.hits) == sorted(h.id for h in candidates[:6])
    assert report.counts["llm_calls"] == 2 and "unscored_labels" in report.counts


def test_pairwise_through_the_endpoint(llama_server: str, hits: tuple[str, list[Hit]]) -> None:
    query, candidates = hits
    spec = PairwiseSpec(llm=endpoint(llama_server), strategy="allpairs", max_passage_words=30)
    report = PairwiseReranker(spec).rerank_with_report(query, candidates[:3])
    assert report.counts["comparisons"] == 3 and report.counts["llm_calls"] == 6
    assert sum(h.stage_scores["pairwise"] for h in report.hits) == pytest.approx(1.5)


@pytest.fixture
def flaky_proxy(llama_server: str) -> Iterator[tuple[str, list[int]]]:
    """A proxy in front of the endpoint that answers its first request with 503, then forwards."""
    app = FastAPI()
    statuses: list[int] = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        if not statuses:
            statuses.append(503)
            return Response('{"error": {"message": "warming up"}}', status_code=503,
                            media_type="application/json")
        async with httpx.AsyncClient(timeout=60) as client:
            upstream = await client.post(f"{llama_server}/chat/completions", content=await request.body(),
                                         headers={"content-type": "application/json"})
        statuses.append(upstream.status_code)
        return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")

    with serve_in_thread(app) as url:
        yield f"{url}/v1", statuses


def test_a_failed_call_is_retried(flaky_proxy: tuple[str, list[int]]) -> None:
    url, statuses = flaky_proxy
    llm = OpenAIChatLLM(endpoint(url, max_retries=2))
    answer = llm.complete([{"role": "user", "content": "Say yes."}], max_tokens=3)
    assert statuses == [503, 200] and isinstance(answer, str)


def test_no_retries_left_is_an_upstream_error(flaky_proxy: tuple[str, list[int]]) -> None:
    url, statuses = flaky_proxy
    with pytest.raises(UpstreamError, match=r"failed after 0 retries: InternalServerError"):
        OpenAIChatLLM(endpoint(url, max_retries=0)).complete([{"role": "user", "content": "hi"}], max_tokens=2)
    assert statuses == [503]


def test_a_silent_endpoint_times_out() -> None:
    connections: list[socket.socket] = []
    with silent_server(connections) as url:
        llm = OpenAIChatLLM(endpoint(url, timeout_s=0.5, max_retries=1))
        start = time.perf_counter()
        with pytest.raises(UpstreamError, match="APITimeoutError"):
            llm.complete([{"role": "user", "content": "hi"}], max_tokens=2)
        elapsed = time.perf_counter() - start
        attempts = len(connections)
    assert attempts == 2  # the first try and one retry, each on a fresh connection after its timeout
    assert 1.0 <= elapsed < 5.0, elapsed  # two attempts of 0.5 s plus the client's short backoff


def test_an_endpoint_needs_a_url() -> None:
    with pytest.raises(InvalidInput, match="needs base_url"):
        OpenAIChatLLM(LLMSpec(backend="openai", model="x"))
