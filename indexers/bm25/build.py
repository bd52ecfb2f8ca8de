"""Build a native BM25 index: term -> (doc, tf) postings as numpy arrays (CSC), with BM25 weights precomputed.

Scoring follows Lucene's BM25Similarity (as Anserini runs it): idf = ln(1 + (N - df + 0.5) / (df + 0.5)), no (k1 + 1)
factor, and document lengths rounded to Lucene's one-byte norms (SmallFloat), so rankings match the Lucene index.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from indexers.bm25.analyzer import analyze
from indexers.layout import DOCIDS_FILE
from indexers.manifest import IndexManifest, atomic_folder
from kernel.types import Doc

log = logging.getLogger(__name__)
ARRAYS = ("indptr", "docs", "tfs", "weights", "idf", "lengths")  # <name>.npy in the index folder
VOCAB_FILE = "vocab.json"
ANALYZER = "lucene-english (StandardTokenizer-like, possessive, 33 stopwords, Lucene Porter), pure Python"


class Bm25IndexSpec(BaseModel):
    """A native (in-process, numpy) BM25 index; ``k1``/``b`` are baked into its weights, others cost a bit more."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "bm25-native"
    backend: Literal["native"] = "native"
    k1: float = Field(0.9, gt=0, le=10)
    b: float = Field(0.4, ge=0, le=1)


def _int4(i: int) -> int:
    bits = i.bit_length()
    if bits < 4:
        return i
    shift = bits - 4
    return ((i >> shift) & 0x07) | ((shift + 1) << 3)


def _from_int4(i: int) -> int:
    shift = (i >> 3) - 1
    return i & 0x07 if shift == -1 else ((i & 0x07) | 0x08) << shift


_FREE = 255 - _int4(2**31 - 1)  # lengths below this are stored exactly


def lucene_length(n: int) -> int:
    """The document length Lucene scores with: ``n`` through SmallFloat.intToByte4 and back."""
    if n < _FREE:
        return n
    return min(_FREE + _from_int4(_int4(n - _FREE)), 2**31 - 1)


def bm25_weights(tfs: NDArray[np.float32], lengths: NDArray[np.float32], idf: float | NDArray[np.float32],
                 avgdl: float, k1: float, b: float) -> NDArray[np.float32]:
    """Lucene's per-posting BM25 score ``idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))``."""
    norm = np.float32(k1) * (np.float32(1 - b) + np.float32(b) * lengths / np.float32(avgdl))
    return (idf * (tfs / (tfs + norm))).astype(np.float32)


def build_bm25_index(docs: Iterable[Doc], count: int, out_dir: Path, spec: Bm25IndexSpec, *,
                     docstore_version: str | None = None) -> IndexManifest:
    """Analyze ``docs`` (title and text, as the Lucene index sees them) and write the postings under ``out_dir``;
    ``docstore_version`` (the doc store ``docs`` come from) goes into the manifest."""
    started = time.perf_counter()
    vocab: dict[str, int] = {}
    ids: list[str] = []
    term_ids: list[int] = []
    tf_list: list[int] = []
    raw_lengths: list[int] = []
    unique_terms: list[int] = []
    for doc in tqdm(docs, total=count, desc="bm25 index", unit="doc"):
        terms = analyze(doc.contents)
        tf = Counter(terms)
        ids.append(doc.id)
        raw_lengths.append(len(terms))
        unique_terms.append(len(tf))
        term_ids.extend(vocab.setdefault(t, len(vocab)) for t in tf)
        tf_list.extend(tf.values())
    n = len(ids)
    doc_of = np.repeat(np.arange(n, dtype=np.int32), unique_terms)
    order = np.argsort(np.asarray(term_ids, dtype=np.int32), kind="stable")  # by term, then doc (corpus order)
    postings_docs = doc_of[order]
    tfs = np.asarray(tf_list, dtype=np.float32)[order]
    df = np.bincount(np.asarray(term_ids, dtype=np.int64), minlength=len(vocab))
    indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
    lengths = np.asarray([lucene_length(x) for x in raw_lengths], dtype=np.float32)
    avgdl = float(sum(raw_lengths)) / max(n, 1)  # Lucene: sumTotalTermFreq / docCount, unrounded lengths
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    weights = bm25_weights(tfs, lengths[postings_docs], np.repeat(idf, df), avgdl, spec.k1, spec.b)
    arrays = {"indptr": indptr, "docs": postings_docs, "tfs": tfs, "weights": weights, "idf": idf, "lengths": lengths}
    seconds = time.perf_counter() - started
    with atomic_folder(out_dir) as tmp:
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", arrays[name])
        terms_in_order = sorted(vocab, key=vocab.__getitem__)
        (tmp / VOCAB_FILE).write_text(json.dumps(terms_in_order, ensure_ascii=False))
        (tmp / DOCIDS_FILE).write_text("\n".join(ids) + "\n")
        manifest = IndexManifest(
            kind="sparse", name=spec.name, doc_count=n, metric="bm25",
            build={**spec.model_dump(mode="json"), "analyzer": ANALYZER, "avgdl": avgdl, "terms": len(vocab),
                   "postings": int(len(tfs)), "docs_per_second": round(n / max(seconds, 1e-9), 1)},
            build_seconds=round(seconds, 2), docstore_version=docstore_version,
        )
        manifest.write(tmp)
    log.info("bm25 index %s: %d docs, %d terms in %.1fs", out_dir, n, len(vocab), seconds)
    return manifest
