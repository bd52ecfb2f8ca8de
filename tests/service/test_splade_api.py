"""The learned sparse (SPLADE) retriever over real HTTP on a real SciFact slice: alone, fused with BM25 and dense,
explained, with per-request index and query options, the empty query, bad parameters, and live updates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from indexers.collection import BuildPlan, build_collection
from indexers.corpus import BeirDataset
from indexers.impact import ImpactIndexSpec
from indexers.learned_sparse import ExactIndexSpec, ForwardStore
from indexers.learned_sparse_backends import open_learned_sparse_index
from indexers.sparse_encoders import SparseEncoderSpec, build_sparse_encoder
from kernel.types import Hit
from rankers.fusion import FusionSpec, fuse
from service.config import Settings
from tests.conftest import asgi_client, write_beir_slice

QUERY = "Vitamin D deficiency increases the risk of cancer"


@pytest.fixture(scope="module")
def lsr_root(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lsr``: BM25, dense (MiniLM, Flat), learned sparse exact ``splade`` and Lucene impact ``splade-impact``
    (one encoding of the corpus, shared), over 6 SciFact test queries' judged docs and 30 others."""
    data = write_beir_slice(datasets / "scifact", tmp_path_factory.mktemp("lsr-data") / "lsr", 6, 30)
    root = tmp_path_factory.mktemp("lsr-root")
    plan = BuildPlan(name="lsr", source=data, learned_sparse=(ExactIndexSpec(name="splade"),
                                                              ImpactIndexSpec(name="splade-impact")))
    built = build_collection(plan, root)
    assert built["splade-impact"].build["vectors_reused_from"].endswith("splade")
    return root


@pytest.fixture(scope="module")
async def lsr(lsr_root: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(Settings(index_root=lsr_root, workers=2)) as client:
        yield client


async def search(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/v1/search", json={"collection": "lsr", "query": QUERY, **body})


def runs(hits: list[dict[str, object]], stage: str) -> list[Hit]:
    return [Hit(str(h["id"]), float(h["score"]), stage_scores={stage: float(h["score"])}) for h in hits]  # type: ignore[arg-type]


async def test_splade_alone_matches_the_index_and_explains_the_query(lsr: httpx.AsyncClient, lsr_root: Path) -> None:
    resp = await search(lsr, k=5, retriever="splade", explain=True)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["retriever"] == "splade" and body["retrievers"] == ["splade"]
    assert {"splade.encode", "splade.search"} <= set(body["timings_ms"])
    encoder = build_sparse_encoder(SparseEncoderSpec())
    query = encoder.encode_queries([QUERY])
    index = open_learned_sparse_index(lsr_root / "lsr" / "indexes" / "splade")
    expected = index.search(query, 5)[0]
    assert [(h["id"], h["score"]) for h in body["hits"]] == [(d, pytest.approx(s, rel=1e-5)) for d, s in expected]
    assert all(set(h["stage_scores"]) == {"splade"} for h in body["hits"])
    assert body["counts"]["splade.query_terms"] == query.nnz
    terms = body["explain"]["splade"]
    weights = list(terms.values())
    assert weights == sorted(weights, reverse=True) and len(terms) == min(32, query.nnz)
    assert {"vitamin", "cancer"} <= set(terms)  # the query's own words, plus expansion terms
    assert terms == pytest.approx(dict(sorted(query.to_dicts(encoder.vocab)[0].items(), key=lambda t: -t[1])[:32]),
                                  abs=1e-4)
    assert (await search(lsr, k=5, retriever="splade")).json()["explain"] is None
    cached = (await search(lsr, k=5, retriever="splade", explain=True)).json()
    assert cached["cached"] and cached["explain"] == body["explain"]  # the result cache keeps the explanation


@pytest.mark.parametrize("fusion", [{"method": "convex", "weights": [0.2, 0.3, 0.5]},
                                    {"method": "rrf", "weights": [1.0, 2.0, 1.0]}])
async def test_three_retrievers_fused(lsr: httpx.AsyncClient, fusion: dict[str, object]) -> None:
    depth = 20
    single = {}
    for stage in ("sparse", "splade", "dense"):
        resp = await search(lsr, k=depth, retriever=stage)
        single[stage] = runs(resp.json()["hits"], stage)
    resp = await search(lsr, k=10, depth=depth, retrievers=["sparse", "splade", "dense"], fusion=fusion)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["retrievers"] == ["sparse", "splade", "dense"]
    assert {"sparse", "splade.encode", "splade.search", "dense.encode", "dense.search", "fusion"} <= set(
        body["timings_ms"])
    expected = fuse([single["sparse"], single["splade"], single["dense"]], FusionSpec(**fusion), top_k=10)
    assert [h["id"] for h in body["hits"]] == [h.id for h in expected]
    assert [h["score"] for h in body["hits"]] == pytest.approx([h.score for h in expected])
    assert {"sparse", "splade", "dense", "fusion"} == set(body["hits"][0]["stage_scores"])


async def test_query_with_no_term_left_gets_no_hits_and_a_warning(lsr: httpx.AsyncClient) -> None:
    resp = await search(lsr, k=5, retriever="splade", splade_min_weight=1000.0, explain=True)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["hits"] == [] and body["counts"]["splade.query_terms"] == 0 and body["explain"] == {"splade": {}}
    assert any("splade" in w and "matches nothing" in w for w in body["warnings"])
    again = (await search(lsr, k=5, retriever="splade", splade_min_weight=1000.0, explain=True)).json()
    assert again["cached"] and again["warnings"] == body["warnings"] and again["explain"] == {"splade": {}}
    # Fused with BM25, the answer is BM25's own ranking.
    fused = (await search(lsr, k=5, retrievers=["splade", "sparse"], splade_min_weight=1000.0)).json()
    bm25 = (await search(lsr, k=5, retriever="sparse")).json()
    assert [h["id"] for h in fused["hits"]] == [h["id"] for h in bm25["hits"]] and fused["warnings"]


async def test_index_choice_and_query_options(lsr: httpx.AsyncClient) -> None:
    exact = (await search(lsr, k=5, retriever="splade")).json()["hits"]
    impact = await search(lsr, k=5, retriever="splade", splade_index="splade-impact", splade={"query_cut": 100})
    assert impact.status_code == 200, impact.text
    assert [h["id"] for h in impact.json()["hits"]][:3] == [h["id"] for h in exact][:3]
    quantised = await search(lsr, k=5, retriever="splade", splade={"quantised": True})
    assert quantised.status_code == 200 and [h["id"] for h in quantised.json()["hits"]][:3] == [
        h["id"] for h in exact][:3]


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"retriever": "splade", "splade_index": "nope"}, 404, ["splade", "splade-impact"]),
        ({"retriever": "splade", "splade": {"heap_factor": 0.5}}, 422, ["quantised"]),
        ({"retriever": "splade", "splade_index": "splade-impact", "splade": {"query_cut": 0}}, 422, ["query_cut"]),
        ({"retrievers": ["sparse", "splade", "dense"], "fusion": {"weights": [0.5, 0.5]}}, 422, ["3 retrievers"]),
        ({"retrievers": ["splade", "splade"]}, 422, ["distinct"]),
        ({"retrievers": ["colbert"]}, 422, ["splade"]),
        ({"retriever": "splade", "splade_min_weight": -1}, 422, ["splade_min_weight"]),
    ],
)
async def test_bad_parameters_are_4xx_naming_valid_ones(lsr: httpx.AsyncClient, body: dict[str, object],
                                                        status: int, names: list[str]) -> None:
    resp = await search(lsr, **body)
    assert resp.status_code == status, resp.text
    assert all(name in resp.text for name in names), resp.text


