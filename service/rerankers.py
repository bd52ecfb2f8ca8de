"""The rerankers this server serves, by name, and where their work runs: cross-encoder pairs from concurrent
requests are micro-batched into shared model calls (``service/batching.py``), wired in as the rerankers'
``Scoring``; LLM rerankers run on worker threads and stop at their next model call once the request is gone.

Served names: each of ``settings.rerank.models`` (a cross-encoder path or HF id, on ``settings.rerank.backend``)
and each key of ``settings.rerank.rankers`` (any ``RerankerSpec``: listwise or pairwise LLMs, ONNX cross-encoders).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from kernel.errors import NotFound
from rankers.base import Reranker
from rankers.registry import RerankerPool
from rankers.scoring import Batched
from rankers.specs import AnySpec, CrossEncoderSpec, RerankCall
from service.batching import MicroBatcher
from service.config import BatchingSettings, RerankSettings
from service.metrics import Metrics
from service.retrieval import run_blocking

T = TypeVar("T")
X = TypeVar("X")
R = TypeVar("R")



class ServedScoring:
    """The ``rankers.scoring.Scoring`` the served rerankers are given: blocking steps on the registry's worker pool,
    and each cross-encoder's pairs through a ``MicroBatcher`` shared by concurrent requests (or straight to the
    pool when batching is off).

    Args:
        batching: micro-batching limits. min_batch, min_queue: floors under ``max_batch`` and ``max_queue`` (a
            model's own batch size, the most documents one request may send).
    """

    def __init__(self, executor: Executor, batching: BatchingSettings, metrics: Metrics, *, min_batch: int = 1,
                 min_queue: int = 1) -> None:
        self._executor = executor
        self._batching = batching
        self._metrics = metrics
        self._min_batch = min_batch
        self._min_queue = min_queue
        self._batchers: list[MicroBatcher[Any, Any]] = []

    async def run(self, fn: Callable[[], T]) -> T:
        return await run_blocking(self._executor, fn)

    def batched(self, name: str, fn: Callable[[list[X]], Sequence[R]]) -> Batched[X, R]:
        b = self._batching
        if not b.enabled:
            async def direct(items: Sequence[X]) -> list[R]:
                return list(await run_blocking(self._executor, lambda: fn(list(items))))

            return direct
        batcher: MicroBatcher[X, R] = MicroBatcher(
            name, fn, self._executor, max_batch=max(b.max_batch, self._min_batch), max_wait_ms=b.max_wait_ms,
            max_queue=max(b.max_queue, self._min_queue), metrics=self._metrics, concurrency=b.concurrency)
        self._batchers.append(batcher)
        return batcher.submit_many

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self._batchers))
        self._batchers.clear()


class ServedRerankers:
    """Served names -> specs -> live rerankers, held by this server's ``RerankerPool`` (one reranker per served
    model, whatever options requests send; closed with the registry).

    Args:
        settings: what is served and its limits. batching: micro-batching limits (``enabled=False``: one model call
            per request). executor: where blocking work runs.
    """

    def __init__(self, settings: RerankSettings, executor: Executor, *, batching: BatchingSettings | None = None,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self._scoring = ServedScoring(executor, batching or BatchingSettings(enabled=False), metrics or Metrics(),
                                      min_batch=settings.batch_size, min_queue=settings.max_documents)
        self.pool = RerankerPool(self._scoring)

    @property
    def names(self) -> list[str]:
        return [*self.settings.models, *self.settings.rankers]

    def spec(self, name: str | None = None, *, truncate: bool = True) -> AnySpec:
        """The spec a served name stands for (``None``: the first served one).

        Raises:
            NotFound: the name is not served (names those that are).
        """
        if not self.names:
            raise NotFound("this server serves no rerankers; set SIEVE_RERANK__MODELS or SIEVE_RERANK__RANKERS")
        name = self.names[0] if name is None else name
        if name in self.settings.rankers:
            return self.settings.rankers[name]
        served = {m.lower(): m for m in self.settings.models}
        if name.lower() not in served:
            raise NotFound(f"unknown rerank model {name!r}; this server serves {self.names}")
        return CrossEncoderSpec(model=served[name.lower()], backend=self.settings.backend,
                                quantize=self.settings.quantize, max_length=self.settings.max_length,
                                batch_size=self.settings.batch_size, truncation="truncate" if truncate else "error")

    def for_request(self, model: str | None, *, top_n: int | None = None, blend: float | None = None
                    ) -> tuple[Reranker, RerankCall]:
        """The reranker a request asks for (a served name; default: ``search``, else the first served) and the
        call options it sends (its own ``top_n`` and ``blend`` where given, else the served spec's).

        Raises:
            NotFound: the name is not served, or nothing is.
        """
        spec = self.spec(model) if model is not None or self.settings.search is None else self.settings.search
        return self.get(spec), spec.call().override(top_n=top_n, blend=blend)

    def get(self, spec: AnySpec) -> Reranker:
        """The live reranker for ``spec`` (its call options are per call: ``spec.call()``)."""
        return self.pool.reranker(spec)

    async def close(self) -> None:
        await self._scoring.close()
        self.pool.close()
