"""Build a Lucene impact index of learned sparse vectors with Anserini's indexer (through Pyserini).

Documents are written as a pre-tokenised ``JsonVectorCollection`` (``{"id", "contents": "", "vector": {term:
impact}}``, impacts ``round(weight * impact_scale)``) and indexed with ``-impact -pretokenized``, the way
Pyserini's SPLADE indexes are made; the collection files are deleted once Lucene holds them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from indexers.learned_sparse.spec import SparseBuildSpec
from indexers.learned_sparse.store import ForwardStore, folder_bytes
from indexers.lucene.jvm import ensure_jvm

LUCENE_DIR = "lucene"
FILE_DOCS = 100_000  # documents per collection file (Anserini reads files in parallel, one per thread)


class ImpactIndexSpec(BaseModel):
    """A Lucene impact index (Anserini ``-impact -pretokenized``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["lucene_impact"] = "lucene_impact"
    name: str = "splade"
    sparse: SparseBuildSpec = Field(default_factory=SparseBuildSpec)
    threads: int = Field(2, ge=1)


def write_vector_collection(store: ForwardStore, scale: float, folder: Path) -> int:
    """Write the JsonVectorCollection files; returns how many (term, impact) postings they hold."""
    folder.mkdir()
    impacts = store.vectors.quantised(scale)
    indptr, indices, vocab = store.vectors.indptr, store.vectors.indices, store.vocab
    postings = 0
    for part, start in enumerate(range(0, len(store.docids), FILE_DOCS)):
        with (folder / f"docs{part:04d}.jsonl").open("wb") as fh:
            for row in range(start, min(start + FILE_DOCS, len(store.docids))):
                lo, hi = int(indptr[row]), int(indptr[row + 1])
                keep = impacts[lo:hi] > 0
                terms = indices[lo:hi][keep].tolist()
                vector = dict(zip([vocab[t] for t in terms], impacts[lo:hi][keep].tolist(), strict=True))
                postings += len(vector)
                fh.write(orjson.dumps({"id": store.docids[row], "contents": "", "vector": vector}) + b"\n")
    return postings


def write_impact(tmp: Path, store: ForwardStore, spec: ImpactIndexSpec) -> dict[str, object]:
    ensure_jvm()
    from jnius import autoclass

    collection = tmp / ".collection"
    postings = write_vector_collection(store, spec.sparse.impact_scale, collection)
    args = ["-collection", "JsonVectorCollection", "-input", str(collection), "-index", str(tmp / LUCENE_DIR),
            "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(spec.threads), "-impact",
            "-pretokenized", "-quiet"]
    autoclass("io.anserini.index.IndexCollection").main(args)
    shutil.rmtree(collection)
    quantised = store.vectors.quantised(spec.sparse.impact_scale)
    return {
        "quantisation": {"impact_scale": spec.sparse.impact_scale, "rule": "round(weight * impact_scale)",
                         "queries": "same scale", "postings": postings,
                         "dropped_by_rounding": int((quantised == 0).sum()),
                         "max_impact": int(quantised.max()) if len(quantised) else 0},
        "lucene_bytes": folder_bytes(tmp / LUCENE_DIR),
        "avg_doc_nnz_quantised": round(postings / max(len(store.docids), 1), 2),
        "nonzero_impacts": int(np.count_nonzero(quantised)),
    }
