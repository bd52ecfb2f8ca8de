"""The native BM25 backend against Lucene on a real SciFact slice: analysis, ranking, k1/b, RM3 refusal, updates,
the manifest-chosen reader, and the HTTP answer to a request it cannot serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexers.bm25 import Bm25Index, Bm25IndexSpec
from indexers.bm25.analyzer import analyze
from indexers.bm25.build import lucene_length
from indexers.bm25.porter import porter_stem
from indexers.collection import BuildPlan, build_collection, open_collection
from indexers.corpus import BeirDataset
from indexers.lucene import Bm25Params, LuceneIndex, LuceneIndexSpec
from indexers.manifest import IndexManifest
from indexers.segments.merge import apply_changes
from indexers.sparse import open_sparse_index
from kernel.errors import IndexUnavailable, InvalidInput
from kernel.types import Doc
from service.config import Settings
from tests.conftest import asgi_client

SPARSE = (Bm25IndexSpec(name="bm25"), LuceneIndexSpec(name="bm25-lucene"))


@pytest.fixture(scope="module")
def root(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bm`` collection: the slice with a native "bm25" and a Lucene "bm25-lucene" index, no dense index."""
    root = tmp_path_factory.mktemp("bm25")
    build_collection(BuildPlan(name="bm", source=scifact_slice, sparse=SPARSE, dense=()), root)
    return root


@pytest.fixture(scope="module")
def queries(scifact_slice: Path) -> dict[str, str]:
    return BeirDataset.open(scifact_slice).queries("test")


def test_analyzer_matches_lucene(scifact_slice: Path) -> None:
    from indexers.lucene.jvm import ensure_jvm

    ensure_jvm()
    from pyserini.analysis import Analyzer, get_lucene_analyzer

    lucene = Analyzer(get_lucene_analyzer())
    texts = [d.contents for d in BeirDataset.open(scifact_slice).corpus()]
    texts += ["The patient's U.S. data (p < 0.05, 1,000 mice) vs. IL-6 and covid19 ® methodology possibly"]
    same = sum(lucene.analyze(t) == analyze(t) for t in texts)
    assert same == len(texts), f"{len(texts) - same} of {len(texts)} texts analyzed differently"


def test_porter_is_lucenes_not_snowballs() -> None:
    # Lucene's reference Porter: -logi -> -log, -bli -> -ble, and one- or two-letter words untouched.
    assert [porter_stem(w) for w in ("technology", "possibly", "vs", "us", "running", "relational")] == [
        "technolog", "possibl", "vs", "us", "run", "relat"]


def test_lengths_are_rounded_like_lucene_norms() -> None:
    assert [lucene_length(n) for n in (0, 23, 24, 25, 40, 100, 1000)] == [0, 23, 24, 25, 40, 96, 984]


def test_native_ranks_like_lucene(root: Path, queries: dict[str, str]) -> None:
    col = open_collection(root / "bm")
    native, lucene = col.sparse["bm25"], col.sparse["bm25-lucene"]
    assert isinstance(native, Bm25Index) and isinstance(lucene, LuceneIndex)
    for params in (Bm25Params(), Bm25Params(k1=1.2, b=0.75)):
        same_top10 = 0
        for text in queries.values():
            a, b = native.search(text, 10, params), lucene.search(text, 10, params)
            same_top10 += [d for d, _ in a] == [d for d, _ in b]
            assert a[0][1] == pytest.approx(b[0][1], rel=1e-4)
        assert same_top10 >= 0.9 * len(queries)
    text = next(iter(queries.values()))
    assert native.search(text, 20) != native.search(text, 20, Bm25Params(k1=1.2, b=0.75))
    assert len(native.search(text, 5)) == 5 and native.search("zzzqqq the", 5) == []


def test_native_refuses_rm3(root: Path) -> None:
    native = open_collection(root / "bm").sparse["bm25"]
    with pytest.raises(InvalidInput, match="RM3 needs a Lucene"):
        native.search("cancer", 10, Bm25Params(rm3=True))


def test_reader_follows_the_manifest_backend(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    IndexManifest(kind="sparse", name="odd", doc_count=1, build={"backend": "elastic"}).write(folder)
    with pytest.raises(IndexUnavailable, match="backend 'elastic'"):
        open_sparse_index(folder)
    assert IndexManifest.read(root / "bm" / "indexes" / "bm25").build["backend"] == "native"


def test_upsert_and_delete_reach_the_native_index(scifact_slice: Path, tmp_path: Path) -> None:
    build_collection(BuildPlan(name="live", source=scifact_slice, sparse=SPARSE[:1], dense=(), limit=20), tmp_path)
    victim = open_collection(tmp_path / "live").sparse["bm25"].search("cancer cells", 1)[0][0]
    new = Doc("new-1", "Hypersonic slender cones", "Boundary layer transition on hypersonic slender cones.")
    report = apply_changes(tmp_path, "live", encoder_for=lambda spec: None, upserts=[new], deletes=[victim])  # type: ignore[arg-type, return-value]
    assert report.added == 1 and report.deleted == 1
    index = open_collection(tmp_path / "live").sparse["bm25"]
    assert isinstance(index, Bm25Index) and index.manifest.doc_count == 20
    assert index.search("hypersonic slender cones", 1)[0][0] == "new-1"
    assert victim not in {d for d, _ in index.search("cancer cells", 100)}


async def test_http_native_default_and_rm3_answered_422(root: Path) -> None:
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        plain = await client.post("/v1/search", json={"collection": "bm", "query": "vitamin D", "retriever": "sparse"})
        rm3 = await client.post("/v1/search", json={"collection": "bm", "query": "vitamin D", "retriever": "sparse",
                                                    "bm25": {"rm3": True}})
        lucene = await client.post("/v1/search", json={"collection": "bm", "query": "vitamin D", "retriever": "sparse",
                                                       "sparse_index": "bm25-lucene", "bm25": {"rm3": True}})
        bad = await client.post("/v1/search", json={"collection": "bm", "query": "q", "sparse_index": "bm25",
                                                    "bm25": {"k1": -1}})
    assert plain.status_code == 200 and plain.json()["hits"]
    assert rm3.status_code == 422 and "RM3 needs a Lucene" in json.dumps(rm3.json())
    assert lucene.status_code == 200 and lucene.json()["hits"]
    assert bad.status_code == 422
