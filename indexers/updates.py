"""Changes to a built collection: upsert and delete documents, rebuild (a new one: ``indexers/create.py``).

Copy-on-write: the whole collection folder is rebuilt beside the old one (dense and learned sparse vectors of unchanged
docs are reused, only new or changed docs are encoded; sparse indexes, Lucene or native, are re-indexed from the doc
store) and swapped
in with one rename, so readers see the old version until the new one is complete. Every change gives every index a
new manifest version and the doc store a new version. Every change holds the collection's write lock
(``indexers/locks.py``: the server's admin routes and the CLI's offline writes take the same one) and first repairs
what a crashed writer left (``indexers/recovery.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from indexers.dense import DenseIndexSpec, build_dense_index, early_exit, query_encoders, serving
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore, write_docstore
from indexers.durable import fault_point
from indexers.encoders import Encoder, EncoderSpec
from indexers.layout import DOCIDS_FILE, INFO_FILE, VECTORS_FILE
from indexers.learned_sparse import KIND as LEARNED_SPARSE
from indexers.learned_sparse import ForwardStore, SparseBuildSpec
from indexers.learned_sparse_backends import backend_of, build_learned_sparse_index
from indexers.locks import collection_lock
from indexers.manifest import MANIFEST, IndexManifest, atomic_folder
from indexers.matryoshka import MatryoshkaSpec, PrefixTransform
from indexers.matryoshka.build import add_matryoshka
from indexers.recovery import recover_collection
from indexers.segments.codec import ChangeReport
from indexers.segments.encode import EncoderFor, SparseEncoderFor
from indexers.segments.wal import remove_log
from indexers.sparse import build_sparse_index, spec_of
from indexers.sparse_encoders import SparseEncoder, SparseVectors
from kernel.errors import InvalidInput, NotFound
from kernel.types import Doc

log = logging.getLogger(__name__)


_SpecT = TypeVar("_SpecT", DenseIndexSpec, MatryoshkaSpec)


def _spec(model: type[_SpecT], build: Mapping[str, object]) -> _SpecT:
    return model.model_validate({k: v for k, v in build.items() if k in model.model_fields})


def _dense_vectors(old: Path, store: DocStore, changed: set[str], encoder: Encoder, staging: Path) -> None:
    """Write ``staging/vectors.npy`` + ``docids.txt`` for ``store``: old rows reused, changed/new docs encoded."""
    old_ids = (old / DOCIDS_FILE).read_text().splitlines()
    old_row = {doc_id: i for i, doc_id in enumerate(old_ids)}
    old_vectors = np.load(old / VECTORS_FILE, mmap_mode="r")
    ids: list[str] = []
    to_encode: list[tuple[int, str]] = []
    dim = old_vectors.shape[1] if old_row.keys() - changed else encoder.dim  # all changed: maybe another model
    vectors = np.lib.format.open_memmap(staging / VECTORS_FILE, mode="w+", dtype=np.float32,
                                        shape=(store.count, dim))
    for i, doc in enumerate(store.iter_docs()):
        ids.append(doc.id)
        if doc.id in old_row and doc.id not in changed:
            vectors[i] = old_vectors[old_row[doc.id]]
        else:
            to_encode.append((i, doc.contents))
    for start in range(0, len(to_encode), 256):
        chunk = to_encode[start : start + 256]
        vectors[[i for i, _ in chunk]] = encoder.encode_docs([t for _, t in chunk])
    vectors.flush()
    (staging / DOCIDS_FILE).write_text("\n".join(ids) + "\n")


def _sparse_vectors(old: Path, store: DocStore, changed: set[str], encoder: SparseEncoder, sparse: SparseBuildSpec,
                    staging: Path) -> None:
    """Write ``store``'s forward store (+ the old manifest) to ``staging``: old rows reused, changed/new docs encoded
    and pruned like the old ones."""
    before = ForwardStore.read(old)
    old_row = {doc_id: i for i, doc_id in enumerate(before.docids)}
    ids: list[str] = []
    rows: list[int] = []  # row in old vectors, or -(1 + n) for the n-th newly encoded doc
    texts: list[str] = []
    for doc in store.iter_docs():
        ids.append(doc.id)
        if doc.id in old_row and doc.id not in changed:
            rows.append(old_row[doc.id])
        else:
            rows.append(-1 - len(texts))
            texts.append(doc.contents)
    fresh = [encoder.encode_docs(texts[i : i + sparse.chunk_size]).prune(sparse.doc_top_k, sparse.doc_threshold)
             for i in range(0, len(texts), sparse.chunk_size)]
    both = SparseVectors.concat([before.vectors, *fresh], before.vectors.dim)
    order = [r if r >= 0 else len(before.docids) - 1 - r for r in rows]
    ForwardStore(ids, both.take(order), before.vocab).write(staging)
    IndexManifest.read(old).write(staging)


def _rebuild_index(old: Path, out: Path, store: DocStore, changed: set[str], encoder_for: EncoderFor,
                   sparse_encoder_for: SparseEncoderFor, new_encoder: EncoderSpec | None = None) -> None:
    """Rebuild one index into ``out``; ``new_encoder``: a dense index switches to this encoder (every document
    encoded anew, its query-side extras, built for the old model's space, left behind)."""
    manifest = IndexManifest.read(old)
    if manifest.kind == "sparse":
        build_sparse_index(store.iter_docs(), store.count, out, spec_of(manifest), docstore_version=store.version)
        return
    if manifest.kind == LEARNED_SPARSE:
        model = backend_of(str(manifest.build.get("backend"))).spec
        lspec: Any = model.model_validate({k: v for k, v in manifest.build.items() if k in model.model_fields})
        with tempfile.TemporaryDirectory(dir=out.parent) as staging:
            _sparse_vectors(old, store, changed, sparse_encoder_for(lspec.sparse.encoder), lspec.sparse, Path(staging))
            build_learned_sparse_index(None, store.count, None, out, lspec, reuse_vectors=Path(staging),
                                       docstore_version=store.version)
        return
    spec: DenseIndexSpec = _spec(DenseIndexSpec, manifest.build)
    if new_encoder is not None:
        spec = spec.model_copy(update={"encoder": new_encoder})
        changed = {doc.id for doc in store.iter_docs()}
    encoder = encoder_for(spec.encoder)
    if spec.passages is not None:  # passage vectors are per window, not per doc: re-split and re-encode them all
        build_dense_index(store.iter_docs(), store.count, encoder, out, spec, docstore_version=store.version)
        return
    with tempfile.TemporaryDirectory(dir=out.parent) as staging:
        _dense_vectors(old, store, changed, encoder, Path(staging))
        build_dense_index(iter(()), store.count, encoder, out, spec, reuse_vectors=Path(staging),
                          docstore_version=store.version)
    if new_encoder is not None:
        return
    if "matryoshka" in manifest.build:
        info = manifest.build["matryoshka"]
        mspec = _spec(MatryoshkaSpec, info)
        add_matryoshka(out, mspec, transform=PrefixTransform.load(old),
                       transform_info={"trained_on": info.get("trained_on")})
    early_exit.carry_over(old, out)  # query-side maps: kept (a new version all the same)
    serving.carry_default(old, out)  # the default query encoder too


def rebuild_with(root: Path, name: str, encoder_for: EncoderFor, upserts: Sequence[Doc], deletes: Sequence[str],
                 sparse_encoder_for: SparseEncoderFor, *, folded_seq: int | None = None,
                 respec: Mapping[str, EncoderSpec] | None = None) -> ChangeReport:
    """The copy-on-write rebuild of collection ``name`` with ``upserts`` and ``deletes``; the caller holds its write
    lock and has recovered it. ``folded_seq``: the last log change this base holds (``collection.json``'s
    ``wal_seq``; None keeps the old one). ``respec``: dense index name -> the encoder it is rebuilt with instead of
    its own (``sieve index upgrade``); its mapped query encoders are dropped."""
    respec = respec or {}
    folder = root / name
    if not (folder / DOCSTORE_FILE).is_file():
        raise NotFound(f"unknown collection {name!r}")
    started = time.perf_counter()
    old_store = DocStore(folder / DOCSTORE_FILE)
    upsert_ids = [d.id for d in upserts]
    if len(set(upsert_ids)) != len(upsert_ids):
        raise InvalidInput("duplicate ids among the documents to upsert")
    present = set(old_store.get_many([*upsert_ids, *deletes]))
    removed = set(deletes) | set(upsert_ids)
    kept: Iterator[Doc] = (d for d in old_store.iter_docs() if d.id not in removed)
    version = uuid.uuid4().hex[:12]
    with atomic_folder(folder) as tmp:
        count = write_docstore(chain(kept, upserts), tmp / DOCSTORE_FILE, version=version)
        if count == 0:
            raise InvalidInput("the change would leave the collection empty; delete the collection instead")
        store = DocStore(tmp / DOCSTORE_FILE)
        info = json.loads((folder / INFO_FILE).read_text())
        info.update(doc_count=count, docstore_version=version,
                    updated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        if folded_seq is not None:
            info["wal_seq"] = folded_seq
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        (tmp / "indexes").mkdir()
        for index_dir in sorted((folder / "indexes").iterdir()):
            if (index_dir / MANIFEST).is_file() and not index_dir.name.startswith("."):
                # a stale index (over another doc store) has no vector to reuse: every doc is "changed"
                current = IndexManifest.read(index_dir).docstore_version == old_store.version
                changed = set(upsert_ids) if current else {d.id for d in store.iter_docs()}
                _rebuild_index(index_dir, tmp / "indexes" / index_dir.name, store, changed, encoder_for,
                               sparse_encoder_for, respec.get(index_dir.name))
        versions = {p.name: IndexManifest.read(p).version for p in (tmp / "indexes").iterdir()}
        if (folder / query_encoders.FOLDER).is_dir():  # kept, and refused by the new index versions until retrained
            shutil.copytree(folder / query_encoders.FOLDER, tmp / query_encoders.FOLDER, copy_function=os.link)
            query_encoders.drop_mapped(tmp, set(respec))
    report = ChangeReport(
        name, count, added=len([i for i in upsert_ids if i not in present]),
        replaced=len([i for i in upsert_ids if i in present]), deleted=len([i for i in deletes if i in present]),
        not_found=[i for i in deletes if i not in present], seconds=round(time.perf_counter() - started, 2),
        versions=versions,
    )
    log.info("collection %s changed: %s", name, report)
    return report


def delete_collection(root: Path, name: str) -> None:
    """Remove a collection's folder (renamed away first, so a reader never sees half of it)."""
    folder = root / name
    with collection_lock(root, name):
        recover_collection(root, name)
        if not (folder / DOCSTORE_FILE).is_file():
            raise NotFound(f"unknown collection {name!r}")
        trash = root / f".deleted-{name}-{os.getpid()}-{int(time.time())}"
        folder.rename(trash)
        fault_point("delete.after-rename", name)
        remove_log(root, name)  # a crash before this leaves seqs the next base of this name records as folded
        shutil.rmtree(trash, ignore_errors=True)
