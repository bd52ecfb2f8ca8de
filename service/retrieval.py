"""First-stage retrievers over one collection's indexes; CPU work goes to the shared executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from indexers.dense import DenseIndex, query_encoders, serving
from indexers.dense.index import DenseRow, Rows
from indexers.dense.options import DenseSearchOptions
from indexers.dense.query_map import QueryMap
from indexers.encoders import EncoderSpec
from indexers.filters import AllowedDocs
from indexers.segments.delta import Snapshot
from indexers.segments.scoring import bm25_hits, dense_hits, fetch, merge
from indexers.sparse import SparseIndex
from kernel.errors import InvalidInput
from kernel.types import Hit
from service.encoders import AsyncEncoder, AsyncEncoders
from service.specs import PipelineSpec

T = TypeVar("T")


@dataclass
class Trace:
    """What one request's stages did: wall time per stage (ms) and counts (e.g. candidates rescored)."""

    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    degraded: dict[str, str] = field(default_factory=dict)  # stage -> why it was skipped or cut short
    warnings: list[str] = field(default_factory=list)  # what a stage wants the caller to know (truncated passages)
    explain: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> query term weights (explain)
    marks: list[tuple[str, float, float]] = field(default_factory=list)  # (stage, start, end) for tracing
    snapshot: Snapshot | None = None  # the collection version (base + delta) this request reads, taken once
    delta_allowed: frozenset[str] | None = None  # the filter's documents among the snapshot's delta docs

    def since(self, stage: str, start: float) -> None:
        end = time.perf_counter()
        self.timings[stage] = round((end - start) * 1000, 3)
        self.marks.append((stage, start, end))

    def degrade(self, stage: str, reason: str) -> None:
        self.degraded[stage] = reason


class Retriever(Protocol):
    """``search`` returns the top-``k`` hits (ids and scores, no text) and records its stages in ``trace``; with
    ``allowed`` (the request's filter, evaluated once), only those documents, searched inside the index."""

    stage: str

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]: ...


async def run_blocking(executor: Executor, fn: Callable[[], T]) -> T:
    """Run CPU-bound ``fn`` on ``executor`` so the event loop stays free."""
    return await asyncio.get_running_loop().run_in_executor(executor, fn)


class SparseRetriever:
    """BM25 over a sparse index, Lucene (optionally with RM3) or native."""

    stage = "sparse"

    def __init__(self, index: SparseIndex, executor: Executor) -> None:
        self.index = index
        self._executor = executor

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        start = time.perf_counter()
        snap, only = trace.snapshot, trace.delta_allowed
        pairs = await run_blocking(self._executor, lambda: self._search(query, k, spec, snap, allowed, only))
        trace.since(self.stage, start)
        return [Hit(doc_id, score, stage_scores={self.stage: score}) for doc_id, score in pairs]

    def _search(self, query: str, k: int, spec: PipelineSpec, snap: Snapshot | None, allowed: AllowedDocs | None,
                only: frozenset[str] | None) -> list[tuple[str, float]]:
        """The base's hits without tombstones, merged with the delta's (scored with the base's statistics)."""
        if snap is None or snap.empty:
            return self.index.search(query, k, spec.bm25, allowed)
        base = self.index.search(query, fetch(snap, k), spec.bm25, allowed)
        delta = bm25_hits(snap, self.index, query, k, spec.bm25, only if allowed is not None else None)
        return merge(base, delta, snap, k, lambda d, s, _: (d, s))


