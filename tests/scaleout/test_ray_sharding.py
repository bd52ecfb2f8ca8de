"""Scale-out on a real local Ray cluster (no mocks): a 3-shard collection built with Ray Data (fresh encoding on 2
encoder actors) answers every test query of the SciFact slice with the same top-10 ids and scores as the single-node
collection, for dense Flat, BM25, learned sparse (SPLADE-tiny, exact backend: encoded per shard, the query once in the
router) and hybrid; a shard actor killed under load degrades answers (never a failed
request) and Ray brings it back by itself."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from indexers.bm25 import Bm25IndexSpec
from indexers.collection import BuildPlan, build_collection
from indexers.dense import DenseIndexSpec
from indexers.learned_sparse.exact import ExactIndexSpec
from indexers.sharding import ShardedManifest, shard_of
from service.config import CacheSettings, RaySettings, Settings
from service.main import create_app

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
SHARDS = 3
SPLADE = (ExactIndexSpec(name="splade-exact"),)  # SPLADE-tiny (the default model), exact dot products


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One local Ray cluster for the module (2 CPUs, no dashboard), shut down at the end."""
    from indexers.sharding.cluster import init_local

    init_local(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def root(cluster: Any, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from indexers.sharding.build import ShardedPlan, build_sharded

    root = tmp_path_factory.mktemp("scaleout")
    build_collection(BuildPlan(name="single", source=scifact_slice, sparse=(Bm25IndexSpec(name="bm25"),),
                               dense=(DenseIndexSpec(prefixes=None),), learned_sparse=SPLADE), root)
    build_sharded(ShardedPlan(name="sharded", source=scifact_slice, shards=SHARDS, encoder_workers=2,
                              learned_sparse=SPLADE), root)
    return root


@pytest.fixture(scope="module")
async def served(root: Path) -> AsyncIterator[tuple[FastAPI, Any]]:
    """The real app serving ``single`` in process and ``sharded`` through 3 shard actors (result cache off)."""
    settings = Settings(index_root=root, workers=2, cache=CacheSettings(enabled=False), deadline_ms=30_000,
                        ray=RaySettings(enabled=True, shard_timeout_ms=4000))
    application = create_app(settings)
    async with LifespanManager(application) as manager:
        yield application, manager.app


@pytest.fixture(scope="module")
async def client(served: tuple[FastAPI, Any]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=served[1])
    async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=120) as c:
        yield c


def _queries(scifact_slice: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (scifact_slice / "queries.jsonl").open() if line.strip()]


async def _search(client: httpx.AsyncClient, collection: str, query: str, retriever: str) -> dict[str, Any]:
    resp = await client.post("/v1/search", json={"collection": collection, "query": query, "k": 10,
                                                 "retriever": retriever, "include_text": False})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_build_places_every_document_once(root: Path, scifact_slice: Path) -> None:
    manifest = ShardedManifest.read(root / "sharded")
    corpus = [json.loads(line)["_id"] for line in (scifact_slice / "corpus.jsonl").open() if line.strip()]
    assert manifest.doc_count == len(corpus) == sum(manifest.doc_counts)
    for i in range(SHARDS):
        ids = (manifest.shard_folder(root / "sharded", i) / "indexes" / "dense" / "docids.txt").read_text().split()
        assert ids == [d for d in corpus if shard_of(d, SHARDS) == i]  # its hash's shard, corpus order, once
        lsr = (manifest.shard_folder(root / "sharded", i) / "indexes" / "splade-exact" / "docids.txt").read_text()
        assert lsr.split() == ids  # every shard encoded its own documents
    assert manifest.bm25["bm25"]["N"] == len(corpus)
    assert manifest.indexes["splade-exact"] == "learned_sparse"
    assert manifest.build["encode_docs_per_second"] > 0 and manifest.build["vectors_reused"] == []


@pytest.mark.parametrize("retriever", ["dense", "sparse", "splade", "hybrid"])
async def test_sharded_equals_single_node(client: httpx.AsyncClient, scifact_slice: Path, retriever: str) -> None:
    for query in _queries(scifact_slice):
        one = await _search(client, "single", query, retriever)
        many = await _search(client, "sharded", query, retriever)
        assert many["degraded"] == [], many["degraded"]
        assert many["hits"] and [h["id"] for h in many["hits"]] == [h["id"] for h in one["hits"]], query
        assert [h["score"] for h in many["hits"]] == pytest.approx([h["score"] for h in one["hits"]], abs=1e-5)
        stage = retriever if retriever in ("sparse", "splade") else "dense"
        assert many["counts"][f"{stage}.shards_answered"] == SHARDS
    filtered = await client.post("/v1/search", json={"collection": "sharded", "query": "cancer", "retriever": retriever,
                                                     "filter": {"field": "year", "eq": 2000}})
    assert filtered.status_code == 422 and "sharded collections" in filtered.text  # never silently unfiltered


async def test_sharded_splade_query_handling_is_the_single_nodes(client: httpx.AsyncClient,
                                                                 scifact_slice: Path) -> None:
    query = _queries(scifact_slice)[0]
    bodies = []
    for collection in ("single", "sharded"):
        resp = await client.post("/v1/search", json={"collection": collection, "query": query, "k": 10,
                                                     "retriever": "splade", "explain": True})
        assert resp.status_code == 200, resp.text
        bodies.append(resp.json())
    one, many = bodies
    assert many["hits"] and many["explain"]["splade"] == one["explain"]["splade"]  # encoded once, in the router
    assert many["counts"]["splade.query_terms"] == one["counts"]["splade.query_terms"] > 0
    empty = (await client.post("/v1/search", json={"collection": "sharded", "query": query, "retriever": "splade",
                                                   "splade_min_weight": 1000.0})).json()
    assert empty["hits"] == [] and any("matches nothing" in w for w in empty["warnings"])
    assert "splade.shards" not in empty["counts"]  # nothing was scattered
    bad = await client.post("/v1/search", json={"collection": "sharded", "query": query, "retriever": "splade",
                                                 "splade": {"no_such_option": 1}})
    assert bad.status_code == 422 and "valid" in bad.text


async def test_killed_shard_degrades_then_comes_back(served: tuple[FastAPI, Any], client: httpx.AsyncClient,
                                                     scifact_slice: Path) -> None:
    actor = served[0].state.registry.pipelines["sharded"].collection.router.actors[1][0]
    queries = _queries(scifact_slice)[:8]
    full = {q: await _search(client, "single", q, "hybrid") for q in queries}

    async def load() -> list[dict[str, Any]]:
        return [await _search(client, "sharded", q, "hybrid") for q in queries]  # every one must be a 200

    running = asyncio.ensure_future(load())
    await asyncio.sleep(0.05)
    ray.kill(actor, no_restart=False)  # mid-load; Ray restarts it (max_restarts)
    answers = await running + await load()
    degraded = [a for a in answers if a["degraded"]]
    assert degraded, "no answer noticed the killed shard"
    for a in degraded:
        assert a["degraded"] == ["shard:1"]
        assert a["counts"]["sparse.shards_answered"] + a["counts"]["dense.shards_answered"] < 2 * SHARDS
        assert all(shard_of(h["id"], SHARDS) != 1 for h in a["hits"])  # answered from the other shards
    deadline = time.monotonic() + 120
    while True:  # back by itself, with full answers equal to the single node's
        again = await _search(client, "sharded", queries[0], "hybrid")
        if not again["degraded"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert again["degraded"] == []
    for q in queries:
        back = await _search(client, "sharded", q, "hybrid")
        assert [h["id"] for h in back["hits"]] == [h["id"] for h in full[q]["hits"]]


async def test_upserts_and_deletes_reach_their_shards_and_keep_global_statistics(
        served: tuple[FastAPI, Any], client: httpx.AsyncClient, root: Path, scifact_slice: Path,
        datasets: Path) -> None:
    from functools import lru_cache

    from indexers.corpus import read_jsonl
    from indexers.encoders import build_encoder
    from indexers.segments.merge import apply_changes
    from indexers.sharding.updates import apply_sharded_changes
    from kernel.types import Doc

    present = [d.id for d in read_jsonl(scifact_slice / "corpus.jsonl")]
    new = [d for d in read_jsonl(datasets / "scifact" / "corpus.jsonl", limit=400) if d.id not in set(present)][:6]
    replaced = [Doc(present[3], "Vitamin D supplementation and bone density in older adults.", "replaced"),
                Doc(present[4], "Stem cells regenerate cardiac tissue after infarction.", "replaced too")]
    deletes = present[10:16]
    encoder_for = lru_cache(maxsize=None)(build_encoder)
    apply_changes(root, "single", encoder_for=encoder_for, upserts=[*new, *replaced], deletes=deletes)
    report = apply_sharded_changes(root, "sharded", encoder_for=encoder_for, upserts=[*new, *replaced],
                                   deletes=deletes)
    for shard, change in report.shards.items():  # each change landed on the shard its ids hash to, and only there
        assert change.added + change.replaced + change.deleted == sum(
            shard_of(i, SHARDS) == shard for i in [*(d.id for d in new + replaced), *deletes])
    app = served[0]
    app.state.registry.reload("single")
    app.state.sharded.reload(app.state.registry, "sharded")
    manifest = ShardedManifest.read(root / "sharded")
    assert manifest.doc_count == len(present) + len(new) - len(deletes) == manifest.bm25["bm25"]["N"]
    queries = _queries(scifact_slice)[:12] + [d.text[:200] for d in new + replaced]
    for retriever in ("sparse", "dense", "splade", "hybrid"):
        for query in queries:
            one = await _search(client, "single", query, retriever)
            many = await _search(client, "sharded", query, retriever)
            assert many["degraded"] == []
            assert [h["id"] for h in many["hits"]] == [h["id"] for h in one["hits"]], (retriever, query)
            assert [h["score"] for h in many["hits"]] == pytest.approx([h["score"] for h in one["hits"]], abs=1e-5)
            assert not set(deletes) & {h["id"] for h in many["hits"]}
