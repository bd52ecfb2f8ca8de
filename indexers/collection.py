"""A collection on disk: one folder with the doc store and every index built over it.

    <root>/<name>/collection.json     source, counts, skipped records
    <root>/<name>/docs.sqlite         ids, titles, texts (corpus order)
    <root>/<name>/indexes/<index>/    manifest.json + Lucene, FAISS or learned sparse files
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from indexers.corpus import Fields, OnError, ReadReport, read_jsonl
from indexers.dense import DenseIndex, DenseIndexSpec, build_dense_index
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore, write_docstore
from indexers.encoders import Encoder, build_encoder
from indexers.learned_sparse import KIND as LEARNED_SPARSE
from indexers.learned_sparse_backends import (
    LearnedSparseIndex,
    LearnedSparseSpec,
    build_learned_sparse_index,
    open_learned_sparse_index,
)
from indexers.lucene import LuceneIndex, LuceneIndexSpec, build_lucene_index
from indexers.manifest import MANIFEST, IndexManifest, atomic_folder
from indexers.sparse_encoders import SparseEncoder, build_sparse_encoder
from kernel.errors import IndexUnavailable, NotFound

log = logging.getLogger(__name__)
INFO_FILE = "collection.json"


class BuildPlan(BaseModel):
    """What to build for one collection; the CLI and tests fill it in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    source: Path
    fields: Fields = Fields()
    on_error: OnError = OnError.skip
    limit: int | None = None
    sparse: tuple[LuceneIndexSpec, ...] = (LuceneIndexSpec(),)
    dense: tuple[DenseIndexSpec, ...] = (DenseIndexSpec(),)
    learned_sparse: tuple[LearnedSparseSpec, ...] = ()
    force: bool = False


def _corpus_file(source: Path) -> Path:
    if source.is_dir():
        if not (source / "corpus.jsonl").is_file():
            raise NotFound(f"{source} has no corpus.jsonl (BEIR folder expected)")
        return source / "corpus.jsonl"
    if not source.is_file():
        raise NotFound(f"corpus not found: {source}")
    return source


