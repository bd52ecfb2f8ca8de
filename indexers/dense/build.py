"""Encode a corpus (whole documents, or passages of them) and build a FAISS index from an index-factory spec
(Flat, HNSW32, IVF1024,PQ48, ...), then, by default, PCA Matryoshka prefixes over it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from indexers.dense.passages import PASSAGES_FILE, ChunkSpec, split_corpus
from indexers.durable import fault_point
from indexers.encoders import Encoder, EncoderSpec
from indexers.layout import DOCIDS_FILE, INDEX_FILE, VECTORS_FILE
from indexers.manifest import IndexManifest, atomic_folder
from indexers.matryoshka.build import add_matryoshka
from indexers.matryoshka.spec import MatryoshkaSpec
from kernel.errors import IndexUnavailable, InvalidInput
from kernel.types import Doc

log = logging.getLogger(__name__)


class DenseIndexSpec(BaseModel):
    """How to build a dense index. ``factory`` is a FAISS index-factory string over inner product; ``passages``
    indexes token windows of each document instead of its first ``encoder.max_length`` tokens; ``prefixes`` adds
    Matryoshka prefix indexes (PCA by default: seconds, full-dimension scores unchanged; ``None``: none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "dense"
    encoder: EncoderSpec = Field(default_factory=EncoderSpec)
    factory: str = "Flat"
    hnsw_ef_construction: int = Field(200, ge=8)
    hnsw_ef_search: int = Field(128, ge=1)
    ivf_nprobe: int = Field(16, ge=1)
    chunk_size: int = Field(512, ge=1)
    passages: ChunkSpec | None = None
    prefixes: MatryoshkaSpec | None = Field(default_factory=MatryoshkaSpec)


class Truncation(BaseModel):
    """How many encoded texts (documents, or passages) were longer than the encoder reads; their tails are unseen."""

    texts: int = 0
    truncated: int = 0
    max_tokens: int = 0
    unit: str = "documents"

    def message(self) -> str:
        return (f"{self.truncated} of {self.texts} {self.unit} are longer than the encoder's {self.max_tokens} tokens "
                "and were cut" + (" (index passages: --chunk WINDOW:OVERLAP)" if self.unit == "documents" else ""))


def encode_corpus(
    docs: Iterable[Doc], encoder: Encoder, out: Path, count: int, chunk_size: int, cut: Truncation | None = None
) -> tuple[list[str], NDArray[np.float32]]:
    """Encode ``docs`` chunk by chunk into a memory-mapped ``vectors.npy`` (so RAM holds one chunk); texts longer
    than the encoder reads are counted in ``cut``."""
    vectors = np.lib.format.open_memmap(out / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(count, encoder.dim))
    ids: list[str] = []
    chunk: list[Doc] = []
    bar = tqdm(total=count, desc=f"encode {encoder.model_id} ({encoder.backend})", unit="doc")

    def flush() -> None:
        texts = [d.contents for d in chunk]
        if cut is not None:
            cut.texts += len(texts)
            cut.truncated += sum(len(o) > cut.max_tokens for o in encoder.token_offsets(texts))
        vectors[len(ids) : len(ids) + len(chunk)] = encoder.encode_docs(texts)
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
    """Encode ``docs`` (or reuse vectors from an index built with the same encoder and passages) and write an index
    folder; then add ``spec.prefixes``.

    Args:
        docs: the corpus, in the order the FAISS ids will follow.
        count: number of docs (sizes the memory-mapped vector file).
        encoder: the document encoder; its id and revision go in the manifest.
        out_dir: the final index folder; written atomically.
        spec: FAISS factory and HNSW/IVF parameters, passages, prefixes.
        reuse_vectors: an index folder whose ``vectors.npy``/``docids.txt`` (and ``passages.npy``) came from the same
            encoder and passage spec.
        docstore_version: the version of the doc store ``docs`` come from, recorded in the manifest.
    """
    import faiss

    started = time.perf_counter()
    cut: Truncation | None = None
    with atomic_folder(out_dir) as tmp:
        if reuse_vectors is not None:
            ids = (reuse_vectors / DOCIDS_FILE).read_text().splitlines()
            for name in (VECTORS_FILE, PASSAGES_FILE):
                if (reuse_vectors / name).is_file():
                    (tmp / name).write_bytes((reuse_vectors / name).read_bytes())
            vectors = np.load(tmp / VECTORS_FILE, mmap_mode="r")
            cut = _reused_truncation(reuse_vectors)
        else:
            cut = Truncation(max_tokens=encoder.max_tokens, unit="passages" if spec.passages else "documents")
            if spec.passages is not None:
                passages = split_corpus(docs, encoder, spec.passages)
                np.save(tmp / PASSAGES_FILE, np.asarray(passages.spans, dtype=np.int64).reshape(-1, 2))
                docs, count = passages.as_docs(), len(passages.ids)
            ids, vectors = encode_corpus(docs, encoder, tmp, count, spec.chunk_size, cut)
        encode_seconds = time.perf_counter() - started
        fault_point("dense.mid-index", spec.name)  # vectors written, the FAISS index not yet
        index = make_faiss_index(vectors, spec)
        faiss.write_index(index, str(tmp / INDEX_FILE))
        (tmp / DOCIDS_FILE).write_text("\n".join(ids) + "\n")
        seconds = time.perf_counter() - started
        manifest = IndexManifest(
            kind="dense",
            name=spec.name,
            doc_count=len(dict.fromkeys(ids)) if spec.passages else len(ids),
            model=encoder.model_id,
            model_revision=encoder.revision,
            dims=encoder.dim,
            metric="cosine" if encoder.normalized else "ip",
            build={
                **spec.model_dump(mode="json"),
                "passage_count": len(ids) if spec.passages else None,
                "truncated": cut.model_dump() if cut else None,
                "encode_seconds": round(encode_seconds, 2),
                "docs_per_second": round(len(ids) / encode_seconds, 2) if reuse_vectors is None else None,
                "vectors_reused": reuse_vectors is not None,
            },
            build_seconds=round(seconds, 2),
            docstore_version=docstore_version,
        )
        manifest.write(tmp)
    log.info("dense index %s: %d docs (%d vectors) in %.1fs", out_dir, manifest.doc_count, len(ids), seconds)
    if cut is not None and cut.truncated:
        log.warning("dense index %s: %s", out_dir.name, cut.message())
    if spec.prefixes is not None:
        manifest = _add_prefixes(out_dir, spec.prefixes, encoder.dim) or manifest
    return manifest


def _reused_truncation(folder: Path) -> Truncation | None:
    try:
        found = IndexManifest.read(folder).build.get("truncated")
    except IndexUnavailable:  # a staging folder of live updates has no manifest: nothing counted
        return None
    return Truncation.model_validate(found) if found else None


def _add_prefixes(folder: Path, spec: MatryoshkaSpec, full: int) -> IndexManifest | None:
    """PCA (or ``spec``'s) prefixes at the dims below the encoder's; none when it has no smaller one to serve."""
    dims = tuple(d for d in spec.dims if d < full)
    if spec.funnel.dims not in dims:
        log.warning("no Matryoshka prefixes for %s: the funnel's %d dims is not below the encoder's %d",
                    folder.name, spec.funnel.dims, full)
        return None
    return add_matryoshka(folder, spec.model_copy(update={"dims": dims}))
