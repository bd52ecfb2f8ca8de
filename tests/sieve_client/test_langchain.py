"""The LangChain retriever against the real app on loopback, alone and inside a runnable chain (no LLM)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from pydantic import ValidationError

from sieve_client import AsyncSieveClient, SieveClient
from sieve_client.integrations.langchain import SieveRetriever

QUERY = "vitamin D deficiency and cancer risk"


@pytest.fixture(scope="module")
def sieve(live_server: str) -> Iterator[SieveClient]:
    with SieveClient(live_server, timeout=60) as client:
        yield client


def test_documents_carry_id_score_stage_scores_and_title(sieve: SieveClient) -> None:
    docs = SieveRetriever(client=sieve, collection="sf", k=4, retriever="hybrid").invoke(QUERY)
    expected = sieve.search("sf", QUERY, k=4, retriever="hybrid").hits
    assert [d.id for d in docs] == [h.id for h in expected]
    for rank, (doc, hit) in enumerate(zip(docs, expected, strict=True), start=1):
        assert doc.page_content == hit.text and doc.metadata["title"] == hit.title
        assert doc.metadata["id"] == hit.id and doc.metadata["score"] == pytest.approx(hit.score)
        assert set(doc.metadata["stage_scores"]) >= {"sparse", "dense"} and doc.metadata["rank"] == rank
        assert doc.metadata["collection"] == "sf" and doc.metadata["retriever"] == "hybrid"


async def test_async_retrieval_matches_sync(sieve: SieveClient, live_server: str) -> None:
    retriever = SieveRetriever(client=sieve, collection="sf", k=3, retriever="dense")
    sync_ids = [d.id for d in retriever.invoke(QUERY)]
    assert [d.id for d in await retriever.ainvoke(QUERY)] == sync_ids  # short-lived async client
    async with AsyncSieveClient(live_server, timeout=60) as aclient:
        shared = SieveRetriever(client=sieve, async_client=aclient, collection="sf", k=3, retriever="dense")
        batches = await shared.abatch([QUERY, "coronary heart disease"])
    assert [d.id for d in batches[0]] == sync_ids and len(batches[1]) == 3


def test_retrieve_then_format_context_chain(live_server: str) -> None:
    retriever = SieveRetriever.from_url(live_server, "sf", k=3, retriever="hybrid",
                                        search_options={"depth": 50})

    def format_docs(docs: list[Document]) -> str:
        return "\n\n".join(f"[{d.metadata['rank']}] {d.metadata['title']} ({d.id})\n{d.page_content[:200]}"
                           for d in docs)

    prompt = PromptTemplate.from_template("Answer from the context only.\n\n{context}\n\nQuestion: {question}")
    chain = {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()} | prompt
    text = chain.invoke(QUERY).to_string()
    docs = retriever.invoke(QUERY)
    assert text.endswith(f"Question: {QUERY}")
    assert all(f"{d.metadata['title']} ({d.id})" in text for d in docs) and "[3]" in text


def test_bad_configuration_is_refused(sieve: SieveClient) -> None:
    with pytest.raises(ValidationError, match="unknown search option"):
        SieveRetriever(client=sieve, collection="sf", search_options={"deep": 5})
    with pytest.raises(ValidationError, match="k"):
        SieveRetriever(client=sieve, collection="sf", k=0)
