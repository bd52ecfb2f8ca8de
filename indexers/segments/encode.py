"""Encode one change's documents for every current index of a collection, the way its build encoded (so the delta's
vectors score like the base's, and a merge can reuse them instead of encoding again)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexers.dense import DenseIndexSpec
from indexers.dense.passages import split_corpus
from indexers.encoders import Encoder, EncoderSpec
from indexers.learned_sparse import KIND as LEARNED_SPARSE
from indexers.learned_sparse_backends import backend_of
from indexers.manifest import MANIFEST, IndexManifest
from indexers.segments.codec import Change, DenseRows
from indexers.sparse_encoders import SparseEncoder, SparseEncoderSpec, SparseVectors
from kernel.types import Doc

EncoderFor = Callable[[EncoderSpec], Encoder]
SparseEncoderFor = Callable[[SparseEncoderSpec], SparseEncoder]


def current_indexes(folder: Path, docstore_version: str | None) -> list[tuple[Path, IndexManifest]]:
    """The index folders served over the doc store (stale ones get no vectors: they are not served)."""
    out = []
    for index_dir in sorted((folder / "indexes").iterdir()) if (folder / "indexes").is_dir() else ():
        if not index_dir.name.startswith(".") and (index_dir / MANIFEST).is_file():
            manifest = IndexManifest.read(index_dir)
            if manifest.docstore_version == docstore_version:
                out.append((index_dir, manifest))
    return out


def dense_spec(manifest: IndexManifest) -> DenseIndexSpec:
    return DenseIndexSpec.model_validate({k: v for k, v in manifest.build.items()
                                          if k in DenseIndexSpec.model_fields})


def learned_sparse_spec(manifest: IndexManifest) -> Any:
    model = backend_of(str(manifest.build.get("backend"))).spec
    return model.model_validate({k: v for k, v in manifest.build.items() if k in model.model_fields})


def dense_rows(docs: Sequence[Doc], encoder: Encoder, spec: DenseIndexSpec) -> DenseRows:
    """One row per doc (``doc.contents``), or per passage split with the encoder's tokenizer like the build's."""
    if spec.passages is None:
        return DenseRows(encoder.encode_docs([d.contents for d in docs]), np.arange(len(docs), dtype=np.int64))
    passages = split_corpus(docs, encoder, spec.passages)
    owner = {d.id: i for i, d in enumerate(docs)}
    return DenseRows(encoder.encode_docs(passages.texts), np.asarray([owner[i] for i in passages.ids], np.int64),
                     np.asarray(passages.spans, np.int64).reshape(-1, 2))


def encode_change(indexes: Sequence[tuple[Path, IndexManifest]], upserts: Sequence[Doc], deletes: Sequence[str], *,
                  encoder_for: EncoderFor, sparse_encoder_for: SparseEncoderFor) -> Change:
    """``upserts`` and ``deletes`` with the upserts' vectors for every dense and learned sparse index of
    ``indexes`` (those of the base the writer opened: read once, as a merge may swap the folder meanwhile)."""
    dense: dict[str, DenseRows] = {}
    sparse: dict[str, SparseVectors] = {}
    if upserts:
        for index_dir, manifest in indexes:
            if manifest.kind == "dense":
                spec = dense_spec(manifest)
                dense[index_dir.name] = dense_rows(upserts, encoder_for(spec.encoder), spec)
            elif manifest.kind == LEARNED_SPARSE:
                build = learned_sparse_spec(manifest).sparse
                encoder = sparse_encoder_for(build.encoder)
                sparse[index_dir.name] = encoder.encode_docs([d.contents for d in upserts]).prune(
                    build.doc_top_k, build.doc_threshold)
    return Change(tuple(upserts), tuple(deletes), dense, sparse)
