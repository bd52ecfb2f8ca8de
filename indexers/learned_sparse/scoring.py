"""Exact learned sparse scoring, the kernel every learned sparse backend shares: a scipy CSR matrix times a block of
dense query columns (``exact_search``), on float weights or on a Lucene index's integer impacts (``quantised``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from indexers.learned_sparse.store import top_k
from indexers.sparse_encoders import SparseVectors

QUERY_BLOCK = 32  # query columns scored per sparse x dense product: [docs, 32] float32 stays small


def exact_search(
    matrix: Any, docids: list[str], queries: SparseVectors, k: int, *, impact_scale: float | None = None
) -> list[list[tuple[str, float]]]:
    """Top-``k`` of ``matrix @ query`` per query row (``matrix``: scipy CSR ``[docs, dim]``).

    With ``impact_scale`` the matrix holds integer impacts and queries are quantised the same way; scores are
    divided by ``impact_scale**2`` so they read on the float dot product's scale.
    """
    out: list[list[tuple[str, float]]] = []
    for start in range(0, len(queries), QUERY_BLOCK):
        block = queries.take(np.arange(start, min(start + QUERY_BLOCK, len(queries))))
        dense = np.zeros((block.dim, len(block)), dtype=np.float32)
        rows = np.repeat(np.arange(len(block)), block.row_nnz())
        dense[block.indices, rows] = block.values if impact_scale is None else block.quantised(impact_scale)
        scores = np.asarray(matrix @ dense)
        if impact_scale is not None:
            scores /= impact_scale * impact_scale
        for j in range(len(block)):
            best = top_k(scores[:, j], k)
            out.append([(docids[i], float(scores[i, j])) for i in best])
    return out


def quantised(matrix: Any, scale: float) -> Any:
    """``matrix`` with its weights rounded to integer impacts (as a Lucene impact index stores them)."""
    out = matrix.copy()
    out.data = np.rint(out.data * scale).astype(np.float32)
    return out
