"""Search the delta segment with scores comparable to the base's, and merge with the base's hits.

- dense: the exact inner product of the delta's vectors (a FAISS flat index over them, the same kernel a Flat base
  scores with), honouring ``DenseSearchOptions``: ``dimensions`` through the base's own Matryoshka transform
  (prefix, renormalised), the funnel as its full-dimension rescoring; ``ef_search`` and funnel shortlists do not
  matter for an exact search. Passage rows fold into documents like the base's (``aggregate``).
- BM25 (native and Lucene): the native scorer (Lucene's analyzer and formula) over the delta's postings, with the
  base's collection statistics (N, df, avgdl). Like Lucene and Elasticsearch segments, statistics catch up at the
  next merge: until then a delta doc scores as if the base's statistics held (exactly so for unchanged stats).
- learned sparse: the exact dot product of the delta's vectors; on a Lucene impact base (or ``quantised``) with the
  base's integer impacts, so scores read on the base's scale.

``merge`` searches the base with ``k + len(dead)`` (exact: at most that many hits can be dropped), drops the
tombstoned ids, and merges with the delta's hits by score.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from indexers.bm25.analyzer import analyze
from indexers.bm25.build import bm25_weights
from indexers.dense.options import DenseSearchOptions
from indexers.dense.passages import aggregate
from indexers.encoders.base import l2_normalize
from indexers.lucene import Bm25Params
from indexers.segments.delta import DenseSegment, Snapshot, SparseSegment
from indexers.sparse_encoders import SparseVectors

RowT = TypeVar("RowT", bound=tuple[str, float])
DeltaHit = tuple[str, float, tuple[int, int] | None]


class Bm25Stats(Protocol):
    """A BM25 base's collection statistics (``Bm25Index`` and ``LuceneIndex`` both give them)."""

    def term_idf(self, term: str) -> float: ...

    @property
    def avgdl(self) -> float: ...


def idf(docs: int, df: int) -> float:
    """Lucene's BM25 idf."""
    return math.log(1 + (docs - df + 0.5) / (df + 0.5))


def _flat(matrix: NDArray[np.float32]) -> Any:
    import faiss

    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(np.ascontiguousarray(matrix, dtype=np.float32))
    return index


def _dense_space(seg: DenseSegment, base: Any, query: NDArray[np.float32], options: DenseSearchOptions
                 ) -> tuple[Any, NDArray[np.float32]]:
    """The flat index over the delta rows and the query, both in the space the options search."""
    view = getattr(base, "matryoshka", None)
    transform = view.transform if view is not None else None
    dims = options.funnel.dims if options.funnel is not None else options.dimensions
    assert seg.vectors is not None
    if options.funnel is None and (dims is None or (dims == seg.dim and (transform is None
                                                                        or transform.preserves_full_scores))):
        key: Any = "full"
        q = query
    elif options.funnel is not None:  # the funnel's scores are its full-dimension rescoring
        direct = transform is None or transform.preserves_full_scores
        key = ("funnel", direct)
        one = query.reshape(1, -1)
        q = l2_normalize(one) if direct or transform is None else transform.prefix(one, seg.dim)
    else:
        if transform is None or seg.applied is None:
            return None, query  # the base refuses the prefix (no Matryoshka): its error reaches the caller
        key, q = ("prefix", dims), transform.prefix(query.reshape(1, -1), int(dims or seg.dim))
    if key not in seg.cache:
        if key == "full" or key == ("funnel", True):
            seg.cache[key] = _flat(seg.vectors)
        elif key[0] == "funnel":
            seg.cache[key] = _flat(l2_normalize(np.ascontiguousarray(seg.applied)))
        else:
            seg.cache[key] = _flat(l2_normalize(np.ascontiguousarray(np.asarray(seg.applied)[:, :dims])))
    return seg.cache[key], np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1)


def _valid(rows: Any, snap: Snapshot, only: frozenset[str] | None) -> NDArray[np.bool_]:
    """Rows of a live delta doc's current version, and of a doc the request's filter allows (``only``)."""
    valid: NDArray[np.bool_] = rows.valid(snap.docs)
    if only is not None:
        valid &= np.fromiter((o in only for o in rows.owners), dtype=bool, count=len(rows.owners))
    return valid