async def test_collection_lists_learned_sparse_indexes(lsr: httpx.AsyncClient) -> None:
    cols = (await lsr.get("/v1/collections")).json()["collections"]
    kinds = {i["name"]: (i["kind"], i["build"]["backend"] if i["kind"] == "learned_sparse" else None)
             for c in cols for i in c["indexes"]}
    assert kinds["splade"] == ("learned_sparse", "exact") and kinds["splade-impact"] == ("learned_sparse",
                                                                                         "lucene_impact")


async def test_upsert_and_delete_reach_the_learned_sparse_index(datasets: Path,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    data = write_beir_slice(datasets / "scifact", tmp_path_factory.mktemp("live-data") / "live", 2, 10)
    root = tmp_path_factory.mktemp("live-root")
    build_collection(BuildPlan(name="live", source=data, dense=(), learned_sparse=(ExactIndexSpec(name="splade"),)),
                     root)
    folder = root / "live" / "indexes" / "splade"
    before = ForwardStore.read(folder)
    docs = list(BeirDataset.open(data).corpus())
    gone, kept = docs[0], docs[1]
    new = {"id": "new-1", "title": "Zebrafish fin regeneration", "text": "Zebrafish regrow amputated fins through "
                                                                         "blastema formation after injury."}
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        resp = await client.post("/v1/collections/live/documents", json={"documents": [new]})
        assert resp.status_code == 200, resp.text
        resp = await client.post("/v1/collections/live/documents/delete", json={"ids": [gone.id]})
        assert resp.status_code == 200, resp.text
        body = {"collection": "live", "retriever": "splade", "k": 3}
        found = (await client.post("/v1/search", json={**body, "query": "zebrafish fin regeneration"})).json()
        assert found["hits"][0]["id"] == "new-1"
        title = (await client.post("/v1/search", json={**body, "query": gone.title, "k": 20})).json()
        assert gone.id not in [h["id"] for h in title["hits"]] and title["hits"]
        assert ForwardStore.read(folder).docids == before.docids  # logged and searched from the delta, not rebuilt
        resp = await client.post("/v1/collections/live/rebuild")  # the full compaction folds the log in
        assert resp.status_code == 200, resp.text
        again = (await client.post("/v1/search", json={**body, "query": "zebrafish fin regeneration"})).json()
        assert again["hits"][0]["id"] == "new-1"
        assert again["hits"][0]["score"] == pytest.approx(found["hits"][0]["score"], rel=1e-5)
    after = ForwardStore.read(folder)
    assert "new-1" in after.docids and gone.id not in after.docids and len(after.docids) == len(before.docids)
    old_ids, new_ids = before.vectors.row(before.docids.index(kept.id)), after.vectors.row(after.docids.index(kept.id))
    assert old_ids[0].tolist() == new_ids[0].tolist() and old_ids[1].tolist() == new_ids[1].tolist()  # reused
