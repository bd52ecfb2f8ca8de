"""The reranker contract: a query and candidates in, the same candidates rescored and reordered out."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from indexers.types import Hit


class Reranker(ABC):
    """Every reranking backend implements ``rerank``; async callers use ``arerank``."""

    name: str = "reranker"

    @abstractmethod
    def rerank(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None) -> list[Hit]:
        """Score ``hits`` against ``query``; return them best first, each with its new score recorded."""

    async def arerank(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None) -> list[Hit]:
        """Default: run ``rerank`` in a worker thread so the event loop never blocks."""
        return await asyncio.to_thread(self.rerank, query, hits, top_k=top_k)
