"""One bad collection never takes the others down: corrupt manifests, doc stores and stale indexes are reported by
name in ``/healthz`` and ``/readyz`` (a short reason, no server path) while the good collection serves; ``/readyz`` is
not ready when nothing loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexers.collection import BuildPlan, build_collection
from service.config import Settings
from tests.conftest import asgi_client


@pytest.fixture(scope="module")
def good(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good-root")
    build_collection(BuildPlan(name="good", source=scifact_slice, limit=30, dense=()), root)
    return root / "good"


def _with(root: Path, good: Path, name: str) -> Path:
    shutil.copytree(good, root / name)
    return root / name


async def test_a_corrupt_collection_next_to_a_good_one(good: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _with(root, good, "good")
    (_with(root, good, "bad") / "indexes" / "bm25" / "manifest.json").write_text('{"kind": "sparse", "na')
    (_with(root, good, "junk") / "docs.sqlite").write_bytes(b"not a database at all" * 100)
    stale = _with(root, good, "stale") / "indexes" / "bm25" / "manifest.json"
    stale.write_text(json.dumps({**json.loads(stale.read_text()), "docstore_version": "another-one"}))
    async with asgi_client(Settings(index_root=root, workers=1)) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        search = await client.post("/v1/search", json={"collection": "good", "query": "cell biology", "k": 3,
                                                       "retriever": "sparse"})
        refused = await client.post("/v1/search", json={"collection": "bad", "query": "cell biology",
                                                        "retriever": "sparse"})
    assert search.status_code == 200 and len(search.json()["hits"]) == 3  # the good one serves
    assert refused.status_code == 404
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded"
    assert body["collections"] == ["good", "stale"]  # stale: loaded, its stale index not served
    assert set(body["errors"]) == {"bad", "junk", "stale"}
    assert "index 'bm25': corrupt manifest" in body["errors"]["bad"]
    assert "corrupt doc store" in body["errors"]["junk"]
    assert "index 'bm25' not served" in body["errors"]["stale"]
    assert ready.status_code == 200 and ready.json()["errors"] == body["errors"]
    for text in (health.text, ready.text):
        assert str(tmp_path) not in text and "/tmp" not in text  # names and reasons, no server paths


async def test_not_ready_when_nothing_loaded(good: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (_with(root, good, "bad") / "indexes" / "bm25" / "manifest.json").write_text("[]")
    (tmp_path / "empty").mkdir()
    async with asgi_client(Settings(index_root=root, workers=1)) as client:
        ready = await client.get("/readyz")
        health = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["reason"] == "no collection loaded" and "corrupt manifest" in ready.json()["errors"]["bad"]
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    async with asgi_client(Settings(index_root=tmp_path / "empty", workers=1)) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["errors"] == {}
