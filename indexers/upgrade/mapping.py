"""Phase 1: fit model B's query map into the index's space from the index's own stored vectors, register it as a
query encoder of the index and make it the index's serving default (a new manifest version)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from indexers.dense import query_encoders, serving
from indexers.dense.query_encoders import MapRecord, QueryEncoderManifest
from indexers.dense.query_map import QueryMap, fit_query_map
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore
from indexers.encoders import Encoder
from indexers.layout import DOCIDS_FILE, VECTORS_FILE
from indexers.locks import collection_lock
from indexers.manifest import IndexManifest, new_version
from indexers.upgrade.spec import UpgradeRequest, mapped_name
from kernel.errors import InvalidInput, NotFound
from kernel.model_resolver import resolve_model
from kernel.types import Doc


def dense_manifest(folder: Path, index: str) -> IndexManifest:
    """The manifest of dense index ``index`` of the collection at ``folder``, refused unless it can be upgraded."""
    if not (folder / DOCSTORE_FILE).is_file():
        raise NotFound(f"unknown collection {folder.name!r}")
    index_dir = folder / "indexes" / index
    if not index_dir.is_dir():
        known = sorted(p.name for p in (folder / "indexes").iterdir() if not p.name.startswith("."))
        raise NotFound(f"collection {folder.name!r} has no index {index!r}; indexes: {known}")
    manifest = IndexManifest.read(index_dir)
    if manifest.kind != "dense":
        raise InvalidInput(f"index {index!r} is a {manifest.kind} index; only dense indexes have a model to upgrade")
    if manifest.build.get("passages"):
        raise InvalidInput(f"dense index {index!r} indexes passages; upgrade it with `sieve index build --force`")
    return manifest


def calibration_docs(store: DocStore, n: int, seed: int) -> list[Doc]:
    """``n`` documents drawn with a fixed seed (all of them when there are fewer), in doc store order."""
    if n >= store.count:
        return list(store.iter_docs())
    picks = set(np.random.default_rng(seed).choice(store.count, size=n, replace=False).tolist())
    return [doc for i, doc in enumerate(store.iter_docs()) if i in picks]


def calibration_pairs(folder: Path, request: UpgradeRequest, encoder: Encoder
                      ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(B's query-side encoding of each sampled document's text, its stored vector in the index): nothing is encoded
    with the index's own model."""
    index_dir = folder / "indexes" / request.index
    row = {doc_id: i for i, doc_id in enumerate((index_dir / DOCIDS_FILE).read_text().splitlines())}
    docs = [d for d in calibration_docs(DocStore(folder / DOCSTORE_FILE), request.calibration, request.seed)
            if d.id in row]
    if len(docs) < 2:
        raise InvalidInput(f"dense index {request.index!r} has fewer than 2 documents to calibrate a map on")
    stored = np.load(index_dir / VECTORS_FILE, mmap_mode="r")
    targets = np.asarray(stored[[row[d.id] for d in docs]], dtype=np.float32)
    return encoder.encode_queries([d.contents for d in docs]), targets


def fit(folder: Path, request: UpgradeRequest, encoder: Encoder) -> tuple[QueryMap, MapRecord]:
    """Fit the map of B (``encoder``) into the index's space; checks the mapped dimension is the index's."""
    manifest = dense_manifest(folder, request.index)
    x, y = calibration_pairs(folder, request, encoder)
    qmap = fit_query_map(x, y, request.method, request.lam)
    if qmap.dims != (encoder.dim, manifest.dims):
        raise InvalidInput(f"the map gives {qmap.dims[1]}-dim vectors; dense index {request.index!r} holds "
                           f"{manifest.dims}")
    record = MapRecord(method=request.method, lam=request.lam, source_dim=encoder.dim, target_dim=qmap.dims[1],
                       calibration=len(x), index_encoder=manifest.build["encoder"])
    return qmap, record


def install(root: Path, name: str, request: UpgradeRequest, qmap: QueryMap, record: MapRecord) -> str:
    """Register the mapped query encoder (B's model files + ``query_map.npz``) and make it the index's serving
    default, under the collection's write lock. Returns the index's new manifest version."""
    model_dir = resolve_model(request.model).path
    if not model_dir.is_dir():
        raise InvalidInput(f"model {request.model!r} resolves to a single file; a mapped query encoder needs a model "
                           "folder (model.onnx + tokenizer.json for ONNX)")
    with collection_lock(root, name):
        folder = root / name
        manifest = dense_manifest(folder, request.index)
        if manifest.build.get("encoder") != record.index_encoder:
            raise InvalidInput(f"dense index {request.index!r} was rebuilt with another encoder meanwhile")
        version = new_version()
        qe = QueryEncoderManifest(name=mapped_name(request.index), index=request.index, trained_against=version,
                                  base_model=request.model, encoder=request.encoder().model_dump(mode="json"),
                                  map=record)
        query_encoders.register(folder, qe, model_dir, query_map=qmap)
        serving.set_default(folder / "indexes" / request.index, qe.name, version)
    return version
