"""Encode a corpus and build a FAISS index from an index-factory spec (Flat, HNSW32, IVF1024,PQ48, ...)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from indexers.durable import fault_point
from indexers.encoders import Encoder, EncoderSpec
from indexers.layout import DOCIDS_FILE, INDEX_FILE, VECTORS_FILE
from indexers.manifest import IndexManifest, atomic_folder
from kernel.errors import InvalidInput
from kernel.types import Doc

log = logging.getLogger(__name__)



class DenseIndexSpec(BaseModel):
    """How to build a dense index. ``factory`` is a FAISS index-factory string over inner product."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "dense"
    encoder: EncoderSpec = Field(default_factory=EncoderSpec)
    factory: str = "Flat"
    hnsw_ef_construction: int = Field(200, ge=8)
    hnsw_ef_search: int = Field(128, ge=1)
    ivf_nprobe: int = Field(16, ge=1)
    chunk_size: int = Field(512, ge=1)


def encode_corpus(
    docs: Iterable[Doc], encoder: Encoder, out: Path, count: int, chunk_size: int
) -> tuple[list[str], NDArray[np.float32]]:
    """Encode ``docs`` chunk by chunk into a memory-mapped ``vectors.npy`` (so RAM holds one chunk)."""
    vectors = np.lib.format.open_memmap(out / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(count, encoder.dim))
    ids: list[str] = []
    chunk: list[Doc] = []
    bar = tqdm(total=count, desc=f"encode {encoder.model_id} ({encoder.backend})", unit="doc")

    def flush() -> None:
        vectors[len(ids) : len(ids) + len(chunk)] = encoder.encode_docs([d.contents for d in chunk])
        ids.extend(d.id for d in chunk)
        bar.update(len(chunk))
        chunk.clear()

    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    bar.close()
    vectors.flush()
    return ids, vectors


def make_faiss_index(vectors: NDArray[np.float32], spec: DenseIndexSpec) -> object:
    """Train (when the factory needs it) and fill a FAISS index over inner product."""
    import faiss

    dim = vectors.shape[1]
    try:
        index = faiss.index_factory(dim, spec.factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise InvalidInput(f"bad FAISS factory string {spec.factory!r}: {exc}") from None
    hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
    if hnsw is not None:
        hnsw.efConstruction = spec.hnsw_ef_construction
    if not index.is_trained:
        sample = vectors[np.random.default_rng(0).permutation(len(vectors))[: 256 * 256]]
        index.train(np.ascontiguousarray(sample))
    for start in tqdm(range(0, len(vectors), 16384), desc=f"faiss add ({spec.factory})", unit="chunk"):
        index.add(np.ascontiguousarray(vectors[start : start + 16384]))
    return index


def build_dense_index(
    docs: Iterable[Doc],
    count: int,
    encoder: Encoder,
    out_dir: Path,
    spec: DenseIndexSpec,
    *,
    reuse_vectors: Path | None = None,
    docstore_version: str | None = None,
) -> IndexManifest:
    """Encode ``docs`` (or reuse vectors from an index built with the same encoder) and write an index folder.

    Args:
        docs: the corpus, in the order the FAISS ids will follow.
        count: number of docs (sizes the memory-mapped vector file).
        encoder: the document encoder; its id and revision go in the manifest.
        out_dir: the final index folder; written atomically.
        spec: FAISS factory and HNSW/IVF parameters.
        reuse_vectors: an index folder whose ``vectors.npy``/``docids.txt`` came from the same encoder.
        docstore_version: the version of the doc store ``docs`` come from, recorded in the manifest.
    """
    import faiss

    started = time.perf_counter()
    with atomic_folder(out_dir) as tmp:
        if reuse_vectors is not None:
            ids = (reuse_vectors / DOCIDS_FILE).read_text().splitlines()
            (tmp / VECTORS_FILE).write_bytes((reuse_vectors / VECTORS_FILE).read_bytes())
            vectors = np.load(tmp / VECTORS_FILE, mmap_mode="r")
        else:
            ids, vectors = encode_corpus(docs, encoder, tmp, count, spec.chunk_size)
        encode_seconds = time.perf_counter() - started
        fault_point("dense.mid-index", spec.name)  # vectors written, the FAISS index not yet
        index = make_faiss_index(vectors, spec)
        faiss.write_index(index, str(tmp / INDEX_FILE))
        (tmp / DOCIDS_FILE).write_text("\n".join(ids) + "\n")
        seconds = time.perf_counter() - started
        manifest = IndexManifest(
            kind="dense",
            name=spec.name,
            doc_count=len(ids),
            model=encoder.model_id,
            model_revision=encoder.revision,
            dims=encoder.dim,
            metric="cosine" if encoder.normalized else "ip",
            build={
                **spec.model_dump(mode="json"),
                "encode_seconds": round(encode_seconds, 2),
                "docs_per_second": round(len(ids) / encode_seconds, 2) if reuse_vectors is None else None,
                "vectors_reused": reuse_vectors is not None,
            },
            build_seconds=round(seconds, 2),
            docstore_version=docstore_version,
        )
        manifest.write(tmp)
    log.info("dense index %s: %d docs in %.1fs", out_dir, len(ids), seconds)
    return manifest