class DenseRetriever:
    """Encode the query with the index's own encoder (or the request's query encoder, else the index's default one:
    an upgrade's model B, mapped into the index's space), then search the dense index with the spec's dense options
    (full dimension, a Matryoshka prefix, or the shortlist-then-rescore funnel: the index decides)."""

    stage = "dense"

    def __init__(self, index: DenseIndex, encoder: AsyncEncoder, executor: Executor, *,
                 alternatives: AsyncEncoders | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self._executor = executor
        self._alternatives = alternatives  # where registered query encoders load (``query_encoder``)
        # query encoder name -> (its encoder spec, its map into the index), read from disk once per index version: a
        # swap that replaces the folder (a model upgrade's end) must not fail the old version's requests in flight
        self._resolved: dict[str, tuple[EncoderSpec, QueryMap | None]] = {}
        self.default_query_encoder = serving.default_query_encoder(index.manifest)

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        start = time.perf_counter()
        encoder, layers, qmap = self.encoder, None, None
        name = spec.query_encoder or (self.default_query_encoder if spec.layers is None else None)
        if name is not None:
            encoder, qmap = await self._query_encoder(name, spec)
            trace.counts[f"{self.stage}.query_encoder.{name}"] = 1  # the caller sees which one served
        else:
            layers = self._layers(spec)
        vector = await encoder.encode_queries([query], layers)  # batched with other requests' queries, cached
        if qmap is not None:
            vector = qmap.apply(vector)
        trace.since("dense.encode", start)
        start = time.perf_counter()
        options = spec.dense.model_copy(update={"layers": layers})
        rows = await run_blocking(self._executor, lambda: self._search(vector, k, options, trace, allowed))
        trace.since("dense.search", start)
        return [Hit(row[0], row[1], stage_scores={self.stage: row[1]}, passage=row.passage) for row in rows[0]]

    async def _query_encoder(self, name: str, spec: PipelineSpec) -> tuple[AsyncEncoder, QueryMap | None]:
        """The registered query encoder ``name``, checked against this index version, and its map into the index's
        space when it is a mapped one (both read once per retriever)."""
        if spec.layers is not None:
            raise InvalidInput("layers (early exit) applies to the index's own encoder, not to a query encoder")
        if self._alternatives is None:
            raise InvalidInput("this retriever serves no alternative query encoders")
        index, alternatives = self.index, self._alternatives
        collection = index.folder.parent.parent  # <collection>/indexes/<index>
        if name not in self._resolved:
            self._resolved[name] = await run_blocking(self._executor, lambda: (query_encoders.resolve(
                collection, index.folder.name, index.manifest.version, name, index.manifest.build.get("encoder")),
                query_encoders.query_map(collection, name)))
        encoder_spec, qmap = self._resolved[name]
        encoder = await run_blocking(self._executor, lambda: alternatives.get(encoder_spec))
        dims = qmap.dims if qmap is not None else (encoder.dim, encoder.dim)
        if encoder.dim != dims[0] or dims[1] != index.dim:
            raise InvalidInput(f"query encoder {name!r} gives {dims[1]}-dim vectors; the index holds {index.dim}")
        return encoder, qmap

    def _layers(self, spec: PipelineSpec) -> int | None:
        """The early-exit depth for this query (the request's, else the index's default), None for full depth."""
        if spec.layers is None and self.index.early_exit is None:
            return None
        num_layers = self.encoder.num_layers
        if num_layers is None:
            raise InvalidInput(f"early exit (layers) needs a torch encoder; dense index {self.index.folder.name!r} "
                               f"is served by {self.encoder.encoder.backend}")
        return self.index.query_layers(spec.layers, num_layers)

    def _search(self, vector: NDArray[np.float32], k: int, options: DenseSearchOptions, trace: Trace,
                allowed: AllowedDocs | None) -> Rows:
        counts: dict[str, int] = {}
        snap = trace.snapshot
        rows = self.index.search(vector, fetch(snap, k), options, counts=counts, allowed=allowed)
        trace.counts.update({f"{self.stage}.{name}": n for name, n in counts.items()})
        if snap is None or snap.empty:
            return rows
        only = trace.delta_allowed if allowed is not None else None
        query = vector if options.layers is None else self.index.map_early_exit(vector, options.layers)
        delta = dense_hits(snap, self.index.folder.name, self.index, query[0], k, options, only)
        return [merge(rows[0], delta, snap, k, DenseRow)]
