"""Query side of Matryoshka structure: search at a prefix dimension, or shortlist low and rescore at full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.encoders.base import l2_normalize
from indexers.matryoshka.build import prefix_file
from indexers.matryoshka.codes import read_code_index, search_code_index
from indexers.matryoshka.spec import FunnelSpec
from indexers.matryoshka.transform import PrefixTransform
from kernel.errors import InvalidInput


class MatryoshkaView:
    """Prefix indexes, the transform, and the memory-mapped full vectors of one dense index."""

    def __init__(self, folder: Path, info: dict[str, Any], vectors: NDArray[np.float32]) -> None:
        self.transform = PrefixTransform.load(folder)
        self.full_dims = int(info["full_dims"])
        self.dims: tuple[int, ...] = tuple(info["dims"])
        self.codes: tuple[str, ...] = tuple(info["codes"])
        self.funnel_default = FunnelSpec.model_validate(info["funnel"])
        self._vectors = vectors
        self._indexes = {(d, c): read_code_index(c, str(folder / prefix_file(d, c)))
                         for d in self.dims for c in self.codes}

    @property
    def supported_dims(self) -> list[int]:
        return sorted({*self.dims, self.full_dims}, reverse=True)

    def _index(self, dims: int, code: str) -> Any:
        if (dims, code) not in self._indexes:
            raise InvalidInput(f"this index serves dims {self.supported_dims} (codes {list(self.codes)}); "
                               f"{dims} dims as {code} is not one of them")
        return self._indexes[(dims, code)]

    def search(self, queries: NDArray[np.float32], k: int, dims: int, sel: Any = None
               ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Exact search over the ``dims``-dim prefixes (fp32), only rows ``sel`` (a FAISS ID selector) lets through
        when given. Returns ``(scores, positions)``."""
        return search_code_index(self._index(dims, "fp32"), "fp32", self.transform.prefix(queries, dims), k, sel)

    def funnel(
        self, queries: NDArray[np.float32], k: int, spec: FunnelSpec, sel: Any = None
    ) -> tuple[list[tuple[NDArray[np.float32], NDArray[np.int64]]], int]:
        """Shortlist with the small index (through ``sel`` when given: a filter's rows only), rescore with full
        transformed vectors; per query ``(scores, positions)``."""
        index = self._index(spec.dims, spec.code)
        _, shortlist = search_code_index(index, spec.code, self.transform.prefix(queries, spec.dims), spec.shortlist,
                                         sel)
        # A rotation keeps inner products: score the stored vectors directly (no d x d product per candidate).
        direct = self.transform.preserves_full_scores
        full_q = l2_normalize(queries) if direct else self.transform.prefix(queries, self.full_dims)
        out = []
        for q, cand in zip(full_q, shortlist, strict=True):
            cand = np.sort(cand[cand >= 0])  # ascending positions read the memory map in order
            rows = np.asarray(self._vectors[cand])
            scores = (rows if direct else self.transform.prefix(rows, self.full_dims)) @ q
            top = np.argsort(-scores)[:k]
            out.append((scores[top], cand[top]))
        return out, int(shortlist.shape[1])
