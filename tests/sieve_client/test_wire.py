"""Request bodies and response models for ``/v1/embeddings`` and ``/v2/rerank``, checked on the documented shapes.

``/v2/rerank`` is not on this server yet, so its client half is checked against Cohere's published example here;
``/v1/embeddings`` also runs over HTTP in ``test_embed_live.py``.
"""

from __future__ import annotations

import base64
import struct

import pytest

from sieve_client import EmbeddingResponse, RerankResponse, SieveInputError
from sieve_client._core import embed_body, rerank_body, search_body


def test_embed_body_follows_openai() -> None:
    assert embed_body("hi", "m", None, "float", None) == {"input": "hi", "model": "m", "encoding_format": "float"}
    assert embed_body(["a", "b"], "minilm", 128, "base64", "u1") == {
        "input": ["a", "b"], "encoding_format": "base64", "model": "minilm", "dimensions": 128, "user": "u1"}
    for bad, needle in [([], "non-empty"), (["a", ""], r"input\[1\]"), ([3], r"input\[0\]")]:
        with pytest.raises(SieveInputError, match=needle):
            embed_body(bad, "m", None, "float", None)  # type: ignore[arg-type]
    with pytest.raises(SieveInputError, match="encoding_format"):
        embed_body("a", "m", None, "int8", None)
    with pytest.raises(SieveInputError, match="model"):
        embed_body("a", "", None, "float", None)


def test_embedding_response_decodes_floats_and_base64() -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 0.25)).decode()
    response = EmbeddingResponse.model_validate({
        "object": "list",
        "data": [{"object": "embedding", "index": 1, "embedding": packed},
                 {"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    })
    assert response.vectors() == [[0.1, 0.2, 0.3], [0.5, -1.0, 0.25]]
    assert response.usage.total_tokens == 8


def test_rerank_body_and_response_follow_cohere_v2() -> None:
    assert rerank_body("q", ["a", "b"], None, 1) == {"query": "q", "documents": ["a", "b"], "top_n": 1}
    assert rerank_body("q", [], "ce", None) == {"query": "q", "documents": [], "model": "ce"}
    for docs, top_n, needle in [("ab", None, "list of strings"), ([1], None, r"documents\[0\]"), (["a"], 0, "top_n")]:
        with pytest.raises(SieveInputError, match=needle):
            rerank_body("q", docs, None, top_n)  # type: ignore[arg-type]
    response = RerankResponse.model_validate({
        "id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
        "results": [{"index": 3, "relevance_score": 0.999}, {"index": 4, "relevance_score": 0.78}],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    })
    assert [r.index for r in response.results] == [3, 4] and response.meta["api_version"]["version"] == "2"


def test_search_body_leaves_out_unset_fields() -> None:
    body = search_body("sf", "q", 3, None, {"dimensions": None, "depth": 50, "fusion": {"method": "rrf"}})
    assert body == {"collection": "sf", "query": "q", "k": 3, "depth": 50, "fusion": {"method": "rrf"}}


def test_rerank_results_must_point_at_sent_documents() -> None:
    from sieve_client import SieveResponseError
    from sieve_client.integrations._common import reranked_order, top_n_for

    response = RerankResponse.model_validate({"results": [{"index": 1, "relevance_score": 0.9},
                                                          {"index": 0, "relevance_score": 0.2}]})
    assert reranked_order(response, 2) == [(1, 0.9), (0, 0.2)]
    with pytest.raises(SieveResponseError, match="index 1 for 1 documents"):
        reranked_order(response, 1)
    assert (top_n_for(3, 2), top_n_for(None, 5), top_n_for(2, 5)) == (2, None, 2)
