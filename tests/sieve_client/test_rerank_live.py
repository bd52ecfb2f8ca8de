"""``POST /v2/rerank`` over real sockets through every client that speaks it: the real Cohere SDK, ``SieveClient``
(sync and async), and the LangChain and LlamaIndex rerankers. The server serves a real in-session trained CE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cohere
import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rankers.registry import build_reranker
from rankers.specs import CrossEncoderSpec
from sieve_client import AsyncSieveClient, SieveAPIError, SieveClient
from sieve_client.integrations.langchain import SieveRerank as LangChainRerank
from sieve_client.integrations.llamaindex import SieveRerank as LlamaIndexRerank

QUERY = "Vitamin D deficiency increases the risk of cancer"
DOCS = ["Low serum vitamin D is associated with higher cancer incidence in a cohort study.",
        "Plate tectonics explains the distribution of earthquakes.",
        "Vitamin D supplementation and cancer mortality: a meta-analysis of randomised trials.",
        "Jet engine noise at take-off."]


@pytest.fixture(scope="module")
def expected(tiny_ce: Path) -> list[int]:
    scores = build_reranker(CrossEncoderSpec(model=str(tiny_ce), max_length=128)).score(QUERY, DOCS).scores  # type: ignore[attr-defined]
    return sorted(range(len(DOCS)), key=lambda i: -float(scores[i]))


@pytest.fixture(scope="module")
def sieve(rerank_server: str) -> Iterator[SieveClient]:
    with SieveClient(rerank_server, timeout=60) as client:
        yield client


def test_cohere_sdk_reranks_against_the_live_server(rerank_server: str, tiny_ce: Path, expected: list[int]) -> None:
    co = cohere.ClientV2(api_key="unused", base_url=rerank_server, max_retries=0)
    response = co.rerank(model=str(tiny_ce), query=QUERY, documents=DOCS, top_n=3)
    assert [r.index for r in response.results] == expected[:3]
    assert all(0 < r.relevance_score < 1 for r in response.results)
    assert response.id and response.meta is not None and response.meta.api_version.version == "2"
    with pytest.raises(cohere.errors.NotFoundError):
        co.rerank(model="rerank-v3.5", query=QUERY, documents=DOCS)
    with pytest.raises(cohere.errors.UnprocessableEntityError):
        co.rerank(model=str(tiny_ce), query=QUERY, documents=[])


async def test_sieve_client_sync_and_async(sieve: SieveClient, rerank_server: str, expected: list[int]) -> None:
    result = sieve.rerank(QUERY, DOCS, top_n=2)
    assert [r.index for r in result.results] == expected[:2] and result.id
    async with AsyncSieveClient(rerank_server, timeout=60) as aclient:
        again = await aclient.rerank(QUERY, DOCS)
    assert [r.index for r in again.results] == expected
    with pytest.raises(SieveAPIError) as err:
        sieve.rerank(QUERY, DOCS, model="nope")
    assert err.value.status == 404 and "this server serves" in err.value.message


async def test_langchain_rerank_compresses_documents(sieve: SieveClient, expected: list[int]) -> None:
    documents = [Document(page_content=d, metadata={"n": i}) for i, d in enumerate(DOCS)]
    kept = LangChainRerank(client=sieve, top_n=2).compress_documents(documents, QUERY)
    assert [d.metadata["n"] for d in kept] == expected[:2]
    assert kept[0].metadata["relevance_score"] >= kept[1].metadata["relevance_score"]
    akept = await LangChainRerank(client=sieve, top_n=2).acompress_documents(documents, QUERY)
    assert [d.metadata["n"] for d in akept] == expected[:2]


async def test_llamaindex_rerank_postprocesses_nodes(sieve: SieveClient, expected: list[int]) -> None:
    nodes = [NodeWithScore(node=TextNode(text=d, id_=f"n{i}"), score=0.0) for i, d in enumerate(DOCS)]
    kept = LlamaIndexRerank(sieve, top_n=3).postprocess_nodes(nodes, QueryBundle(QUERY))
    assert [n.node.node_id for n in kept] == [f"n{i}" for i in expected[:3]]
    assert kept[0].score is not None and 0 < kept[0].score < 1
    akept = await LlamaIndexRerank(sieve, top_n=3).apostprocess_nodes(nodes, query_bundle=QueryBundle(QUERY))
    assert [n.node.node_id for n in akept] == [f"n{i}" for i in expected[:3]]
