"""Long and odd BM25 queries are plain text, on sparse and hybrid: Lucene operators, unicode, control characters,
a 4,096-character query of distinct terms, more distinct terms than Lucene's default clause cap (1,024)."""

from __future__ import annotations

import itertools
import string

import httpx
import pytest

BUDGET = {"timeout_ms": 60_000}  # correctness, not speed: a loaded machine must not turn these into 504s

ODD = {
    "operators": 'cancer AND cells OR NOT (tumor) "gene expression" protein~2 title:cell^3 [a TO z] {b TO c} +x -y',
    "bare-operators": 'AND OR NOT ( ) " * ? ~ ^ : [ ] { } \\ / && || ! - +',
    "escapes": "\\\\ \\* \\? /regex.*/ *wild* ?ingle fuzzy~ boost^ field: ",
    "unicode": "细胞 癌症 Ωmega café naïve 🧬 ﬁbrosis \u200b\u202e right-to-left \u0301",
    "control": "vitamin\u0000D\u0007 deficiency\ttab\r\nnewline",
    "one-char": "*",
}


def distinct_terms(chars: int) -> str:
    """Distinct terms of two, then three characters (letters and digits), space separated, ``chars`` long."""
    alphabet = string.ascii_lowercase + string.digits
    pairs, triples = itertools.product(alphabet, repeat=2), itertools.product(alphabet, repeat=3)
    terms = ("".join(p) for p in itertools.chain(pairs, triples))
    text = " ".join(itertools.islice(terms, chars // 3 + 1))[:chars]
    return text[:-1] + "z" if text.endswith(" ") else text  # exactly ``chars``: no trailing space to strip


@pytest.mark.parametrize("retriever", ["sparse", "hybrid"])
@pytest.mark.parametrize("query", list(ODD.values()), ids=list(ODD))
async def test_odd_queries_answer(client: httpx.AsyncClient, retriever: str, query: str) -> None:
    for rm3 in (False, True):
        resp = await client.post("/v1/search", json={"collection": "sf", "query": query, "k": 5,
                                                     "retriever": retriever, "bm25": {"rm3": rm3}, **BUDGET})
        assert resp.status_code in (200, 422), resp.text  # 422 only for a query that is blank once stripped
        if resp.status_code == 200:
            assert len(resp.json()["hits"]) <= 5


@pytest.mark.parametrize("retriever", ["sparse", "hybrid"])
async def test_a_4096_character_query_of_distinct_terms_answers(client: httpx.AsyncClient, retriever: str) -> None:
    query = distinct_terms(4096)
    assert len(query) == 4096 and len(set(query.split())) > 1024  # over Lucene's default clause cap
    for bm25 in ({}, {"rm3": True}, {"k1": 1.5, "b": 0.2}):
        resp = await client.post("/v1/search", json={"collection": "sf", "query": query, "k": 5,
                                                     "retriever": retriever, "bm25": bm25, **BUDGET})
        assert resp.status_code == 200, resp.text
        assert len(resp.json()["hits"]) == 5


async def test_a_query_over_the_length_limit_is_a_clear_422(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/search", json={"collection": "sf", "query": distinct_terms(5000), "k": 5,
                                                 "retriever": "sparse", **BUDGET})
    assert resp.status_code == 422
    assert "4096" in resp.json()["error"]["message"]
