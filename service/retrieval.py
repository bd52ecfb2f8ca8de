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

from indexers.dense import DenseIndex
from indexers.dense.index import DenseRow, Rows
from indexers.filters import AllowedDocs
from indexers.segments.delta import Snapshot
from indexers.segments.scoring import bm25_hits, dense_hits, fetch, merge
from indexers.sparse import SparseIndex
from kernel.types import Hit
from service.encoders import AsyncEncoder
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
    """Encode the query with the index's own encoder, then search the dense index with the spec's dense options
    (full dimension, a Matryoshka prefix, or the shortlist-then-rescore funnel: the index decides)."""

    stage = "dense"

    def __init__(self, index: DenseIndex, encoder: AsyncEncoder, executor: Executor) -> None:
        self.index = index
        self.encoder = encoder
        self._executor = executor

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        start = time.perf_counter()
        vector = await self.encoder.encode_queries([query])  # batched with other requests' queries, cached
        trace.since("dense.encode", start)
        start = time.perf_counter()
        rows = await run_blocking(self._executor, lambda: self._search(vector, k, spec, trace, allowed))
        trace.since("dense.search", start)
        return [Hit(row[0], row[1], stage_scores={self.stage: row[1]}, passage=row.passage) for row in rows[0]]

    def _search(self, vector: NDArray[np.float32], k: int, spec: PipelineSpec, trace: Trace,
                allowed: AllowedDocs | None) -> Rows:
        counts: dict[str, int] = {}
        snap = trace.snapshot
        rows = self.index.search(vector, fetch(snap, k), spec.dense, counts=counts, allowed=allowed)
        trace.counts.update({f"{self.stage}.{name}": n for name, n in counts.items()})
        if snap is None or snap.empty:
            return rows
        only = trace.delta_allowed if allowed is not None else None
        delta = dense_hits(snap, self.index.folder.name, self.index, vector[0], k, spec.dense, only)
        return [merge(rows[0], delta, snap, k, DenseRow)]
