"""``sieve index build --ray [ADDRESS] --shards N``: a sharded collection built on Ray Data.

The corpus is read (and checked: bad records, duplicate ids, ``limit``) by the same reader a single-node build uses,
then becomes a Ray Dataset of (id, title, text, corpus position, shard, length). Dense encoding runs on a pool of
encoder actors (``map_batches`` with ``ActorPoolStrategy``: one model load per actor), the dataset sorted by text
length first so each batch pads little. ``groupby(shard).map_groups`` then writes every shard as a normal collection
folder (doc store, native BM25 + FAISS + learned sparse indexes with their manifests) in a Ray worker; Ray retries a
failed task, and a shard folder is rewritten whole by its retry. Learned sparse (SPLADE) vectors are encoded there, per
shard (one model load per shard writer, not the encoder actors): their scores are dot products of per-document
vectors, so no collection-wide statistics are needed. The driver checks every document landed exactly once (per-shard
uniqueness and hash placement in the writer; total count and an order-free checksum of the ids here), collects the
collection-wide BM25 statistics and writes the top-level manifest last, all inside one atomic folder swap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from indexers.bm25 import Bm25IndexSpec
from indexers.corpus import Fields, OnError, ReadReport, read_jsonl
from indexers.dense import DenseIndexSpec, build_dense_index
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import write_docstore
from indexers.encoders import Encoder, EncoderSpec, build_encoder
from indexers.layout import DOCIDS_FILE, VECTORS_FILE
from indexers.learned_sparse import KIND as LEARNED_SPARSE
from indexers.learned_sparse_backends import LearnedSparseSpec, build_learned_sparse_index
from indexers.locks import collection_lock
from indexers.manifest import IndexManifest, atomic_folder
from indexers.sharding.cluster import ray_cluster
from indexers.sharding.layout import SHARDS_DIR, STATS_DIR, ShardedManifest, shard_name, shard_of
from indexers.sharding.stats import collect
from indexers.sparse import build_sparse_index
from indexers.sparse_encoders import SparseEncoder, build_sparse_encoder
from kernel.errors import CorpusError, InvalidInput, NotFound
from kernel.types import Doc

log = logging.getLogger(__name__)
_MASK = (1 << 64) - 1


class ShardedPlan(BaseModel):
    """What to build: a collection of ``shards`` shards, each with ``sparse`` (native BM25 only: collection-wide
    statistics), ``dense`` (no Matryoshka prefixes: their PCA would differ per shard) and ``learned_sparse`` (SPLADE,
    encoded per shard) indexes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    source: Path
    shards: int = Field(ge=1, le=4096)
    fields: Fields = Fields()
    on_error: OnError = OnError.skip
    limit: int | None = None
    sparse: tuple[Bm25IndexSpec, ...] = (Bm25IndexSpec(name="bm25"),)
    dense: tuple[DenseIndexSpec, ...] = (DenseIndexSpec(prefixes=None),)
    learned_sparse: tuple[LearnedSparseSpec, ...] = ()
    encoder_workers: int = Field(1, ge=1, description="encoder actors (one model load each)")
    batch_size: int = Field(64, ge=1, description="texts per encoder call")
    reuse_vectors: dict[str, Path] = Field(default_factory=dict,
                                           description="dense index -> a single-node index folder whose vectors "
                                                       "(same encoder) cover the corpus: no encoding")


def id_checksum(ids: Any) -> int:
    """Order-free checksum of a set of ids (sum of 64-bit blake2b hashes, mod 2^64)."""
    total = 0
    for i in ids:
        total = (total + int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "big")) & _MASK
    return total


@dataclass(frozen=True)
class EncoderInfo:
    """What a dense manifest records of its encoder, for shard indexes built from vectors encoded elsewhere."""

    model_id: str
    revision: str
    backend: str
    dim: int
    normalized: bool


def describe_encoder(spec: EncoderSpec) -> EncoderInfo:
    enc = build_encoder(spec)
    return EncoderInfo(enc.model_id, enc.revision, enc.backend, enc.dim, enc.normalized)


def _info_of_index(folder: Path, spec: EncoderSpec) -> EncoderInfo:
    m = IndexManifest.read(folder)
    if EncoderSpec.model_validate(m.build["encoder"]) != spec:
        raise InvalidInput(f"reused vectors in {folder.name!r} come from another encoder than the plan's")
    return EncoderInfo(str(m.model), str(m.model_revision), spec.backend, int(m.dims or 0), m.metric == "cosine")


