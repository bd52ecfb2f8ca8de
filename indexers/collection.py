"""A collection on disk: one folder with the doc store and every index built over it.

    <root>/<name>/collection.json     source, counts, skipped records, doc store version
    <root>/<name>/docs.sqlite         ids, titles, texts (corpus order), its version
    <root>/<name>/indexes/<index>/    manifest.json (names the doc store version) + Lucene, native BM25 (numpy),
                                      FAISS or learned sparse files

A new doc store is built with all its indexes in a temporary folder swapped in whole, so a crash never leaves
indexes of one corpus over the doc store of another; an index whose manifest names another doc store version is
stale: not served, rebuilt by the next build.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from indexers.corpus import Fields, OnError, ReadReport, read_jsonl
from indexers.dense import DenseIndex, DenseIndexSpec, build_dense_index
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore, write_docstore
from indexers.durable import fault_point, write_text_durably
from indexers.encoders import Encoder, build_encoder
from indexers.layout import INFO_FILE
from indexers.learned_sparse_backends import (
    LearnedSparseIndex,
    LearnedSparseSpec,
    build_learned_sparse_index,
    open_learned_sparse_index,
)
from indexers.locks import collection_lock
from indexers.lucene import LuceneIndexSpec
from indexers.manifest import MANIFEST, IndexManifest, atomic_folder
from indexers.recovery import recover_collection, repair, repair_root
from indexers.segments.live import LiveSegments
from indexers.segments.merge import apply_changes
from indexers.segments.wal import has_pending_log, last_logged_seq
from indexers.sparse import SparseIndex, SparseIndexSpec, build_sparse_index, open_sparse_index
from indexers.sparse_encoders import SparseEncoder, build_sparse_encoder
from kernel.errors import IndexUnavailable, NotFound, SieveError

log = logging.getLogger(__name__)


class BuildPlan(BaseModel):
    """What to build for one collection; the CLI and tests fill it in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    source: Path
    fields: Fields = Fields()
    on_error: OnError = OnError.skip
    limit: int | None = None
    sparse: tuple[SparseIndexSpec, ...] = (LuceneIndexSpec(),)
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


