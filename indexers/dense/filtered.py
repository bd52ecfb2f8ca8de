"""Filtered dense search: the allowed rows go into FAISS as an ID selector (a bitmap over the index's rows) through
the search parameters of the index's kind, or, when few rows are allowed, are scored exactly from the stored
vectors. Never over-fetch-and-drop: ``k`` documents come back whenever ``k`` are allowed.

The rule (``DenseIndex.search`` with ``allowed``):
1. no allowed row: no hits;
2. at most ``exact_limit(rows)`` allowed rows, the smaller of ``EXACT_MAX_ROWS`` and an eighth of the index (or an
   index moved to GPU, where FAISS takes no selector): exact inner products over those rows from ``vectors.npy``, the
   same scores a Flat index gives (cheaper than a selector scan of every row, or than an HNSW walk whose neighbours
   the filter mostly refuses);
3. else FAISS with the selector: ``SearchParameters(sel)`` (Flat, SQ, PQ), ``SearchParametersHNSW(sel, efSearch)``,
   ``SearchParametersIVF(sel, nprobe)``; Matryoshka prefix and funnel searches pass it to their code indexes.
   An approximate index (HNSW, IVF) can come back short when the filter cuts its graph or probed lists; a query that
   got fewer than ``min(fetched, allowed)`` rows is answered by rule 2's exact scoring instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from indexers.filters import AllowedDocs, RowMap

if TYPE_CHECKING:
    import faiss

EXACT_MAX_ROWS = 2048  # allowed rows up to which a filtered search may score them exactly (~1 ms at 384 dims)
EXACT_MAX_FRACTION = 8  # ... and at most 1/8 of the index's rows (above it FAISS's selector is cheaper)


def exact_limit(rows: int) -> int:
    """Allowed rows up to which an index of ``rows`` rows scores a filter's rows exactly (rule 2)."""
    return min(EXACT_MAX_ROWS, rows // EXACT_MAX_FRACTION)


def selector(allowed: AllowedDocs, rowmap: RowMap, ntotal: int) -> faiss.IDSelector:
    """A FAISS bitmap selector over the allowed rows (memoised in ``allowed``; the bitmap lives beside it)."""
    import faiss

    def make() -> tuple[faiss.IDSelector, NDArray[np.uint8]]:
        bits = np.packbits(rowmap.mask(allowed), bitorder="little")
        return faiss.IDSelectorBitmap(ntotal, faiss.swig_ptr(bits)), bits

    sel, _ = allowed.derived((rowmap, "faiss"), make)
    return sel


def with_selector(params: faiss.SearchParameters | None, sel: faiss.IDSelector, fetch: int
                  ) -> faiss.SearchParameters:
    """``params`` (the index's own kind of search parameters, or None) with ``sel`` added; HNSW keeps its
    ``efSearch``, raised to ``fetch`` when smaller."""
    import faiss

    # The type stubs bundled with faiss leave the HNSW parameters out; the runtime module has them.
    if isinstance(params, faiss.SearchParametersHNSW):  # type: ignore[attr-defined]
        out: faiss.SearchParameters = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
            sel=sel, efSearch=max(int(params.efSearch), fetch))
        return out
    if isinstance(params, faiss.SearchParametersIVF):
        return faiss.SearchParametersIVF(sel=sel, nprobe=params.nprobe)  # type: ignore[call-arg]
    return faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]  # the stubs list no keyword arguments


def exact(vectors: Any, rows: NDArray[np.int64], queries: NDArray[np.float32], fetch: int
          ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Top-``fetch`` inner products over ``rows`` of ``vectors``, as FAISS returns them (``-1`` pads)."""
    sub = np.asarray(vectors[rows], dtype=np.float32)
    scores = np.ascontiguousarray(queries, dtype=np.float32) @ sub.T
    n = min(fetch, len(rows))
    out_s = np.full((len(queries), fetch), -np.inf, dtype=np.float32)
    out_p = np.full((len(queries), fetch), -1, dtype=np.int64)
    for i, row in enumerate(scores):
        top = np.argpartition(-row, n - 1)[:n] if n < len(row) else np.arange(len(row))
        top = top[np.argsort(-row[top], kind="stable")]
        out_s[i, :n], out_p[i, :n] = row[top], rows[top]
    return out_s, out_p


def short_rows(positions: NDArray[np.int64], want: int) -> list[int]:
    """Query rows that came back with fewer than ``want`` results."""
    return [i for i, p in enumerate(positions) if int((p >= 0).sum()) < want]