class EncoderActor:
    """One encoder model per actor; adds ``column`` (one vector per row) to each batch."""

    def __init__(self, spec: str, column: str) -> None:
        self.encoder = build_encoder(EncoderSpec.model_validate_json(spec))
        self.column = column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [Doc(str(i), str(x), str(t)).contents for i, x, t in zip(batch["id"], batch["text"], batch["title"],
                                                                        strict=True)]
        batch[self.column] = self.encoder.encode_docs(texts)
        return batch


class ReusedVectors:
    """Adds ``column`` from a built index's ``vectors.npy`` (looked up by id) instead of encoding."""

    def __init__(self, folder: str, column: str) -> None:
        ids = (Path(folder) / DOCIDS_FILE).read_text().splitlines()
        self.row = {d: i for i, d in enumerate(ids)}
        self.vectors = np.load(Path(folder) / VECTORS_FILE, mmap_mode="r")
        self.column = column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [str(i) for i in batch["id"] if str(i) not in self.row]
        if missing:
            raise NotFound(f"reused vectors lack {len(missing)} documents (e.g. {missing[0]!r})")
        batch[self.column] = np.asarray(self.vectors[[self.row[str(i)] for i in batch["id"]]], dtype=np.float32)
        return batch


def write_shard(batch: dict[str, np.ndarray], out: str, shards: int, plan: str, encoders: str) -> dict[str, Any]:
    """Write one shard (all its rows in ``batch``) as a collection folder; a retry rewrites it whole."""
    spec = ShardedPlan.model_validate_json(plan)
    infos = {k: EncoderInfo(**v) for k, v in json.loads(encoders).items()}
    order = np.argsort(batch["pos"], kind="stable")
    shard = int(batch["shard"][0])
    docs = [Doc(str(batch["id"][j]), str(batch["text"][j]), str(batch["title"][j])) for j in order]
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids) or any(shard_of(i, shards) != shard for i in ids):
        raise CorpusError(f"shard {shard}: duplicate or misplaced ids")
    folder = Path(out) / SHARDS_DIR / shard_name(shard)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    version = uuid.uuid4().hex[:12]
    write_docstore(docs, folder / DOCSTORE_FILE, version=version)
    (folder / "collection.json").write_text(json.dumps({"name": folder.name, "doc_count": len(docs),
                                                        "docstore_version": version, "shard": shard}) + "\n")
    for sspec in spec.sparse:
        build_sparse_index(iter(docs), len(docs), folder / "indexes" / sspec.name, sspec, docstore_version=version)
    for dspec in spec.dense:
        staging = folder / f".vectors-{dspec.name}"
        staging.mkdir()
        np.save(staging / VECTORS_FILE, np.ascontiguousarray(np.stack(list(batch[f"vec_{dspec.name}"]))[order],
                                                             dtype=np.float32))
        (staging / DOCIDS_FILE).write_text("\n".join(ids) + "\n")
        build_dense_index(iter(docs), len(docs), cast(Encoder, infos[dspec.name]), folder / "indexes" / dspec.name,
                          dspec, reuse_vectors=staging, docstore_version=version)
        shutil.rmtree(staging)
    sparse_encoders: dict[str, SparseEncoder] = {}
    for lspec in spec.learned_sparse:  # encoded here, per shard: dot products need no collection-wide statistics
        key = lspec.sparse.encoder.model_dump_json()
        if key not in sparse_encoders:
            sparse_encoders[key] = build_sparse_encoder(lspec.sparse.encoder)
        build_learned_sparse_index(iter(docs), len(docs), sparse_encoders[key], folder / "indexes" / lspec.name,
                                   lspec, docstore_version=version)
    return {"shard": [shard], "docs": [len(ids)], "checksum": [str(id_checksum(ids))]}


def _rows(plan: ShardedPlan) -> tuple[list[dict[str, Any]], ReadReport, Path]:
    corpus = plan.source / "corpus.jsonl" if plan.source.is_dir() else plan.source
    report = ReadReport()
    rows = [{"id": d.id, "title": d.title, "text": d.text, "pos": n, "shard": shard_of(d.id, plan.shards),
             "length": len(d.contents)}
            for n, d in enumerate(read_jsonl(corpus, plan.fields, plan.on_error, report, plan.limit))]
    if len({r["shard"] for r in rows}) < plan.shards:
        raise InvalidInput(f"{len(rows)} documents leave some of the {plan.shards} shards empty; use fewer shards")
    return rows, report, corpus


