"""Public answers say nothing about where things are on the server: every public route's responses, errors
included, are scanned for filesystem paths (the index root, /work, /tmp, home) and upstream URLs."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.config import RerankSettings, Settings
from service.main import create_app
from tests.servers import free_port, serve_in_thread


@pytest.fixture(scope="module")
def upstream() -> str:
    """An LLM endpoint address where nothing listens: every call to it fails fast."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture(scope="module")
def root(index_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared ``sf`` collection (linked) next to a broken one whose load error names its own folder."""
    root = tmp_path_factory.mktemp("leak-root")
    (root / "sf").symlink_to(index_root / "sf")
    broken = root / "broken"
    (broken / "indexes").mkdir(parents=True)
    for name in ("docs.sqlite", "collection.json"):
        shutil.copy(index_root / "sf" / name, broken / name)
    dense = shutil.copytree(index_root / "sf" / "indexes" / "dense", broken / "indexes" / "dense")
    ids = (dense / "docids.txt").read_text().splitlines()
    (dense / "docids.txt").write_text("\n".join(ids[:-1]) + "\n")  # one id short of the vectors: refused on load
    return root


@pytest.fixture(scope="module")
def server(root: Path, upstream: str) -> Iterator[str]:
    llm = {"kind": "listwise", "llm": {"backend": "openai", "base_url": upstream, "model": "m", "max_retries": 0,
                                       "timeout_s": 5}}
    rerank = RerankSettings(models=("sentence-transformers/all-MiniLM-L6-v2",), rankers={"remote": llm},
                            max_length=64)
    settings = Settings(index_root=root, workers=2, rerank=rerank)
    with serve_in_thread(create_app(settings)) as url:
        yield url


def _markers(root: Path, upstream: str) -> list[str]:
    home = str(Path.home())
    return sorted({str(root), str(root.resolve()), os.getcwd(), "/work/", "/tmp/", home + "/",
                   upstream, upstream.removeprefix("http://").removesuffix("/v1")} - {"/"})


def test_no_public_answer_shows_a_path_or_an_upstream_url(server: str, root: Path, upstream: str) -> None:
    search = {"collection": "sf", "query": "vitamin D", "k": 3, "retriever": "sparse"}
    rerank = {"query": "q", "documents": ["a", "b"]}
    calls: list[tuple[str, str, object]] = [
        ("GET", "/livez", None), ("GET", "/readyz", None), ("GET", "/healthz", None), ("GET", "/metrics", None),
        ("GET", "/openapi.json", None), ("GET", "/docs", None), ("GET", "/redoc", None), ("GET", "/playground", None),
        ("GET", "/v1/collections", None), ("GET", "/v1/rerankers", None), ("GET", "/nope", None),
        ("POST", "/v1/search", search),
        ("POST", "/v1/search", {**search, "retriever": "hybrid", "rerank": {"top_n": 2}}),
        ("POST", "/v1/search", {**search, "collection": "broken"}),
        ("POST", "/v1/search", {**search, "collection": "missing"}),
        ("POST", "/v1/search", {**search, "sparse_index": "nope"}),
        ("POST", "/v1/search", {**search, "rerank": {"model": "remote"}}),
        ("POST", "/v1/search", {**search, "rerank": {"model": "/etc/passwd"}}),
        ("POST", "/v1/search", {**search, "k": "many"}),
        ("POST", "/v1/embeddings", {"input": "x", "model": "/work/models/secret"}),
        ("POST", "/v1/embeddings", {"input": "x"}),
        ("POST", "/v2/rerank", {**rerank, "model": "remote"}),
        ("POST", "/v1/rerank", {**rerank, "model": "remote"}),
        ("POST", "/rerank", {"query": "q", "texts": ["a", "b"], "model": "remote"}),
        ("POST", "/v2/rerank", {**rerank, "model": str(root)}),
        ("POST", "/v2/rerank", rerank),
    ]
    markers = _markers(root, upstream)
    statuses = {}
    with httpx.Client(base_url=server, timeout=60) as client:
        for method, path, body in calls:
            resp = client.request(method, path, json=body)
            statuses[(path, json.dumps(body))] = resp.status_code
            seen = resp.text + json.dumps(dict(resp.headers))
            leaks = [m for m in markers if m in seen]
            assert not leaks, f"{method} {path} {body} -> {resp.status_code} shows {leaks}: {resp.text[:800]}"
        health = client.get("/healthz").json()
    assert "broken" in health["errors"] and "sf" in health["collections"]  # reported, without the folder
    assert statuses[("/v2/rerank", json.dumps({**rerank, "model": "remote"}))] == 502  # the upstream failed
    assert 500 not in statuses.values()
