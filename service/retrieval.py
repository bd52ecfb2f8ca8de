"""First-stage retrievers over one collection's indexes; CPU work goes to the shared executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol, TypeVar

from indexers.dense import DenseIndex
from indexers.encoders import Encoder
from indexers.lucene import LuceneIndex
from indexers.types import Hit
from service.specs import PipelineSpec

T = TypeVar("T")


class Retriever(Protocol):
    """``search`` returns the top-``k`` hits (ids and scores, no text) and adds its stage timings to ``timings``."""

    stage: str

    async def search(self, query: str, k: int, spec: PipelineSpec, timings: dict[str, float]) -> list[Hit]: ...


async def run_blocking(executor: Executor, fn: Callable[[], T]) -> T:
    """Run CPU-bound ``fn`` on ``executor`` so the event loop stays free."""
    return await asyncio.get_running_loop().run_in_executor(executor, fn)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class SparseRetriever:
    """BM25 (optionally with RM3) over a Lucene index."""

    stage = "sparse"

    def __init__(self, index: LuceneIndex, executor: Executor) -> None:
        self.index = index
        self._executor = executor

    async def search(self, query: str, k: int, spec: PipelineSpec, timings: dict[str, float]) -> list[Hit]:
        start = time.perf_counter()
        pairs = await run_blocking(self._executor, lambda: self.index.search(query, k, spec.bm25))
        timings[self.stage] = _ms(start)
        return [Hit(doc_id, score, stage_scores={self.stage: score}) for doc_id, score in pairs]


class DenseRetriever:
    """Encode the query with the index's own encoder, then search FAISS."""

    stage = "dense"

    def __init__(self, index: DenseIndex, encoder: Encoder, executor: Executor) -> None:
        self.index = index
        self.encoder = encoder
        self._executor = executor

    async def search(self, query: str, k: int, spec: PipelineSpec, timings: dict[str, float]) -> list[Hit]:
        start = time.perf_counter()
        vector = await run_blocking(self._executor, lambda: self.encoder.encode_queries([query]))
        timings["dense.encode"] = _ms(start)
        start = time.perf_counter()
        rows = await run_blocking(self._executor, lambda: self.index.search(vector, k, ef_search=spec.ef_search))
        timings["dense.search"] = _ms(start)
        return [Hit(doc_id, score, stage_scores={self.stage: score}) for doc_id, score in rows[0]]
