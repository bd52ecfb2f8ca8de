"""Admin create refuses what it should not build, before anything loads or is written: a model given as a server
path, a Hugging Face id this server does not serve, a FAISS factory outside the bounded grammar or too large."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import indexers.collection
from indexers.dense.factory import check_factory
from kernel.errors import InvalidInput
from kernel.model_resolver import resolve_model
from service.config import Settings
from service.main import create_app
from tests.servers import serve_in_thread

DOCS = [{"id": f"d{i}", "title": f"title {i}", "text": f"boundary layer number {i}"} for i in range(5)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admin-validation")


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[str]:
    with serve_in_thread(create_app(Settings(index_root=root, workers=2))) as url:
        yield url


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every encoder the collection builder loads (a spy that records, then loads as before)."""
    seen: list[object] = []
    real = indexers.collection.build_encoder

    def spy(spec):  # type: ignore[no-untyped-def]
        seen.append(spec)
        return real(spec)

    monkeypatch.setattr(indexers.collection, "build_encoder", spy)
    return seen


@pytest.mark.parametrize(("dense", "message"), [
    ({"model": "PATH"}, "is not served here"),
    ({"model": "someone/not-a-served-model"}, "is not served here"),
    ({"factory": "HNSW4096"}, "HNSW M must be in [2, 64]"),
    ({"factory": "IVF65536,Flat"}, "IVF lists (at most the 5 documents)"),
    ({"factory": "IVF4,PQ512"}, "PQ m must be in [1, 64]"),
    ({"factory": "IDMap2,HNSW32"}, "is not one this server builds"),
], ids=["path-model", "unknown-hf-id", "huge-hnsw", "huge-ivf", "huge-pq", "outside-grammar"])
def test_create_refuses_before_loading_or_writing(server: str, root: Path, builds: list[object],
                                                  dense: dict[str, str], message: str) -> None:
    if dense.get("model") == "PATH":  # a real, loadable model folder on this server, named by its path
        dense = {"model": str(resolve_model("sentence-transformers/all-MiniLM-L6-v2").path)}
    body = {"name": "refused", "documents": DOCS, "dense": [{"backend": "onnx", **dense}]}
    resp = httpx.post(f"{server}/v1/collections", json=body, timeout=120)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["error"]["message"]
    assert builds == []  # no model loaded
    assert list(root.iterdir()) == []  # nothing written, not even a temporary folder
    assert httpx.get(f"{server}/v1/collections").json()["collections"] == []


def test_a_create_with_only_empty_documents_is_refused(server: str, root: Path, builds: list[object]) -> None:
    body = {"name": "blank", "documents": [{"id": "0", "text": ""}, {"id": "1", "text": " ", "title": "\t"}]}
    resp = httpx.post(f"{server}/v1/collections", json=body, timeout=120)
    assert resp.status_code == 422 and "every document is empty" in resp.json()["error"]["message"]
    assert builds == [] and list(root.iterdir()) == []


def test_a_served_model_and_bounded_factory_are_built(server: str, root: Path, builds: list[object]) -> None:
    body = {"name": "ok", "documents": DOCS, "dense": [{"backend": "onnx", "factory": "HNSW16"}]}
    resp = httpx.post(f"{server}/v1/collections", json=body, timeout=120)
    assert resp.status_code == 201, resp.text
    assert len(builds) == 1 and (root / "ok").is_dir()


@pytest.mark.parametrize("factory", ["Flat", "SQ8", "PQ16", "HNSW32", "HNSW64,Flat", "IVF5,Flat", "IVF2,PQ8"])
def test_the_grammar_accepts_bounded_factories(factory: str) -> None:
    assert check_factory(factory, doc_count=5) == factory


@pytest.mark.parametrize("factory", ["", "flat", "HNSW1", "HNSW65", "IVF0,Flat", "IVF6,Flat", "PQ0", "IVF4",
                                     "Flat\n", "HNSW32,PQ8", "OPQ16,IVF4,PQ16", "IVF4,Flat,Refine(Flat)"])
def test_the_grammar_refuses_the_rest(factory: str) -> None:
    with pytest.raises(InvalidInput):
        check_factory(factory, doc_count=5)