def _build_docstore(plan: BuildPlan, folder: Path) -> int:
    corpus = _corpus_file(plan.source)
    report = ReadReport()
    docs = read_jsonl(corpus, plan.fields, plan.on_error, report, plan.limit)
    with atomic_folder(folder / ".docstore") as tmp:
        count = write_docstore(docs, tmp / DOCSTORE_FILE)
    (folder / ".docstore" / DOCSTORE_FILE).replace(folder / DOCSTORE_FILE)
    (folder / ".docstore").rmdir()
    stat = corpus.stat()
    info = {
        "name": plan.name,
        "source": str(corpus.resolve()),
        "source_size": stat.st_size,
        "source_mtime": int(stat.st_mtime),
        "doc_count": count,
        "skipped": [{"line": n, "reason": why} for n, why in report.skipped],
        "limit": plan.limit,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    log.info("%s: %s", plan.name, report.summary())
    return count


def _same_spec(folder: Path, spec: BaseModel) -> bool:
    try:
        built = IndexManifest.read(folder).build
    except IndexUnavailable:
        return False
    return all(built.get(k) == v for k, v in spec.model_dump(mode="json").items())


def build_collection(plan: BuildPlan, root: Path) -> dict[str, IndexManifest]:
    """Build (or bring up to date) the doc store and every index in ``plan`` under ``root/<name>``.

    Indexes whose manifest already records the same spec are kept unless ``plan.force``. A new doc store
    (new corpus, new limit, or force) rebuilds every index.
    """
    folder = root / plan.name
    folder.mkdir(parents=True, exist_ok=True)
    info_path = folder / INFO_FILE
    stale = plan.force or not info_path.is_file() or not (folder / DOCSTORE_FILE).is_file()
    if not stale:
        info = json.loads(info_path.read_text())
        corpus = _corpus_file(plan.source)
        stale = (info["source"], info["source_size"], info["limit"]) != (
            str(corpus.resolve()), corpus.stat().st_size, plan.limit
        )
    if stale:
        _build_docstore(plan, folder)
    store = DocStore(folder / DOCSTORE_FILE)
    built: dict[str, IndexManifest] = {}
    for sspec in plan.sparse:
        out = folder / "indexes" / sspec.name
        if stale or not _same_spec(out, sspec):
            build_lucene_index(store.iter_docs(), store.count, out, sspec)
        built[sspec.name] = IndexManifest.read(out)
    encoders: dict[object, Encoder] = {}
    vectors_of: dict[object, Path] = {}
    for dspec in plan.dense:
        out = folder / "indexes" / dspec.name
        if stale or not _same_spec(out, dspec):
            key = dspec.encoder.model_dump_json()
            if key not in encoders:
                encoders[key] = build_encoder(dspec.encoder)
            build_dense_index(
                store.iter_docs(), store.count, encoders[key], out, dspec, reuse_vectors=vectors_of.get(key)
            )
            vectors_of[dspec.encoder.model_dump_json()] = out
        built[dspec.name] = IndexManifest.read(out)
    built.update(_build_learned_sparse(plan, store, folder, stale))
    return built


def _build_learned_sparse(plan: BuildPlan, store: DocStore, folder: Path, stale: bool) -> dict[str, IndexManifest]:
    """The plan's learned sparse indexes; indexes encoded and pruned alike share one encoding of the corpus."""
    built: dict[str, IndexManifest] = {}
    encoders: dict[str, SparseEncoder] = {}
    vectors_of: dict[str, Path] = {}  # pruning -> an up-to-date index folder holding those vectors
    for lspec in plan.learned_sparse:
        out = folder / "indexes" / lspec.name
        pruning = json.dumps(lspec.sparse.pruning(), sort_keys=True)
        if stale or not _same_spec(out, lspec):
            reuse = vectors_of.get(pruning)
            key = lspec.sparse.encoder.model_dump_json()
            if reuse is None and key not in encoders:
                encoders[key] = build_sparse_encoder(lspec.sparse.encoder)
            build_learned_sparse_index(store.iter_docs(), store.count, None if reuse else encoders[key], out, lspec,
                                       reuse_vectors=reuse)
        vectors_of.setdefault(pruning, out)
        built[lspec.name] = IndexManifest.read(out)
    return built


@dataclass
class Collection:
    """Everything the service needs to answer queries over one collection."""

    name: str
    folder: Path
    docs: DocStore
    sparse: dict[str, LuceneIndex] = field(default_factory=dict)
    dense: dict[str, DenseIndex] = field(default_factory=dict)
    learned_sparse: dict[str, LearnedSparseIndex] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """Changes whenever any index is rebuilt (keys caches)."""
        indexes = {**self.sparse, **self.dense, **self.learned_sparse}
        return "+".join(sorted(f"{n}:{i.manifest.version}" for n, i in indexes.items()))


def open_collection(folder: Path, *, use_gpu: bool = False) -> Collection:
    """Open the doc store and every complete index (one with a manifest) in ``folder``."""
    if not (folder / DOCSTORE_FILE).is_file():
        raise IndexUnavailable(f"{folder} has no {DOCSTORE_FILE}; build the collection first")
    col = Collection(folder.name, folder, DocStore(folder / DOCSTORE_FILE))
    for index_dir in sorted((folder / "indexes").glob("*")):
        if index_dir.name.startswith(".") or not (index_dir / MANIFEST).is_file():
            continue
        kind = IndexManifest.read(index_dir).kind
        if kind == "sparse":
            col.sparse[index_dir.name] = LuceneIndex(index_dir)
        elif kind == "dense":
            col.dense[index_dir.name] = DenseIndex(index_dir, use_gpu=use_gpu)
        elif kind == LEARNED_SPARSE:  # the backend (Lucene impact, Seismic, exact) comes from the manifest
            col.learned_sparse[index_dir.name] = open_learned_sparse_index(index_dir)
    return col


def list_collections(root: Path) -> list[Path]:
    """Folders under ``root`` that hold a built collection."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / DOCSTORE_FILE).is_file())
