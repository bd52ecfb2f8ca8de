"""What the framework adapters share: a hit's metadata, rerank bookkeeping, an async client for sync-built adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sieve_client.async_client import AsyncSieveClient
from sieve_client.client import SieveClient
from sieve_client.errors import SieveResponseError
from sieve_client.models import Hit, RerankResponse, SearchResponse


def hit_metadata(hit: Hit, rank: int, result: SearchResponse) -> dict[str, Any]:
    """Metadata every adapter attaches to a hit: the document's own metadata keys, then id, title, score, per-stage
    scores, rank, where it came from, and on passage indexes ``passage: {start, end}`` (the best passage's character
    offsets in the text, for citing)."""
    meta = {
        **(hit.metadata or {}),  # the document's own metadata; the keys below win a clash
        "id": hit.id,
        "title": hit.title,
        "score": hit.score,
        "stage_scores": dict(hit.stage_scores),
        "rank": rank,
        "collection": result.collection,
        "retriever": result.retriever,
    }
    if hit.passage is not None:
        meta["passage"] = {"start": hit.passage.start, "end": hit.passage.end}
    return meta


def reranked_order(response: RerankResponse, n_documents: int) -> list[tuple[int, float]]:
    """``(index, relevance_score)`` best first, refusing indexes that point outside the documents sent."""
    out = []
    for r in response.results:
        if not 0 <= r.index < n_documents:
            raise SieveResponseError(f"/v2/rerank returned index {r.index} for {n_documents} documents")
        out.append((r.index, r.relevance_score))
    return out


def top_n_for(top_n: int | None, n_documents: int) -> int | None:
    """The ``top_n`` to send: never more than the documents there are."""
    return None if top_n is None else min(top_n, n_documents)


@asynccontextmanager
async def async_client_for(
    client: SieveClient, async_client: AsyncSieveClient | None
) -> AsyncIterator[AsyncSieveClient]:
    """The adapter's own async client, or a short-lived one with ``client``'s settings (for the current loop)."""
    if async_client is not None:
        yield async_client
        return
    async with AsyncSieveClient.from_config(client.config) as fresh:
        yield fresh