def _build_docstore(plan: BuildPlan, folder: Path) -> DocStore:
    """Write the doc store and ``collection.json`` into ``folder`` (a fresh temporary collection folder)."""
    corpus = _corpus_file(plan.source)
    report = ReadReport()
    docs = read_jsonl(corpus, plan.fields, plan.on_error, report, plan.limit)
    version = uuid.uuid4().hex[:12]
    count = write_docstore(docs, folder / DOCSTORE_FILE, version=version)
    stat = corpus.stat()
    info = {
        "name": plan.name,
        "source": str(corpus.resolve()),
        "source_size": stat.st_size,
        "source_mtime": int(stat.st_mtime),
        "doc_count": count,
        "docstore_version": version,
        "skipped": [{"line": n, "reason": why} for n, why in report.skipped],
        "limit": plan.limit,
        "wal_seq": last_logged_seq(folder.parent, plan.name),  # a log left by an older corpus of this name: folded
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text_durably(folder / INFO_FILE, json.dumps(info, indent=2) + "\n")
    log.info("%s: %s", plan.name, report.summary())
    fault_point("build.after-docstore", plan.name)
    return DocStore(folder / DOCSTORE_FILE)


def _same_spec(folder: Path, spec: BaseModel, docstore_version: str | None) -> bool:
    try:
        manifest = IndexManifest.read(folder)
    except IndexUnavailable:
        return False
    built = manifest.build
    return manifest.docstore_version == docstore_version and all(
        built.get(k) == v for k, v in spec.model_dump(mode="json").items())


def _needs_new_docstore(plan: BuildPlan, folder: Path) -> bool:
    if plan.force or not (folder / INFO_FILE).is_file() or not (folder / DOCSTORE_FILE).is_file():
        return True
    try:
        info = json.loads((folder / INFO_FILE).read_text())
        built_from = (info["source"], info["source_size"], info["limit"])
    except (ValueError, KeyError, TypeError):
        return True
    corpus = _corpus_file(plan.source)
    return built_from != (str(corpus.resolve()), corpus.stat().st_size, plan.limit)


def _build_indexes(plan: BuildPlan, folder: Path, store: DocStore) -> dict[str, IndexManifest]:
    """Build every index of ``plan`` in ``folder`` whose manifest does not already match its spec and doc store."""
    built: dict[str, IndexManifest] = {}
    version = store.version
    for sspec in plan.sparse:
        out = folder / "indexes" / sspec.name
        if not _same_spec(out, sspec, version):
            build_sparse_index(store.iter_docs(), store.count, out, sspec, docstore_version=version)
        built[sspec.name] = IndexManifest.read(out)
    encoders: dict[object, Encoder] = {}
    vectors_of: dict[tuple[str, object], Path] = {}
    for dspec in plan.dense:
        out = folder / "indexes" / dspec.name
        if not _same_spec(out, dspec, version):
            key = dspec.encoder.model_dump_json()
            if key not in encoders:
                encoders[key] = build_encoder(dspec.encoder)
            # Vectors are shared by indexes with the same encoder and the same passages (or none).
            vkey = (key, dspec.passages)
            build_dense_index(
                store.iter_docs(), store.count, encoders[key], out, dspec, reuse_vectors=vectors_of.get(vkey),
                docstore_version=version,
            )
            vectors_of[vkey] = out
        built[dspec.name] = IndexManifest.read(out)
    built.update(_build_learned_sparse(plan, folder, store))
    return built


def _build_learned_sparse(plan: BuildPlan, folder: Path, store: DocStore) -> dict[str, IndexManifest]:
    """The plan's learned sparse indexes; indexes encoded and pruned alike share one encoding of the corpus."""
    built: dict[str, IndexManifest] = {}
    encoders: dict[str, SparseEncoder] = {}
    vectors_of: dict[str, Path] = {}  # pruning -> an up-to-date index folder holding those vectors
    for lspec in plan.learned_sparse:
        out = folder / "indexes" / lspec.name
        pruning = json.dumps(lspec.sparse.pruning(), sort_keys=True)
        if not _same_spec(out, lspec, store.version):
            reuse = vectors_of.get(pruning)
            key = lspec.sparse.encoder.model_dump_json()
            if reuse is None and key not in encoders:
                encoders[key] = build_sparse_encoder(lspec.sparse.encoder)
            build_learned_sparse_index(store.iter_docs(), store.count, None if reuse else encoders[key], out, lspec,
                                       reuse_vectors=reuse, docstore_version=store.version)
        vectors_of.setdefault(pruning, out)
        built[lspec.name] = IndexManifest.read(out)
    return built


def build_collection(plan: BuildPlan, root: Path) -> dict[str, IndexManifest]:
    """Build (or bring up to date) the doc store and every index in ``plan`` under ``root/<name>``.

    Indexes whose manifest already records the same spec and doc store are kept unless ``plan.force``. A new doc
    store (new corpus, new limit, or force) is built with every index of the plan beside the old collection and
    swapped in whole; indexes the plan does not name are not carried over to it. Holds the collection's write lock.
    """
    folder = root / plan.name
    with collection_lock(root, plan.name):
        recover_collection(root, plan.name)
        if not _needs_new_docstore(plan, folder):
            if has_pending_log(root, plan.name):  # new indexes would lack the delta's vectors: fold it first
                apply_changes(root, plan.name, encoder_for=build_encoder)
            return _build_indexes(plan, folder, DocStore(folder / DOCSTORE_FILE))
        with atomic_folder(folder) as tmp:
            built = _build_indexes(plan, tmp, _build_docstore(plan, tmp))
        return built


@dataclass
class Collection:
    """Everything the service needs to answer queries over one collection."""

    name: str
    folder: Path
    docs: DocStore
    sparse: dict[str, SparseIndex] = field(default_factory=dict)
    dense: dict[str, DenseIndex] = field(default_factory=dict)
    learned_sparse: dict[str, LearnedSparseIndex] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)  # index name -> why it is not served
    segments: LiveSegments | None = None  # the write-ahead log and the delta over this base (None: read-only use)

    @property
    def indexes(self) -> dict[str, SparseIndex | DenseIndex | LearnedSparseIndex]:
        """Every served index by name: sparse, dense and learned sparse."""
        return {**self.sparse, **self.dense, **self.learned_sparse}

    @property
    def version(self) -> str:
        """Changes whenever any index is rebuilt or a change is logged (keys caches)."""
        return self.version_at(self.segments.current.seq if self.segments is not None else 0)

    def version_at(self, seq: int) -> str:
        """The version with the log applied up to change ``seq``."""
        return "+".join(sorted(f"{n}:{i.manifest.version}" for n, i in self.indexes.items())) + f"+wal:{seq}"

    @property
    def doc_count(self) -> int:
        """Documents at the current version (the base's plus the delta's, less tombstones)."""
        return self.segments.current.count if self.segments is not None else self.docs.count

    def close(self) -> None:
        """Release what the indexes hold open beyond memory (Lucene readers); the collection is unusable afterwards."""
        for index in self.indexes.values():
            close = getattr(index, "close", None)
            if callable(close):
                close()
        if self.segments is not None:
            self.segments.close()


