"""Shared fixtures: a real slice of SciFact, built once per session into real Lucene and FAISS indexes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from indexers.collection import BuildPlan, build_collection  # noqa: E402
from indexers.dense import DenseIndex, DenseIndexSpec, query_encoders  # noqa: E402
from indexers.encoders import EncoderSpec  # noqa: E402
from indexers.matryoshka import FunnelSpec, MatryoshkaSpec  # noqa: E402
from indexers.matryoshka.build import add_matryoshka  # noqa: E402
from service.config import Settings  # noqa: E402
from service.main import create_app  # noqa: E402
from tests.servers import serve_in_thread  # noqa: E402

DATASETS = Path(os.environ.get("SIEVE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
SLICE_QUERIES = 30
SLICE_DISTRACTORS = 170


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.open() if line.strip()]


def write_beir_slice(src: Path, dst: Path, n_queries: int, n_distractors: int) -> Path:
    """A small real BEIR folder: the first test queries, all their judged docs, and the corpus's first docs."""
    with (src / "qrels" / "test.tsv").open() as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    qids: list[str] = []
    for row in rows:
        if row[0] not in qids:
            qids.append(row[0])
    keep_q = set(qids[:n_queries])
    qrels = [r for r in rows if r[0] in keep_q]
    wanted = {r[1] for r in qrels}
    corpus = _read_jsonl(src / "corpus.jsonl")
    docs = [d for d in corpus if d["_id"] in wanted] + [d for d in corpus if d["_id"] not in wanted][:n_distractors]
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    (dst / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [q for q in _read_jsonl(src / "queries.jsonl") if q["_id"] in keep_q]
    (dst / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    with (dst / "qrels" / "test.tsv").open("w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in qrels))
    return dst


def build_small(root: Path, name: str, source: Path, limit: int) -> Path:
    """Collection ``name`` of the first ``limit`` documents of ``source`` under ``root``: native BM25 ``bm25`` and a
    MiniLM (ONNX int8) Flat ``dense`` index without prefixes, the cheapest live collection; returns ``root``."""
    from indexers.bm25 import Bm25IndexSpec

    build_collection(BuildPlan(name=name, source=source, limit=limit, sparse=(Bm25IndexSpec(name="bm25"),),
                               dense=(DenseIndexSpec(encoder=EncoderSpec(backend="onnx"), prefixes=None),)), root)
    return root


def link_dense_copy(index_root: Path, dst_root: Path, name: str = "sf") -> Path:
    """A writable copy of collection ``name``'s doc store and ``dense`` index under ``dst_root`` (hard links: new
    files written there leave the shared index alone); returns the copy's folder."""
    src, dst = index_root / name, dst_root / name
    (dst / "indexes").mkdir(parents=True)
    for file in ("docs.sqlite", "collection.json"):
        os.link(src / file, dst / file)
    shutil.copytree(src / "indexes" / "dense", dst / "indexes" / "dense", copy_function=os.link)
    return dst


def vectors_sha(folder: Path) -> str:
    """sha256 of a dense index folder's stored vectors: proof that training a query side re-encoded nothing."""
    return hashlib.sha256((folder / "vectors.npy").read_bytes()).hexdigest()


def register_trained(collection: Path, name: str, index: DenseIndex, info: dict[str, object], model: Path) -> None:
    """Register a query encoder trained on ``index`` (its training record ``info``, its model folder) as ``name``."""
    manifest = query_encoders.QueryEncoderManifest.trained(name, "dense", index.manifest, info)
    query_encoders.register(collection, manifest, model)


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not (DATASETS / "scifact" / "corpus.jsonl").is_file():
        pytest.fail(f"shared datasets not found at {DATASETS}; set SIEVE_DATA_DIR")
    return DATASETS


@pytest.fixture(scope="session")
def scifact_slice(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir_slice(datasets / "scifact", tmp_path_factory.mktemp("data") / "scifact-slice",
                            SLICE_QUERIES, SLICE_DISTRACTORS)


@pytest.fixture(scope="session")
def index_root(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sf`` collection: bm25, dense (torch Flat, PCA prefixes 128/64/32), dense-hnsw (same vectors, no prefixes),
    dense-onnx (default prefixes)."""
    root = tmp_path_factory.mktemp("indexes")
    plan = BuildPlan(
        name="sf",
        source=scifact_slice,
        dense=(
            DenseIndexSpec(),
            DenseIndexSpec(name="dense-hnsw", factory="HNSW32", prefixes=None),  # an index without prefixes
            DenseIndexSpec(name="dense-onnx", encoder=EncoderSpec(backend="onnx")),
        ),
    )
    build_collection(plan, root)
    # Matryoshka prefixes (PCA) on the Flat index: full-dimension search on it stays exactly as built.
    add_matryoshka(root / "sf" / "indexes" / "dense", MatryoshkaSpec(dims=(128, 64, 32), funnel=FunnelSpec(dims=64)))
    return root


@pytest.fixture(scope="session")
def meta_root(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``meta`` collection: the slice with synthetic metadata (``tests/indexers/test_filters.py`` ``synthetic``):
    native BM25 + Lucene BM25, dense Flat (PCA prefixes 64/32, funnel) and dense-hnsw (HNSW32)."""
    from indexers.sparse import DEFAULT_SPARSE
    from tests.indexers.test_filters import write_with_metadata

    root = tmp_path_factory.mktemp("meta")
    source = write_with_metadata(scifact_slice, root / "data")
    plan = BuildPlan(name="meta", source=source, sparse=DEFAULT_SPARSE, dense=(
        DenseIndexSpec(prefixes=MatryoshkaSpec(dims=(64, 32), funnel=FunnelSpec(dims=64, shortlist=50))),
        DenseIndexSpec(name="dense-hnsw", factory="HNSW32", prefixes=None)))
    build_collection(plan, root / "idx")
    return root / "idx"


@pytest.fixture(scope="session")
def settings(index_root: Path) -> Settings:
    return Settings(index_root=index_root, max_body_bytes=64 * 1024, workers=2)


@asynccontextmanager
async def asgi_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app built from ``settings``, lifespan running, spoken to over httpx (no sockets)."""
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=60) as c:
            yield c


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over the shared ``sf`` collection."""
    async with asgi_client(settings) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """The real app under a real uvicorn server on a free loopback port, shared by every test needing sockets."""
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_ce(index_root: Path, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cross-encoder (a sequence-classification head, zero-initialised) trained in-session from the packaged
    all-MiniLM-L6-v2, shrunk (12 lists from the slice's BM25 + dense indexes, 64 tokens, 1 epoch) so it takes
    seconds."""
    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from training.cross_encoder import CrossEncoderTrainSpec, train_cross_encoder
    from training.rank_lists import MiningSpec, first_stage_texts, mine_rank_lists

    dataset = BeirDataset.open(scifact_slice)
    collection = open_collection(index_root / "sf")
    lists = mine_rank_lists(dataset, "test", collection, MiningSpec(depth=10, negatives=3))[:12]
    spec = CrossEncoderTrainSpec(epochs=1, max_length=64, dev_queries=2, dev_depth=5, queries_per_batch=2,
                                 learning_rate=1e-4, head_learning_rate=2e-3, freeze_layers=4, head="zero")
    out = tmp_path_factory.mktemp("ce") / "tiny-ce"
    train_cross_encoder(lists, spec, out, dev_rankings=first_stage_texts(dataset, "test", collection, 5))
    return out


@pytest.fixture(scope="session")
def tiny_sim(index_root: Path, scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real similarity cross-encoder (the default recipe: segment-pooled cosine + [CLS] read-out) trained
    in-session on the slice's judged queries plus title weak supervision, shrunk to seconds."""
    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from training.cross_encoder import CrossEncoderTrainSpec, train_cross_encoder
    from training.rank_lists import MiningSpec, first_stage_texts, mine_lists, mine_rank_lists
    from training.weak import weak_queries

    dataset = BeirDataset.open(scifact_slice)
    collection = open_collection(index_root / "sf")
    mining = MiningSpec(depth=10, negatives=3)
    lists = mine_rank_lists(dataset, "test", collection, mining)[:10]
    weak = mine_lists(weak_queries(collection, "title", 6), collection, mining)
    spec = CrossEncoderTrainSpec(epochs=1, max_length=64, dev_queries=3, dev_depth=5, queries_per_batch=3,
                                 learning_rate=3e-5, head_learning_rate=1e-3, freeze_layers=2)
    out = tmp_path_factory.mktemp("ce") / "tiny-sim"
    train_cross_encoder(lists, spec, out, dev_rankings=first_stage_texts(dataset, "test", collection, 5),
                        weak_lists=weak)
    return out


@pytest.fixture(scope="session")
def smollm2():  # type: ignore[no-untyped-def]
    """The packaged SmolLM2-135M-Instruct (GGUF, de-quantised) through transformers, loaded once per session."""
    from rankers.llm.loader import load_llm
    from rankers.specs import LLMSpec

    return load_llm(LLMSpec())


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on loopback, serving the same SmolLM2 GGUF as ``smollm2``."""
    from kernel.model_resolver import resolve_model
    from rankers.specs import DEFAULT_LLM
    from tests.servers import llama_cpp_server

    with llama_cpp_server(str(resolve_model(DEFAULT_LLM).path)) as url:
        yield url


@pytest.fixture(scope="session")
def rerank_settings(settings: Settings, tiny_ce: Path) -> Settings:
    """The test settings, serving the tiny cross-encoder (default) and the packaged MiniLM as rerank models."""
    from service.config import RerankSettings

    rerank = RerankSettings(models=(str(tiny_ce), "sentence-transformers/all-MiniLM-L6-v2"), max_documents=50,
                            max_length=128)
    return settings.model_copy(update={"rerank": rerank})


@pytest.fixture(scope="session")
async def rerank_client(rerank_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app serving the tiny cross-encoder, lifespan running, over httpx."""
    async with asgi_client(rerank_settings) as c:
        yield c


@pytest.fixture(scope="session")
def rerank_server(rerank_settings: Settings) -> Iterator[str]:
    """``live_server`` with the tiny cross-encoder served by the rerank routes (for SDKs over real sockets)."""
    with serve_in_thread(create_app(rerank_settings)) as url:
        yield url
