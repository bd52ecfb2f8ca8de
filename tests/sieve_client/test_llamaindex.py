"""The LlamaIndex retriever against the real app on loopback, feeding LlamaIndex's own node postprocessors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore

from sieve_client import SieveClient, SieveInputError
from sieve_client.integrations.llamaindex import SieveRetriever

QUERY = "vitamin D deficiency and cancer risk"


@pytest.fixture(scope="module")
def sieve(live_server: str) -> Iterator[SieveClient]:
    with SieveClient(live_server, timeout=60) as client:
        yield client


def test_nodes_carry_id_score_stage_scores_and_title(sieve: SieveClient) -> None:
    nodes = SieveRetriever(sieve, "sf", k=4, retriever="hybrid").retrieve(QUERY)
    expected = sieve.search("sf", QUERY, k=4, retriever="hybrid").hits
    assert all(isinstance(n, NodeWithScore) for n in nodes)
    assert [n.node.node_id for n in nodes] == [h.id for h in expected]
    assert [n.score for n in nodes] == pytest.approx([h.score for h in expected])
    first = nodes[0].node
    assert first.get_content(metadata_mode=MetadataMode.NONE) == expected[0].text
    assert set(first.metadata["stage_scores"]) >= {"sparse", "dense"}
    llm_view = first.get_content(metadata_mode=MetadataMode.LLM)
    assert expected[0].title in llm_view and "stage_scores" not in llm_view


async def test_async_retrieval_matches_sync(sieve: SieveClient) -> None:
    retriever = SieveRetriever(sieve, "sf", k=3, retriever="sparse", search_options={"bm25": {"k1": 0.9, "b": 0.4}})
    sync_ids = [n.node.node_id for n in retriever.retrieve(QUERY)]
    assert [n.node.node_id for n in await retriever.aretrieve(QUERY)] == sync_ids


def test_nodes_work_with_llamaindex_postprocessors(sieve: SieveClient) -> None:
    nodes = SieveRetriever(sieve, "sf", k=10, retriever="dense").retrieve(QUERY)
    cutoff = (nodes[0].score + nodes[-1].score) / 2
    kept = SimilarityPostprocessor(similarity_cutoff=cutoff).postprocess_nodes(nodes)
    assert 0 < len(kept) < len(nodes) and all(n.score >= cutoff for n in kept)


def test_bad_configuration_is_refused(sieve: SieveClient) -> None:
    with pytest.raises(SieveInputError, match="unknown search option"):
        SieveRetriever(sieve, "sf", search_options={"deep": 5})
    with pytest.raises(SieveInputError, match="k >= 1"):
        SieveRetriever(sieve, "sf", k=0)
