"""Where a reranker's blocking work runs: a ``Scoring`` is given to the rerankers a host builds (the service gives
its worker pool and micro-batchers), so each reranker owns its steps and the host only decides where they run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
X = TypeVar("X")
R = TypeVar("R")

Batched = Callable[[Sequence[X]], Awaitable[list[R]]]


class Scoring(Protocol):
    """How blocking steps run off the event loop, and how a model's batched call is shared."""

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a worker thread."""
        ...

    def batched(self, name: str, fn: Callable[[list[X]], Sequence[R]]) -> Batched[X, R]:
        """An async face of the blocking batched call ``fn(items) -> results`` (same length, same order); a host
        may merge the items of concurrent callers into one call. ``name`` labels it (metrics, logs)."""
        ...


class ThreadScoring:
    """The default: asyncio's thread pool, one ``fn`` call per caller."""

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    def batched(self, name: str, fn: Callable[[list[X]], Sequence[R]]) -> Batched[X, R]:
        async def call(items: Sequence[X]) -> list[R]:
            return list(await asyncio.to_thread(fn, list(items)))

        return call
