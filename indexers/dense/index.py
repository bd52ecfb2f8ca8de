"""Read side of a dense index: FAISS search, FAISS position -> doc id (passage hits folded into documents on a
passage index), and the full vectors on disk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from indexers.dense import filtered
from indexers.dense.early_exit import EarlyExitMaps
from indexers.dense.options import DenseSearchOptions
from indexers.dense.passages import PASSAGES_FILE, ChunkSpec, aggregate
from indexers.filters import AllowedDocs, RowMap
from indexers.layout import DOCIDS_FILE, INDEX_FILE, VECTORS_FILE
from indexers.manifest import IndexManifest
from indexers.matryoshka.spec import FunnelOptions
from kernel.errors import IndexUnavailable, InvalidInput

if TYPE_CHECKING:
    import faiss

    from indexers.matryoshka.view import MatryoshkaView

log = logging.getLogger(__name__)


class DenseRow(tuple[str, float]):
    """One hit: unpacks as ``(doc_id, score)`` like every retriever's rows; ``passage`` is the best passage's
    ``(start, end)`` character span in the document's text on a passage index, else ``None``."""

    passage: tuple[int, int] | None

    def __new__(cls, doc_id: str, score: float, passage: tuple[int, int] | None = None) -> DenseRow:
        row = super().__new__(cls, (doc_id, score))
        row.passage = passage
        return row


Rows = list[list[DenseRow]]  # per query row: documents best first, each unpacking as (doc_id, score)


def _hnsw_params(ef_search: int) -> faiss.SearchParameters:
    """``faiss.SearchParametersHNSW(efSearch=ef_search)``."""
    import faiss

    # The type stubs bundled with faiss leave SearchParametersHNSW out; the runtime module has it.
    params: faiss.SearchParameters = faiss.SearchParametersHNSW(efSearch=ef_search)  # type: ignore[attr-defined]
    return params


