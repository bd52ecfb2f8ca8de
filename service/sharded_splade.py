"""Learned sparse (SPLADE) retrieval on a sharded collection: the router encodes the query once (the index's own
model, pruned and checked as ``SpladeRetriever`` does), every shard actor searches its learned sparse index with the
vector (``ShardServer.splade``) and the shards' top-k are merged. Scores are dot products of per-document vectors, so
the merged list is exactly one index's: no collection-wide statistics are involved.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from indexers.filters import AllowedDocs
from indexers.learned_sparse_backends import search_options
from indexers.manifest import IndexManifest
from indexers.sharding.shard import merge
from kernel.types import Hit
from service.learned_sparse import AsyncSparseEncoder, encode_query
from service.retrieval import Trace
from service.specs import PipelineSpec


class Scatter(Protocol):
    """The router's scatter-gather (``service/sharded.py`` ``ShardRouter``)."""

    async def scatter(self, call: Callable[[Any], Any], stage: str, trace: Trace) -> list[Any]: ...


class ShardedSpladeRetriever:
    stage = "splade"

    def __init__(self, router: Scatter, index: str, manifest: IndexManifest, encoder: AsyncSparseEncoder) -> None:
        self.router, self.index, self.encoder = router, index, encoder
        self.backend = str(manifest.build["backend"])

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        options = search_options(self.backend, spec.splade).model_dump(mode="json")  # a bad one: 422, here
        vector = await encode_query(self.encoder, query, spec, trace, self.stage)  # once, here
        if vector is None:
            return []
        start = time.perf_counter()
        runs = await self.router.scatter(lambda a: a.splade.remote(self.index, vector, k, options), self.stage, trace)
        trace.since(f"{self.stage}.search", start)
        return [Hit(d, s, stage_scores={self.stage: s}) for d, s, _ in merge(runs, k)]