def build_sharded(plan: ShardedPlan, root: Path, *, address: str | None = None) -> ShardedManifest:
    """Build ``plan`` under ``root/<name>`` on Ray (``address``: an existing cluster; None: a local one, shut down
    after, unless Ray is already initialised in this process)."""
    for dspec in plan.dense:
        if dspec.prefixes is not None or dspec.passages is not None:
            raise InvalidInput(f"dense index {dspec.name!r}: sharded builds take whole documents without "
                               "Matryoshka prefixes (--no-prefixes, no --chunk)")
    started = time.perf_counter()
    rows, report, corpus = _rows(plan)
    with ray_cluster(address) as ray, collection_lock(root, plan.name), atomic_folder(root / plan.name) as tmp:
        ds = ray.data.from_items(rows)
        infos: dict[str, EncoderInfo] = {}
        encode_s: float | None = None
        to_encode = [d for d in plan.dense if d.name not in plan.reuse_vectors]
        if to_encode:
            # batches of similar length: little padding (materialized first: the encoder actors would otherwise hold
            # the CPUs the sort's tasks wait for)
            ds = ds.sort("length").materialize()
        for dspec in plan.dense:
            column = f"vec_{dspec.name}"
            if dspec.name in plan.reuse_vectors:
                infos[dspec.name] = _info_of_index(plan.reuse_vectors[dspec.name], dspec.encoder)
                ds = ds.map_batches(ReusedVectors, fn_constructor_kwargs={
                    "folder": str(plan.reuse_vectors[dspec.name]), "column": column},
                    compute=ray.data.ActorPoolStrategy(size=1), batch_size=1024, batch_format="numpy")
            else:
                infos[dspec.name] = ray.get(ray.remote(describe_encoder).remote(dspec.encoder))
                ds = ds.map_batches(EncoderActor, fn_constructor_kwargs={
                    "spec": dspec.encoder.model_dump_json(), "column": column},
                    compute=ray.data.ActorPoolStrategy(size=plan.encoder_workers), batch_size=plan.batch_size,
                    batch_format="numpy", num_cpus=1)
        if to_encode:  # encode everything first (the timed stage), then write the shards
            t0 = time.perf_counter()
            ds = ds.materialize()
            encode_s = time.perf_counter() - t0
        written = ds.groupby("shard").map_groups(write_shard, fn_kwargs={
            "out": str(tmp), "shards": plan.shards, "plan": plan.model_dump_json(),
            "encoders": json.dumps({k: v.__dict__ for k, v in infos.items()})}, batch_format="numpy").take_all()
        manifest = _finish(plan, tmp, rows, written, report, corpus, started, encode_s)
    log.info("sharded %s: %d docs in %d shards in %.1fs", plan.name, manifest.doc_count, plan.shards,
             time.perf_counter() - started)
    return manifest


def _finish(plan: ShardedPlan, tmp: Path, rows: list[dict[str, Any]], written: list[dict[str, Any]],
            report: ReadReport, corpus: Path, started: float, encode_s: float | None) -> ShardedManifest:
    """Check no document was lost or duplicated, write the BM25 statistics and the top-level manifest."""
    by_shard = {int(w["shard"]): w for w in written}
    counts = tuple(int(by_shard[i]["docs"]) if i in by_shard else 0 for i in range(plan.shards))
    checksum = sum(int(w["checksum"]) for w in written) & _MASK
    if len(written) != plan.shards or sum(counts) != len(rows) or checksum != id_checksum(r["id"] for r in rows):
        raise CorpusError(f"sharded build lost or duplicated documents: {sum(counts)} written in {len(written)} "
                          f"shards, {len(rows)} read")
    folders = tuple(shard_name(i) for i in range(plan.shards))
    bm25 = {}
    for sspec in plan.sparse:
        stats = collect([tmp / SHARDS_DIR / f / "indexes" / sspec.name for f in folders])
        stats.write(tmp / STATS_DIR / f"{sspec.name}.json")
        bm25[sspec.name] = {"N": float(stats.docs), "avgdl": stats.avgdl}
    seconds = time.perf_counter() - started
    manifest = ShardedManifest(
        name=plan.name, shards=plan.shards, shard_folders=folders, doc_count=sum(counts), doc_counts=counts,
        indexes={**{s.name: "sparse" for s in plan.sparse}, **{d.name: "dense" for d in plan.dense},
                 **{ls.name: LEARNED_SPARSE for ls in plan.learned_sparse}}, bm25=bm25,
        encoder_workers=plan.encoder_workers,
        build={"source": str(corpus.resolve()), "limit": plan.limit, "skipped": len(report.skipped),
               "seconds": round(seconds, 2), "encode_seconds": round(encode_s, 2) if encode_s else None,
               "encode_docs_per_second": round(len(rows) / encode_s, 2) if encode_s else None,
               "vectors_reused": sorted(plan.reuse_vectors), "ids_checked": len(rows)},
    )
    manifest.write(tmp)
    return manifest
