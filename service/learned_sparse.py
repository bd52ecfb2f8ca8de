"""The learned sparse (SPLADE) retriever: the query is encoded off the event loop (batched across requests, its
vector cached by text), pruned, and searched in the index's backend with this request's query options."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from indexers.filters import AllowedDocs
from indexers.learned_sparse_backends import LearnedSparseIndex, encoder_spec, search_options
from indexers.segments.delta import Snapshot
from indexers.segments.scoring import fetch, merge, sparse_hits
from indexers.sparse_encoders import SparseEncoder, SparseEncoderSpec, SparseVectors, build_sparse_encoder
from kernel.errors import IndexUnavailable
from kernel.types import Hit
from service.batching import MicroBatcher
from service.cache import Cache, cache_key
from service.config import BatchingSettings
from service.metrics import Metrics
from service.once import Once
from service.retrieval import Trace, run_blocking
from service.specs import PipelineSpec

EXPLAIN_TERMS = 32  # heaviest expansion terms returned with ``explain``


def pack_row(vectors: SparseVectors) -> bytes:
    """One row's term ids and weights as bytes (the vector cache holds bytes)."""
    ids, weights = vectors.row(0)
    return ids.astype(np.int32).tobytes() + weights.astype(np.float32).tobytes()


def unpack_row(blob: bytes, dim: int) -> SparseVectors:
    n = len(blob) // 8
    ids = np.frombuffer(blob[: 4 * n], dtype=np.int32)
    weights = np.frombuffer(blob[4 * n :], dtype=np.float32)
    return SparseVectors(np.array([0, n], dtype=np.int64), ids, weights, dim)


class AsyncSparseEncoder:
    """A loaded SPLADE query encoder for the service: ``encode_query`` runs on the executor (through a
    ``MicroBatcher`` when batching is on) and caches each query's vector by text."""

    def __init__(self, encoder: SparseEncoder, spec: SparseEncoderSpec, executor: Executor, *,
                 batching: BatchingSettings, cache: Cache | None, metrics: Metrics) -> None:
        self.encoder = encoder
        self._executor = executor
        self._cache = cache
        self._metrics = metrics
        self._key = [spec.model_dump(mode="json"), encoder.query_model_id, encoder.revision]
        self._batcher: MicroBatcher[str, SparseVectors] | None = None
        if batching.enabled:
            self._batcher = MicroBatcher(f"splade:{encoder.query_model_id}:queries", self._rows, executor,
                                         max_batch=batching.max_batch, max_wait_ms=batching.max_wait_ms,
                                         max_queue=batching.max_queue, metrics=metrics,
                                         concurrency=batching.concurrency)

    def _rows(self, texts: Sequence[str]) -> list[SparseVectors]:
        encoded = self.encoder.encode_queries(list(texts))
        return [encoded.take([i]) for i in range(len(texts))]

    async def encode_query(self, text: str) -> SparseVectors:
        """The query's term weights (one row), from the cache when present."""
        key = cache_key("svec", *self._key, text)
        if self._cache is not None and (blob := await self._cache.get(key)) is not None:
            self._metrics.cache.labels("vector", "hit").inc()
            return unpack_row(blob, self.encoder.dim)
        if self._batcher is not None:
            row = await self._batcher.submit(text)
        else:
            row = (await run_blocking(self._executor, lambda: self._rows([text])))[0]
        if self._cache is not None:
            self._metrics.cache.labels("vector", "miss").inc()
            await self._cache.set(key, pack_row(row))
        return row

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()


