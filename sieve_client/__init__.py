"""Python client for a Sieve server: sync and async, typed results, retries on 429/503, API-key auth.

Needs only httpx and pydantic (never the server's torch, FAISS or FastAPI), so any application can install it.
Framework adapters live in ``sieve_client.integrations`` (LangChain, LlamaIndex) behind optional extras.
"""

from __future__ import annotations

from sieve_client._core import ClientConfig, RetryPolicy, SearchOptions, __version__
from sieve_client.async_client import AsyncSieveClient
from sieve_client.client import SieveClient
from sieve_client.errors import (
    SieveAPIError,
    SieveClientError,
    SieveConnectionError,
    SieveInputError,
    SieveResponseError,
    SieveTimeoutError,
)
from sieve_client.models import (
    CollectionInfo,
    Embedding,
    EmbeddingResponse,
    Health,
    Hit,
    IndexInfo,
    RerankResponse,
    RerankResult,
    SearchResponse,
)

__all__ = [
    "AsyncSieveClient",
    "ClientConfig",
    "CollectionInfo",
    "Embedding",
    "EmbeddingResponse",
    "Health",
    "Hit",
    "IndexInfo",
    "RerankResponse",
    "RerankResult",
    "RetryPolicy",
    "SearchOptions",
    "SearchResponse",
    "SieveAPIError",
    "SieveClient",
    "SieveClientError",
    "SieveConnectionError",
    "SieveInputError",
    "SieveResponseError",
    "SieveTimeoutError",
    "__version__",
]
