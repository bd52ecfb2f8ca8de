"""Dynamic micro-batching: concurrent requests' model inputs are grouped into one model call (up to ``max_batch``
items, lingering at most ``max_wait_ms`` for more), run on the executor, and each caller gets its own results.

Under load, items pile up while the previous batch runs, so batches fill by themselves; the linger only applies
when the last batch had company, so a lone request at low traffic never waits for a batch that will not come.
The queue is bounded: past ``max_queue`` waiting items, ``submit`` raises ``Overloaded`` (503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

from service.errors import Overloaded
from service.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Calls ``fn(items) -> results`` (same length, same order) on batches of submitted items.

    One instance serves one event loop; its worker task starts on the first ``submit`` and stops in ``close``.
    Callers that leave (a deadline, a dropped connection) have their items skipped if the batch has not run yet.

    Args:
        name: label for metrics and logs (``encode:<model>:queries``).
        fn: the blocking batched call (e.g. ``encoder.encode_queries``); runs on ``executor``.
        max_batch: most items per call. max_wait_ms: longest linger for more items under load.
        max_queue: most items waiting; beyond it ``submit`` raises ``Overloaded``.
        concurrency: batches in flight at once (one keeps a GPU busy; on a CPU a second overlaps the first's
            serial parts).
    """

    def __init__(self, name: str, fn: Callable[[list[T]], Sequence[R]], executor: Executor, *, max_batch: int,
                 max_wait_ms: float, max_queue: int, metrics: Metrics, concurrency: int = 1) -> None:
        self.name = name
        self._fn = fn
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait_s = max_wait_ms / 1000
        self._max_queue = max_queue
        self._metrics = metrics
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []
        self._last_batch = 1

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, item: T) -> R:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Queue ``items`` (possibly split over several batches) and wait for their results, in order.

        Raises:
            Overloaded: the queue already holds ``max_queue`` items.
        """
        if self._queue.qsize() + len(items) > self._max_queue:
            self._metrics.rejected.labels("overloaded").inc()
            raise Overloaded(f"{self.name}: {self._queue.qsize()} items already queued (limit {self._max_queue}); "
                             "retry shortly")
        loop = asyncio.get_running_loop()
        if not self._tasks or any(task.done() for task in self._tasks):
            self._tasks = [t for t in self._tasks if not t.done()]
            self._tasks += [loop.create_task(self._work(), name=f"batcher:{self.name}:{i}")
                            for i in range(self._concurrency - len(self._tasks))]
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._queue.put_nowait((item, future))
            futures.append(future)
        self._metrics.queue_depth.labels(self.name).set(self._queue.qsize())
        try:
            return list(await asyncio.gather(*futures))
        except BaseException:
            for future in futures:  # the caller left: the worker skips whatever has not run yet
                future.cancel()
            raise

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            future.cancel()

    async def _work(self) -> None:
        while True:
            batch = await self._collect()
            live = [(item, future) for item, future in batch if not future.done()]
            self._metrics.queue_depth.labels(self.name).set(self._queue.qsize())
            if live:
                try:
                    await self._call(live)
                except Exception:  # never let one bad batch stop the worker; its callers already got the error
                    log.exception("batcher %s: batch of %d failed", self.name, len(live))

    async def _collect(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch = [await self._queue.get()]
        self._drain(batch)
        if self._max_wait_s > 0 and len(batch) < self._max_batch and (len(batch) > 1 or self._last_batch > 1):
            loop = asyncio.get_running_loop()
            until = loop.time() + self._max_wait_s
            while len(batch) < self._max_batch and (left := until - loop.time()) > 0:
                try:
                    async with asyncio.timeout(left):
                        batch.append(await self._queue.get())
                except TimeoutError:
                    break
                self._drain(batch)
        self._last_batch = len(batch)
        return batch

    def _drain(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _call(self, live: list[tuple[T, asyncio.Future[R]]]) -> None:
        start = time.perf_counter()
        items = [item for item, _ in live]
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._fn, items)
            if len(results) != len(items):
                raise RuntimeError(f"{self.name}: {len(items)} items in, {len(results)} results out")
        except Exception as exc:
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            raise
        finally:
            self._metrics.batch_size.labels(self.name).observe(len(items))
            self._metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - start)
        for (_, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)
