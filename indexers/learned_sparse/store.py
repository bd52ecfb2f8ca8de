"""The forward store every learned sparse index folder holds, and the build steps the backends share.

Files: ``sparse_vectors.npz`` (the pruned float document vectors, CSR), ``docids.txt`` (row -> doc id) and
``vocab.txt`` (term id -> term). Backends add their own structures beside them; exact scoring, vector reuse
and rebuilds read these.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from indexers.learned_sparse.spec import KIND, SparseBuildSpec
from indexers.manifest import IndexManifest, atomic_folder
from indexers.sparse_encoders import SparseEncoder, SparseVectors
from kernel.errors import IndexUnavailable, InvalidInput
from kernel.types import Doc

log = logging.getLogger(__name__)

VECTORS_FILE = "sparse_vectors.npz"
DOCIDS_FILE = "docids.txt"
VOCAB_FILE = "vocab.txt"


@dataclass(frozen=True)
class ForwardStore:
    """Document ids, their (pruned, float) vectors and the vocabulary the term ids index."""

    docids: list[str]
    vectors: SparseVectors
    vocab: list[str]

    def write(self, folder: Path) -> None:
        self.vectors.save(folder / VECTORS_FILE)
        (folder / DOCIDS_FILE).write_text("".join(f"{d}\n" for d in self.docids))
        # WordPiece has no whitespace in its terms; one per line keeps term id == line number.
        (folder / VOCAB_FILE).write_text("".join(f"{t}\n" for t in self.vocab))

    @classmethod
    def read(cls, folder: Path) -> ForwardStore:
        if not (folder / VECTORS_FILE).is_file():
            raise IndexUnavailable(f"{folder} has no {VECTORS_FILE}: not a learned sparse index")
        vectors = SparseVectors.load(folder / VECTORS_FILE)
        docids = (folder / DOCIDS_FILE).read_text().splitlines()
        vocab = (folder / VOCAB_FILE).read_text().split("\n")[: vectors.dim]
        if len(docids) != len(vectors):
            raise IndexUnavailable(f"{folder}: {len(vectors)} vectors but {len(docids)} doc ids; rebuild")
        return cls(docids, vectors, vocab)

    @staticmethod
    def read_docids(folder: Path) -> list[str]:
        """Row -> doc id, without loading the vectors."""
        return (folder / DOCIDS_FILE).read_text().splitlines()

    @staticmethod
    def read_vocab(folder: Path) -> list[str]:
        """Term id -> term, without loading the vectors."""
        return (folder / VOCAB_FILE).read_text().split("\n")[:-1]

    def stats(self) -> dict[str, float | int]:
        nnz = self.vectors.row_nnz()
        return {"docs": len(self.docids), "nnz": self.vectors.nnz, "avg_doc_nnz": round(float(nnz.mean()), 2)
                if len(nnz) else 0.0, "empty_docs": int((nnz == 0).sum()), "vocab_size": self.vectors.dim}


def encode_corpus(docs: Iterable[Doc], encoder: SparseEncoder, count: int, spec: SparseBuildSpec) -> ForwardStore:
    """Encode and prune ``docs`` chunk by chunk (one progress bar for the whole corpus)."""
    ids: list[str] = []
    parts: list[SparseVectors] = []
    chunk: list[Doc] = []
    bar = tqdm(total=count, desc=f"splade encode {encoder.model_id}", unit="doc")

    def flush() -> None:
        encoded = encoder.encode_docs([d.contents for d in chunk])
        parts.append(encoded.prune(spec.doc_top_k, spec.doc_threshold))
        ids.extend(d.id for d in chunk)
        bar.update(len(chunk))
        chunk.clear()

    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= spec.chunk_size:
            flush()
    if chunk:
        flush()
    bar.close()
    return ForwardStore(ids, SparseVectors.concat(parts, encoder.dim), encoder.vocab)


def reusable_store(folder: Path, spec: SparseBuildSpec) -> tuple[ForwardStore, IndexManifest]:
    """The forward store of another learned sparse index, after checking it was encoded and pruned like ``spec``."""
    manifest = IndexManifest.read(folder)
    theirs = manifest.build.get("pruning")
    if manifest.kind != KIND or theirs != spec.pruning():
        raise InvalidInput(f"cannot reuse vectors of {folder}: built with {theirs}, this build wants {spec.pruning()}")
    return ForwardStore.read(folder), manifest


# A backend's writer: (temporary index folder, forward store, the backend's spec) -> facts for the manifest.
Writer = Callable[[Path, ForwardStore, Any], dict[str, Any]]


def build_learned_sparse(
    docs: Iterable[Doc] | None,
    count: int,
    encoder: SparseEncoder | None,
    out_dir: Path,
    spec: Any,
    writer: Writer,
    *,
    reuse_vectors: Path | None = None,
    store: ForwardStore | None = None,
    docstore_version: str | None = None,
) -> IndexManifest:
    """Encode (or reuse) the document vectors, let the backend write its structures, write the manifest last.

    Args:
        docs: the corpus (ignored when vectors are reused or given).
        count: number of docs (for the progress bar).
        encoder: the document encoder (may be None when vectors are reused or given).
        out_dir: the final index folder; written atomically.
        spec: the backend's spec; it has ``name``, ``backend`` and ``sparse`` (a ``SparseBuildSpec``).
        writer: the backend's index writer.
        reuse_vectors: a learned sparse index folder encoded and pruned the same way.
        store: ready-made vectors (encoded elsewhere, or synthetic); the model comes from ``spec``, its revision
            from ``encoder`` when given.
    """
    sparse: SparseBuildSpec = spec.sparse
    started = time.perf_counter()
    model, revision = sparse.encoder.model, getattr(encoder, "revision", None)
    encode_info: dict[str, object] = {}
    if store is None and reuse_vectors is not None:
        store, theirs = reusable_store(reuse_vectors, sparse)
        revision, encode_info = theirs.model_revision, {"vectors_reused_from": str(reuse_vectors)}
    elif store is None:
        if encoder is None or docs is None:
            raise InvalidInput("a learned sparse build needs docs and an encoder, reused vectors or a store")
        store = encode_corpus(docs, encoder, count, sparse)
        seconds = time.perf_counter() - started
        revision = encoder.revision
        encode_info = {"encode_seconds": round(seconds, 2), "docs_per_second": round(len(store.docids) / seconds, 2)}
    with atomic_folder(out_dir) as tmp:
        store.write(tmp)
        backend_info = writer(tmp, store, spec)
        seconds = time.perf_counter() - started
        manifest = IndexManifest(
            kind=KIND, name=spec.name, doc_count=len(store.docids), model=model, model_revision=revision,
            dims=store.vectors.dim, metric="dot",
            build={**spec.model_dump(mode="json"), "pruning": sparse.pruning(), **store.stats(), **encode_info,
                   **backend_info},
            build_seconds=round(seconds, 2), docstore_version=docstore_version,
        )
        manifest.write(tmp)
    log.info("learned sparse index %s (%s): %d docs in %.1fs", out_dir, spec.backend, len(store.docids), seconds)
    return manifest


def folder_bytes(folder: Path) -> int:
    """Bytes on disk under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def check_queries(queries: SparseVectors, dim: int, folder: Path) -> None:
    if queries.dim != dim:
        raise InvalidInput(f"query vectors have {queries.dim} dimensions but index {folder.name!r} has {dim}; "
                           "encode queries with the model in its manifest")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest positive ``scores``, best first."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, np.int64)
    part = part[scores[part] > 0]
    return part[np.argsort(-scores[part], kind="stable")]