def dense_hits(snap: Snapshot, name: str, base: Any, query: NDArray[np.float32], k: int,
               options: DenseSearchOptions | None, only: frozenset[str] | None = None) -> list[DeltaHit]:
    """The delta's top ``k`` docs of dense index ``name`` for one query vector (among ``only``, when given)."""
    seg = snap.dense.get(name)
    if seg is None or seg.vectors is None or k < 1:
        return []
    index, q = _dense_space(seg, base, query, options or DenseSearchOptions())
    if index is None:
        return []
    scores, positions = index.search(q, index.ntotal)
    valid = _valid(seg.rows, snap, only)
    keep = positions[0] >= 0
    keep[keep] = valid[positions[0][keep]]
    pos = np.where(keep, positions[0], -1)
    chunking = getattr(base, "chunking", None)
    if chunking is None or seg.spans is None:
        out: list[DeltaHit] = [(seg.rows.owners[p], float(s), None) for s, p in zip(scores[0], pos, strict=True)
                               if p >= 0]
        return out[:k]
    return [(d, s, span) for d, s, span in aggregate(list(seg.rows.owners), seg.spans, scores[0], pos, k,
                                                    chunking.aggregate)]


def bm25_hits(snap: Snapshot, stats: Bm25Stats, query: str, k: int, params: Bm25Params,
              only: frozenset[str] | None = None) -> list[DeltaHit]:
    """The delta's top ``k`` docs for a BM25 query (among ``only``, when given), scored with the base's statistics
    (RM3 is not applied)."""
    seg = snap.text
    if not seg.rows.owners or k < 1:
        return []
    cols_rows, cols_weights = [], []
    avgdl = stats.avgdl
    for term, count in Counter(analyze(query)).items():
        if term not in seg.postings:
            continue
        rows, tfs = seg.postings[term]
        r = np.asarray(rows, np.int64)
        w = bm25_weights(np.asarray(tfs, np.float32), seg.lengths[r], float(np.float32(stats.term_idf(term))), avgdl,
                         params.k1, params.b)
        cols_rows.append(r)
        cols_weights.append(w if count == 1 else np.float32(count) * w)
    if not cols_rows:
        return []
    scores = np.bincount(np.concatenate(cols_rows), np.concatenate(cols_weights), minlength=len(seg.rows.owners))
    scores[~_valid(seg.rows, snap, only)] = 0
    top = np.flatnonzero(scores)
    top = top[np.lexsort((np.asarray([seg.rows.owners[i] for i in top], dtype=object), -scores[top]))][:k]
    return [(seg.rows.owners[i], float(scores[i]), None) for i in top.tolist()]


def sparse_hits(snap: Snapshot, name: str, base: Any, query: SparseVectors, k: int, options: Any,
                only: frozenset[str] | None = None) -> list[DeltaHit]:
    """The delta's top ``k`` docs of learned sparse index ``name`` for one query row (among ``only``, when given)."""
    seg: SparseSegment | None = snap.sparse.get(name)
    if seg is None or seg.vectors is None or k < 1 or query.nnz == 0:
        return []
    quantised = getattr(base, "backend", "") == "lucene_impact" or bool(getattr(options, "quantised", False))
    scale = float(base.manifest.build.get("sparse", {}).get("impact_scale", 100.0)) if quantised else None
    if quantised not in seg.cache:
        vecs = seg.vectors
        values = vecs.values if scale is None else vecs.quantised(scale).astype(np.float32)
        seg.cache[quantised] = SparseVectors(vecs.indptr, vecs.indices, values, vecs.dim).to_scipy()
    dense_q = np.zeros(query.dim, np.float32)
    ids, weights = query.row(0)
    dense_q[ids] = weights if scale is None else np.rint(weights * scale).astype(np.float32)
    scores = np.asarray(seg.cache[quantised] @ dense_q, dtype=np.float32)
    if scale is not None:
        scores /= scale * scale
    scores[~_valid(seg.rows, snap, only)] = 0
    top = np.flatnonzero(scores > 0)
    top = top[np.argsort(-scores[top], kind="stable")][:k]
    return [(seg.rows.owners[i], float(scores[i]), None) for i in top.tolist()]


def merge(base_rows: Sequence[RowT], delta: Sequence[DeltaHit], snap: Snapshot, k: int,
          make: Callable[[str, float, tuple[int, int] | None], RowT]) -> list[RowT]:
    """Base rows without tombstoned ids, merged with the delta's by score (base first on ties), top ``k``."""
    kept = [r for r in base_rows if not snap.hidden(r[0]) and r[0] not in snap.docs]
    both = kept + [make(d, s, span) for d, s, span in delta]
    both.sort(key=lambda r: -r[1])
    return both[:k]


def fetch(snap: Snapshot | None, k: int) -> int:
    """How many hits to ask the base for so that ``k`` remain after dropping tombstones."""
    return k if snap is None else k + len(snap.dead)