class SparseEncoders:
    """One SPLADE model per encoder spec, shared by the indexes built with it, by live updates (document side)
    and by the retrievers (query side, wrapped in ``AsyncSparseEncoder``)."""

    def __init__(self, executor: Executor, *, batching: BatchingSettings | None = None, cache: Cache | None = None,
                 metrics: Metrics | None = None) -> None:
        self._executor = executor
        self._batching = batching or BatchingSettings(enabled=False)
        self._cache = cache
        self._metrics = metrics or Metrics()
        self._models: Once[SparseEncoderSpec, SparseEncoder] = Once()
        self._wrapped: Once[SparseEncoderSpec, AsyncSparseEncoder] = Once()

    def get(self, spec: SparseEncoderSpec) -> SparseEncoder:
        """The loaded model (loads it on first use; blocking)."""
        return self._models.get(spec, lambda: build_sparse_encoder(spec))

    def for_index(self, index: LearnedSparseIndex) -> AsyncSparseEncoder:
        """The query encoder of the model ``index`` was built with (its vocabulary size checked)."""
        spec = encoder_spec(index.manifest)
        encoder = self.get(spec)
        if encoder.dim != index.manifest.dims:
            raise IndexUnavailable(f"learned sparse index {index.folder} has {index.manifest.dims} dimensions but "
                                   f"{spec.model} now loads {encoder.dim}; rebuild the index")
        return self._wrapped.get(spec, lambda: AsyncSparseEncoder(
            encoder, spec, self._executor, batching=self._batching, cache=self._cache, metrics=self._metrics))

    async def close(self) -> None:
        for wrapped in self._wrapped.values():
            await wrapped.close()


def expansion(query: SparseVectors, vocab: Sequence[str], top: int = EXPLAIN_TERMS) -> dict[str, float]:
    """The query's ``top`` heaviest terms -> weight, heaviest first."""
    ids, weights = query.row(0)
    best = np.argsort(-weights, kind="stable")[:top]
    return {vocab[int(ids[i])]: round(float(weights[i]), 4) for i in best}


async def encode_query(encoder: AsyncSparseEncoder, query: str, spec: PipelineSpec, trace: Trace,
                       stage: str) -> SparseVectors | None:
    """The query's vector without terms of at most ``spec.splade_min_weight`` (``explain``: its expansion); None,
    with a warning, when no term is left."""
    start = time.perf_counter()
    vector = (await encoder.encode_query(query)).prune(threshold=spec.splade_min_weight)
    trace.since(f"{stage}.encode", start)
    trace.counts[f"{stage}.query_terms"] = vector.nnz
    if spec.explain:
        trace.explain[stage] = expansion(vector, encoder.encoder.vocab)
    if vector.nnz == 0:
        trace.warnings.append(f"{stage}: the query's encoding has no term above weight {spec.splade_min_weight:g}; "
                              "it matches nothing")
        return None
    return vector


class SpladeRetriever:
    """Encode the query with the index's own model, drop terms of at most ``spec.splade_min_weight``, search the
    index with ``spec.splade``'s options (validated against its backend: a bad one is a 422 naming the valid ones).
    A query left with no term gets no hits and a warning."""

    stage = "splade"

    def __init__(self, index: LearnedSparseIndex, encoder: AsyncSparseEncoder, executor: Executor) -> None:
        self.index = index
        self.encoder = encoder
        self._executor = executor

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        options = search_options(self.index.backend, spec.splade)
        vector = await encode_query(self.encoder, query, spec, trace, self.stage)
        if vector is None:
            return []
        start = time.perf_counter()
        snap, only = trace.snapshot, trace.delta_allowed if allowed is not None else None
        rows = await run_blocking(self._executor, lambda: self._search(vector, k, options, snap, allowed, only))
        trace.since(f"{self.stage}.search", start)
        return [Hit(doc_id, score, stage_scores={self.stage: score}) for doc_id, score in rows]

    def _search(self, vector: SparseVectors, k: int, options: Any, snap: Snapshot | None, allowed: AllowedDocs | None,
                only: frozenset[str] | None) -> list[tuple[str, float]]:
        """The base's hits without tombstones, merged with the delta's exact dot products."""
        rows = self.index.search(vector, fetch(snap, k), options, allowed)[0]
        if snap is None or snap.empty:
            return rows
        delta = sparse_hits(snap, self.index.folder.name, self.index, vector, k, options, only)
        return merge(rows, delta, snap, k, lambda d, s, _: (d, s))
