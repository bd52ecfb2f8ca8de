"""Low-dimensional prefix indexes in three codes: fp32 (exact), sq8 (int8 scalar quantised), binary (sign bits)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def bytes_per_vector(dims: int, code: str) -> int:
    return {"fp32": dims * 4, "sq8": dims, "binary": dims // 8}[code]


def _binarize(x: NDArray[np.float32]) -> NDArray[np.uint8]:
    return np.packbits(np.ascontiguousarray(x) > 0, axis=1)


def build_code_index(prefixes: NDArray[np.float32], code: str) -> Any:
    """A FAISS index over unit-length prefix vectors in ``code``."""
    import faiss

    dims = prefixes.shape[1]
    index: Any
    if code == "binary":
        index = faiss.IndexBinaryFlat(dims)
        index.add(_binarize(prefixes))
        return index
    if code == "sq8":
        index = faiss.IndexScalarQuantizer(dims, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.train(prefixes)
    else:
        index = faiss.IndexFlatIP(dims)
    index.add(prefixes)
    return index


def search_code_index(
    index: Any, code: str, queries: NDArray[np.float32], n: int, sel: Any = None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Top-``n`` ``(scores, positions)``; binary scores are negated Hamming distances (higher is closer). ``sel``
    (a FAISS ID selector) keeps the search to the rows it lets through (a filter's); short rows pad with ``-1``."""
    import faiss

    n = min(n, index.ntotal)
    params = faiss.SearchParameters(sel=sel) if sel is not None else None  # type: ignore[call-arg]
    if code == "binary":
        dist, pos = index.search(_binarize(queries), n, params=params)
        return -dist.astype(np.float32), pos
    scores, pos = index.search(np.ascontiguousarray(queries, dtype=np.float32), n, params=params)
    return scores, pos


def write_code_index(index: Any, code: str, path: str) -> None:
    import faiss

    (faiss.write_index_binary if code == "binary" else faiss.write_index)(index, path)


def read_code_index(code: str, path: str) -> Any:
    import faiss

    return (faiss.read_index_binary if code == "binary" else faiss.read_index)(path)
