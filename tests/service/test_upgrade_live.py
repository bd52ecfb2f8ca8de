"""A live model upgrade over real HTTP. First ``reindex: false`` maps BERT-tiny (B) into MiniLM's (A) space and
stops: searches are then served through the map and say so. Then clients search the dense index while a full
upgrade re-fits the map, re-encodes the documents and swaps B's index in; one client writes meanwhile. No request
fails; each client's answers are mapped until the swap and B's own after it; the end state is a fresh B index's
ranking."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cognition
import httpx
import numpy as np
import pytest

from indexers.dense import DenseIndex, DenseIndexSpec, build_dense_index
from indexers.dense.options import DenseSearchOptions
from indexers.docstore import DocStore
from indexers.encoders import EncoderSpec, build_encoder
from indexers.manifest import IndexManifest
from kernel.types import Doc
from service.config import Settings
from service.main import create_app
from tests.conftest import build_small
from tests.servers import serve_in_thread

B_MODEL = str(Path(cognition.__file__).parent / "model")
QUERIES = ["vitamin D deficiency and bone fractures", "gene expression in tumour cells", "antibiotic resistance"]
NEW = {"id": "new-1", "title": "Hypersonic cones", "text": "Hypersonic flow over slender cones at Mach 8"}
ROUTE = "/v1/collections/up/indexes/dense/upgrade"


@pytest.fixture(scope="module")
def root(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small(tmp_path_factory.mktemp("upgrade-live"), "up", scifact_slice, 80)


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[str]:
    settings = Settings(index_root=root, workers=2, admin_models=[B_MODEL, "/no/such/model"])
    with serve_in_thread(create_app(settings)) as url:
        yield url


async def _search(client: httpx.AsyncClient, query: str, k: int = 5) -> httpx.Response:
    return await client.post("/v1/search", json={"collection": "up", "query": query, "k": k, "retriever": "dense"})


MAPPED = "dense.query_encoder.upgrade-dense"


async def _finish(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[str]]:
    phases: list[str] = []
    for _ in range(3000):
        status = (await client.get(ROUTE)).json()
        phases.append(status["phase"])
        if status["phase"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    return status, phases


async def test_upgrade_under_live_search_and_writes(server: str, root: Path) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=120) as client:
        before = (await _search(client, QUERIES[0])).json()
        assert MAPPED not in before["counts"]
        started = await client.post(ROUTE, json={"model": B_MODEL, "calibration": 50, "reindex": False})
        assert started.status_code == 202, started.text
        status, phases = await _finish(client)
        assert status["phase"] == "done" and "reencoding" not in phases, (status, phases)
        assert status["query_encoder"] == "upgrade-dense" and status["map"]["calibration"] == 50, status
        assert IndexManifest.read(root / "up" / "indexes" / "dense").model != B_MODEL
        mapped = (await _search(client, QUERIES[0])).json()
        assert mapped["counts"][MAPPED] == 1, mapped["counts"]
        assert [h["id"] for h in mapped["hits"]] != [h["id"] for h in before["hits"]] or \
            [h["score"] for h in mapped["hits"]] != [h["score"] for h in before["hits"]]

        finished = asyncio.Event()
        answers: list[tuple[int, int, int, dict[str, Any]]] = []
        upserted: list[str] = []

        async def searcher(i: int) -> None:
            for n in itertools.count():
                resp = await _search(client, QUERIES[(i + n) % len(QUERIES)])
                answers.append((i, n, resp.status_code, resp.json()))
                if finished.is_set() or n > 5000:
                    return

        async def writer() -> None:  # one upsert once B's queries are served mapped (before the swap, mostly)
            while not finished.is_set():
                phase = (await client.get(ROUTE)).json()["phase"]
                if phase in ("serving_mapped", "reencoding", "swapping", "done"):
                    resp = await client.post("/v1/collections/up/documents", json={"documents": [NEW]})
                    assert resp.status_code == 200, resp.text
                    upserted.append(phase)
                    return
                await asyncio.sleep(0.01)

        workers = [asyncio.create_task(searcher(i)) for i in range(3)]
        started = await client.post(ROUTE, json={"model": B_MODEL, "calibration": 50})
        assert started.status_code == 202, started.text
        assert started.json()["phase"] in ("pending", "mapping")
        again = await client.post(ROUTE, json={"model": B_MODEL})
        assert again.status_code == 409 and "already being upgraded" in again.json()["error"]["message"]
        write = asyncio.create_task(writer())
        status, phases = await _finish(client)
        await write
        finished.set()
        await asyncio.gather(*workers)
        assert status["phase"] == "done", status
        assert status["done"] == status["total"] == 80 and status["map"]["calibration"] == 50
        assert status["map"]["source_dim"] == 128 and status["map"]["target_dim"] == 384
        assert upserted, phases
        assert len(answers) >= 3 and {code for _, _, code, _ in answers} == {200}
        for i in range(3):  # each client's answers: through the map (A's index) until the swap, then B's own
            served = [MAPPED in a["counts"] for j, _, _, a in sorted(answers, key=lambda x: x[1]) if j == i]
            assert served and served[0] and served == sorted(served, reverse=True), (i, served)

        index = root / "up" / "indexes" / "dense"
        assert IndexManifest.read(index).model == B_MODEL
        after = await _search(client, QUERIES[0], k=10)
        assert after.status_code == 200 and not any("query_encoder" in c for c in after.json()["counts"])
        b = build_encoder(EncoderSpec(model=B_MODEL))
        docs = list(DocStore(root / "up" / "docs.sqlite").iter_docs())
        if "new-1" not in {d.id for d in docs}:  # upserted after the swap: in the delta, encoded by B live
            docs.append(Doc(NEW["id"], NEW["text"], NEW["title"]))
        fresh = root / "fresh-b"
        build_dense_index(iter(docs), len(docs), b, fresh, DenseIndexSpec(encoder=EncoderSpec(model=B_MODEL),
                                                                        prefixes=None))
        want = DenseIndex(fresh).search(b.encode_queries([QUERIES[0]]), 10, DenseSearchOptions())[0]
        got = after.json()["hits"]
        assert [h["id"] for h in got] == [r[0] for r in want]
        np.testing.assert_allclose([h["score"] for h in got], [r[1] for r in want], rtol=1e-4, atol=1e-5)

        found = (await _search(client, NEW["text"], k=1)).json()["hits"][0]
        new_text = f"{NEW['title']} {NEW['text']}"
        expected = float(b.encode_queries([NEW["text"]])[0] @ b.encode_docs([new_text])[0])
        assert found["id"] == "new-1" and found["score"] == pytest.approx(expected, abs=1e-4)
        assert not (root / ".upgrade" / "up" / "dense").exists()


async def test_bad_upgrades_change_nothing(server: str, root: Path) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=120) as client:
        before = IndexManifest.read(root / "up" / "indexes" / "dense").version
        bad = [
            (await client.post("/v1/collections/nope/indexes/dense/upgrade", json={"model": B_MODEL}), 404,
             "unknown collection 'nope'"),
            (await client.post("/v1/collections/up/indexes/other/upgrade", json={"model": B_MODEL}), 404,
             "has no index 'other'"),
            (await client.post("/v1/collections/up/indexes/bm25/upgrade", json={"model": B_MODEL}), 422,
             "only dense indexes"),
            (await client.post(ROUTE, json={"model": "someone/unserved-model"}), 422, "not served here"),
            (await client.post(ROUTE, json={"model": "/no/such/model"}), 422, "cannot be loaded"),
            (await client.post(ROUTE, json={"model": B_MODEL, "method": "svd"}), 422, "method"),
            (await client.get("/v1/collections/up/indexes/bm25/upgrade"), 404, "no upgrade"),
        ]
        for resp, status, message in bad:
            assert resp.status_code == status, resp.text
            assert message in resp.json()["error"]["message"], resp.text
        assert IndexManifest.read(root / "up" / "indexes" / "dense").version == before