# Reader per manifest kind; a sparse index's own reader then follows its manifest's backend (indexers/sparse.py).
_READERS: dict[str, Callable[[Path, bool], object]] = {
    "sparse": lambda folder, use_gpu: open_sparse_index(folder),
    "dense": lambda folder, use_gpu: DenseIndex(folder, use_gpu=use_gpu),
    # the backend (Lucene impact, Seismic, exact) comes from the manifest (indexers/learned_sparse_backends.py)
    "learned_sparse": lambda folder, use_gpu: open_learned_sparse_index(folder),
}


def _open_index(index_dir: Path, col: Collection, use_gpu: bool) -> None:
    manifest = IndexManifest.read(index_dir)
    if manifest.docstore_version != col.docs.version:
        col.stale[index_dir.name] = "built over another doc store version; `sieve index build` rebuilds it"
        log.warning("collection %s: index %s is stale (not served): %s", col.name, index_dir.name,
                    col.stale[index_dir.name])
        return
    try:
        if manifest.kind in _READERS:
            getattr(col, manifest.kind)[index_dir.name] = _READERS[manifest.kind](index_dir, use_gpu)
    except SieveError as exc:  # the message without the server's path
        raise IndexUnavailable(str(exc).replace(str(index_dir), repr(index_dir.name))) from exc
    except Exception as exc:
        raise IndexUnavailable(f"index {index_dir.name!r} cannot be opened ({type(exc).__name__})") from exc


def open_collection(folder: Path, *, use_gpu: bool = False) -> Collection:
    """Open the doc store and every complete, current index (one with a manifest naming this doc store) in ``folder``.

    Repairs the folder first when a crash left it mid-swap (``indexers/recovery.py``). Raises IndexUnavailable
    (naming the collection or index, not a path) when the doc store or an index cannot be read.
    """
    repair(folder.parent, folder.name)
    if not (folder / DOCSTORE_FILE).is_file():
        raise IndexUnavailable(f"collection {folder.name!r} has no {DOCSTORE_FILE}; build the collection first")
    try:
        docs = DocStore(folder / DOCSTORE_FILE)
    except sqlite3.DatabaseError as exc:
        raise IndexUnavailable(f"collection {folder.name!r}: corrupt doc store ({exc})") from exc
    col = Collection(folder.name, folder, docs)
    for index_dir in sorted((folder / "indexes").glob("*")):
        if not index_dir.name.startswith(".") and (index_dir / MANIFEST).is_file():
            _open_index(index_dir, col, use_gpu)
    transforms = {n: i.matryoshka.transform if i.matryoshka else None for n, i in col.dense.items()}
    try:
        col.segments = LiveSegments(folder.parent, folder.name, docs, transforms)  # replays the log
    except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
        raise IndexUnavailable(f"collection {folder.name!r}: unreadable write-ahead log ({exc})") from exc
    return col


def list_collections(root: Path) -> list[Path]:
    """Folders under ``root`` that hold a built collection (after recovering any a crash left mid-swap)."""
    if not root.is_dir():
        return []
    repair_root(root)
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / DOCSTORE_FILE).is_file())