class DenseIndex:
    """One FAISS index folder. ``search`` is thread-safe (per-call parameters, no shared mutable state)."""

    def __init__(self, folder: Path, *, use_gpu: bool = False) -> None:
        import faiss

        self.folder = folder
        self.manifest = IndexManifest.read(folder)
        if self.manifest.kind != "dense":
            raise IndexUnavailable(f"{folder} is a {self.manifest.kind} index, not dense")
        self._index = faiss.read_index(str(folder / INDEX_FILE))
        self.docids = (folder / DOCIDS_FILE).read_text().splitlines()  # per vector: one per passage on passage indexes
        rows = int(self.manifest.build.get("passage_count") or self.manifest.doc_count)
        if len(self.docids) != self._index.ntotal or len(self.docids) != rows:
            raise IndexUnavailable(
                f"{folder}: {self._index.ntotal} vectors, {len(self.docids)} doc ids, manifest says "
                f"{rows}; rebuild the index"
            )
        self.chunking: ChunkSpec | None = None
        self._spans: NDArray[np.int64] | None = None
        if self.manifest.build.get("passages"):
            self.chunking = ChunkSpec.model_validate(self.manifest.build["passages"])
            self._spans = np.load(folder / PASSAGES_FILE)
        self._params = self._search_params()
        self.rowmap = RowMap(self.docids)  # rows per document, for filters
        self.filter_exact_rows = filtered.exact_limit(len(self.docids))  # filtered.py's rule 2 (benchmarks and
        # tests set it to compare the routes)
        self._on_gpu = False
        self._vectors: NDArray[np.float32] | None = None
        self.matryoshka: MatryoshkaView | None = None
        if "matryoshka" in self.manifest.build:
            from indexers.matryoshka.view import MatryoshkaView

            self.matryoshka = MatryoshkaView(folder, self.manifest.build["matryoshka"], self.vectors())
        self.early_exit: EarlyExitMaps | None = None
        if "early_exit" in self.manifest.build:
            self.early_exit = EarlyExitMaps(folder, self.manifest.build["early_exit"])
        if use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            self._gpu_res = faiss.StandardGpuResources()
            self._index = faiss.index_cpu_to_gpu(self._gpu_res, 0, self._index)
            self._on_gpu = True
            log.info("dense index %s moved to GPU", folder.name)

    def _search_params(self) -> faiss.SearchParameters | None:
        import faiss

        build = self.manifest.build
        inner = faiss.downcast_index(self._index)
        if hasattr(inner, "hnsw"):
            return _hnsw_params(int(build.get("hnsw_ef_search", 128)))
        if hasattr(faiss, "extract_index_ivf"):
            try:
                faiss.extract_index_ivf(self._index)
                params = faiss.SearchParametersIVF()
                params.nprobe = int(build.get("ivf_nprobe", 16))
                return params
            except RuntimeError:
                return None
        return None

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(
        self, queries: NDArray[np.float32], k: int, options: DenseSearchOptions | None = None,
        *, counts: dict[str, int] | None = None, allowed: AllowedDocs | None = None,
    ) -> Rows:
        """Top-``k`` ``(doc_id, score)`` per query row, the way ``options`` asks (None: the index's own settings).

        Args:
            queries: one query vector per row (full dimension, unit length).
            k: hits per query.
            options: ``layers``: the queries come from that many encoder layers (mapped here, see
                ``query_layers``); ``funnel``: shortlist at a Matryoshka prefix, rescore at full dimension (unset
                funnel fields take the index's built default); else ``dimensions``: search at that prefix; else the
                full index (``ef_search`` overrides HNSW's setting for this call).
            counts: when given, gets what the search did: ``rescored`` (funnel candidates rescored per query),
                ``allowed`` (rows a filter let through), ``exact`` (queries a filter had scored exactly).
            allowed: a filter's documents: only they can come back, ``k`` of them when ``k`` are allowed
                (``indexers/dense/filtered.py`` has the rule).

        Raises:
            InvalidInput: a prefix or funnel the index was not built with (the message lists what it serves).
        """
        options = options or DenseSearchOptions()
        if options.layers is not None:
            queries = self.map_early_exit(queries, options.layers)
        counts = counts if counts is not None else {}
        if allowed is not None:
            rows = self.rowmap.rows(allowed)
            counts["allowed"] = len(rows)
            if len(rows) == 0:
                return [[] for _ in range(len(queries))]
            if options.funnel is None and options.dimensions is None and (
                    len(rows) <= self.filter_exact_rows or self._on_gpu):
                counts["exact"] = len(queries)
                s, p = filtered.exact(self.vectors(), rows, queries, self._fetch(k))
                return [self._row(si, pi, k) for si, pi in zip(s, p, strict=True)]
        if options.funnel is not None:
            return self._funnel(queries, k, options.funnel, counts, self._selector(allowed))
        if options.dimensions is not None:
            return self._prefix(queries, k, options.dimensions, allowed, counts)
        return self._full(queries, k, options.ef_search, allowed, counts)

    def query_layers(self, requested: int | None, num_layers: int) -> int | None:
        """The depth to encode a query at (``requested``, else the index's default), or None for full depth, for an
        encoder of ``num_layers`` layers.

        Raises:
            InvalidInput: more layers than the encoder has, or an early exit the index has no map for.
        """
        layers = requested if requested is not None else (self.early_exit.default if self.early_exit else None)
        if layers is None or layers == num_layers:
            return None
        if layers > num_layers:
            raise InvalidInput(f"layers {layers}: the encoder of dense index {self.folder.name!r} has {num_layers}")
        served = self.early_exit.depths if self.early_exit else []
        if layers not in served:
            raise InvalidInput(f"dense index {self.folder.name!r} has early-exit maps for layers {served}, not "
                               f"{layers}; fit them with `sieve index early-exit`")
        return layers

    def map_early_exit(self, queries: NDArray[np.float32], layers: int) -> NDArray[np.float32]:
        """Query vectors from the encoder's first ``layers`` layers, mapped into the index's space.

        Raises:
            InvalidInput: the index has no map for that depth.
        """
        if self.early_exit is None:
            raise InvalidInput(f"dense index {self.folder.name!r} has no early-exit maps; fit them with "
                               "`sieve index early-exit`")
        return self.early_exit.apply(queries, layers)

    def _selector(self, allowed: AllowedDocs | None) -> faiss.IDSelector | None:
        return None if allowed is None else filtered.selector(allowed, self.rowmap, len(self.docids))

    def _full(self, queries: NDArray[np.float32], k: int, ef_search: int | None,
              allowed: AllowedDocs | None = None, counts: dict[str, int] | None = None) -> Rows:
        import faiss

        params = self._params
        fetch = self._fetch(k)
        if ef_search is not None and isinstance(params, faiss.SearchParametersHNSW):  # type: ignore[attr-defined]
            params = _hnsw_params(max(ef_search, fetch))
        approximate = params is not None
        if allowed is not None:
            sel = filtered.selector(allowed, self.rowmap, len(self.docids))
            params = filtered.with_selector(params, sel, fetch)  # efSearch: the request's, else the built one
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores, positions = self._index.search(queries, fetch, params=params)
        if allowed is not None and approximate:
            rows = self.rowmap.rows(allowed)
            short = filtered.short_rows(positions, min(fetch, len(rows)))
            if short:  # HNSW / IVF came back short under the filter: score those queries exactly
                scores[short], positions[short] = filtered.exact(self.vectors(), rows, queries[short], fetch)
                if counts is not None:
                    counts["exact"] = len(short)
        return [self._row(s, p, k) for s, p in zip(scores, positions, strict=True)]

    def _fetch(self, k: int) -> int:
        """Vectors to fetch for ``k`` documents: ``k``, or ``overfetch`` passages per document on a passage index."""
        return min(k * self.chunking.overfetch if self.chunking else k, len(self.docids))

    def _row(self, scores: NDArray[np.float32], positions: NDArray[np.int64], k: int) -> list[DenseRow]:
        """FAISS positions -> documents; on a passage index, passages folded into their documents (best span kept)."""
        if self.chunking is None or self._spans is None:
            return [DenseRow(self.docids[p], float(s)) for s, p in zip(scores, positions, strict=True) if p >= 0][:k]
        return [DenseRow(d, s, span) for d, s, span in
                aggregate(self.docids, self._spans, scores, positions, k, self.chunking.aggregate)]

    @property
    def supported_dims(self) -> list[int]:
        """Dimensions a query may ask for: the full one, plus Matryoshka prefixes when built."""
        return self.matryoshka.supported_dims if self.matryoshka else [self.dim]

    def _view(self, what: str) -> MatryoshkaView:
        if self.matryoshka is None:
            raise InvalidInput(f"dense index {self.folder.name!r} serves only {self.dim} dims and has no {what}; "
                               "add them with `sieve index matryoshka`")
        return self.matryoshka

    def _prefix(self, queries: NDArray[np.float32], k: int, dims: int, allowed: AllowedDocs | None = None,
                counts: dict[str, int] | None = None) -> Rows:
        """Search at a Matryoshka prefix dimension (truncate, renormalise); the full dimension is the plain index."""
        if dims == self.dim and (self.matryoshka is None or self.matryoshka.transform.preserves_full_scores):
            return self._full(queries, k, None, allowed, counts)
        view = self._view(f"{dims}-dim prefixes")
        scores, positions = view.search(queries, self._fetch(k), dims, self._selector(allowed))
        return [self._row(s, p, k) for s, p in zip(scores, positions, strict=True)]

    def _funnel(self, queries: NDArray[np.float32], k: int, funnel: FunnelOptions,
                counts: dict[str, int] | None, sel: faiss.IDSelector | None = None) -> Rows:
        """Shortlist at low dimension, rescore at full; the built funnel (the manifest's) fills unset fields."""
        view = self._view("funnel")
        rows, rescored = view.funnel(queries, self._fetch(k), funnel.over(view.funnel_default), sel)
        if counts is not None:
            counts["rescored"] = rescored
        return [self._row(s, p, k) for s, p in rows]

    def vectors(self) -> NDArray[np.float32]:
        """The full-dimension document vectors, memory-mapped from disk (mapped once)."""
        if self._vectors is None:
            self._vectors = np.load(self.folder / VECTORS_FILE, mmap_mode="r")
        return self._vectors
