"""One query through the first stage: retrieve (retrievers in parallel) -> fuse -> fetch texts, with timings."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from indexers.collection import Collection
from indexers.errors import NotFound
from indexers.types import Hit
from rankers.fusion import fuse
from service.encoders import EncoderCache
from service.retrieval import DenseRetriever, Retriever, SparseRetriever, Trace, run_blocking
from service.specs import PipelineSpec


@dataclass(frozen=True)
class PipelineResult:
    hits: list[Hit]
    timings_ms: dict[str, float]
    counts: dict[str, int]
    spec: PipelineSpec


def _pick(available: dict[str, object], name: str | None, kind: str, collection: str) -> str:
    if not available:
        raise NotFound(f"collection {collection!r} has no {kind} index; build one with `sieve index build`")
    if name is None:
        return next(iter(available))
    if name not in available:
        raise NotFound(f"collection {collection!r} has no {kind} index {name!r}; it has {sorted(available)}")
    return name


class Pipeline:
    """Answers queries over one collection. Safe to share across concurrent requests."""

    def __init__(self, collection: Collection, encoders: EncoderCache, executor: Executor) -> None:
        self.collection = collection
        self._encoders = encoders
        self._executor = executor
        self._retrievers: dict[tuple[str, str], Retriever] = {}

    def _sparse(self, name: str | None) -> Retriever:
        name = _pick(self.collection.sparse, name, "sparse", self.collection.name)
        key = ("sparse", name)
        if key not in self._retrievers:
            self._retrievers[key] = SparseRetriever(self.collection.sparse[name], self._executor)
        return self._retrievers[key]

    def _dense(self, name: str | None) -> Retriever:
        name = _pick(self.collection.dense, name, "dense", self.collection.name)
        key = ("dense", name)
        if key not in self._retrievers:
            index = self.collection.dense[name]
            self._retrievers[key] = DenseRetriever(index, self._encoders.for_index(index), self._executor)
        return self._retrievers[key]

    def retrievers(self, spec: PipelineSpec) -> list[Retriever]:
        """The retrievers a spec names, sparse first (fusion weights follow this order)."""
        wanted = {"sparse": ("sparse",), "dense": ("dense",), "hybrid": ("sparse", "dense")}[spec.retriever]
        pick = {"sparse": lambda: self._sparse(spec.sparse_index), "dense": lambda: self._dense(spec.dense_index)}
        return [pick[kind]() for kind in wanted]

    async def retrieve(self, query: str, k: int, spec: PipelineSpec, trace: Trace) -> list[Hit]:
        """First-stage hits without texts: one retriever's top-k, or several fused."""
        retrievers = self.retrievers(spec)
        if len(retrievers) == 1:
            return await retrievers[0].search(query, k, spec, trace)
        depth = max(spec.depth, k)
        runs = await asyncio.gather(*(r.search(query, depth, spec, trace) for r in retrievers))
        start = time.perf_counter()
        hits = fuse(runs, spec.fusion, top_k=k)
        trace.since("fusion", start)
        return hits

    async def hydrate(self, hits: list[Hit], trace: Trace) -> list[Hit]:
        """Attach titles and texts from the doc store."""
        start = time.perf_counter()
        docs = await run_blocking(self._executor, lambda: self.collection.docs.get_many([h.id for h in hits]))
        trace.since("hydrate", start)
        return [replace(h, title=docs[h.id].title, text=docs[h.id].text) if h.id in docs else h for h in hits]

    async def run(self, query: str, *, k: int, spec: PipelineSpec, include_text: bool = True) -> PipelineResult:
        """The whole route for one query; ``timings_ms`` has one entry per stage plus ``total``, ``counts`` what
        stages counted (``dense.rescored``)."""
        start = time.perf_counter()
        trace = Trace()
        hits = await self.retrieve(query, k, spec, trace)
        if include_text:
            hits = await self.hydrate(hits, trace)
        trace.since("total", start)
        return PipelineResult(hits, trace.timings, trace.counts, spec)
