"""``AsyncSieveClient``: the asyncio twin of ``SieveClient``, same calls and results, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Unpack

import httpx

from sieve_client._core import (
    DEFAULT_URL,
    ClientConfig,
    M,
    RetryPolicy,
    SearchOptions,
    decode,
    embed_body,
    rerank_body,
    retry_wait,
    search_body,
    transport_error,
)
from sieve_client.models import (
    CollectionInfo,
    CollectionsResponse,
    EmbeddingResponse,
    Health,
    RerankResponse,
    SearchResponse,
)


class AsyncSieveClient:
    """Talks to one Sieve server from asyncio code; arguments, results and errors as in ``SieveClient``.

    Use it from one event loop (httpx's connection pool belongs to the loop that first used it); ``async with``
    closes the pool.

    Example:
        >>> async with AsyncSieveClient("http://127.0.0.1:8000", api_key="...") as sieve:
        ...     result = await sieve.search("scifact", "vitamin D and cancer", k=3)
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = ClientConfig(base_url=base_url, api_key=api_key, timeout=timeout,
                              retry=retry or RetryPolicy(max_retries=max_retries), headers=headers or {})
        self._init(config, transport)

    @classmethod
    def from_config(cls, config: ClientConfig, transport: httpx.AsyncBaseTransport | None = None) -> AsyncSieveClient:
        """A client with the settings of ``config`` (e.g. ``SieveClient.config``, to make an async twin)."""
        client = cls.__new__(cls)
        client._init(config, transport)
        return client

    def _init(self, config: ClientConfig, transport: httpx.AsyncBaseTransport | None) -> None:
        self.config = config
        self._http = httpx.AsyncClient(base_url=config.base_url, timeout=config.timeout,
                                       headers=config.all_headers(), transport=transport)

    def __repr__(self) -> str:
        return f"AsyncSieveClient({self.config.base_url!r})"

    async def __aenter__(self) -> AsyncSieveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, model: type[M], body: dict[str, Any] | None = None) -> M:
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                wait = retry_wait(self.config.retry, attempt, None, exc)
                if wait is None:
                    raise transport_error(exc, method, f"{self.config.base_url}{path}") from exc
            else:
                wait = retry_wait(self.config.retry, attempt, response, None)
                if wait is None:
                    return decode(response, model, attempt + 1)
            await asyncio.sleep(wait)
            attempt += 1

    async def search(
        self, collection: str, query: str, k: int = 10, retriever: str | None = None, **options: Unpack[SearchOptions]
    ) -> SearchResponse:
        """``POST /v1/search``; see ``SieveClient.search``."""
        body = search_body(collection, query, k, retriever, options)
        return await self._call("POST", "/v1/search", SearchResponse, body)

    async def collections(self) -> list[CollectionInfo]:
        """``GET /v1/collections``: every loaded collection with its indexes."""
        return (await self._call("GET", "/v1/collections", CollectionsResponse)).collections

    async def health(self) -> Health:
        """``GET /healthz``."""
        return await self._call("GET", "/healthz", Health)

    async def embed(
        self,
        input: str | Sequence[str],
        model: str,
        *,
        dimensions: int | None = None,
        encoding_format: str = "float",
        user: str | None = None,
    ) -> EmbeddingResponse:
        """``POST /v1/embeddings`` (OpenAI-compatible); see ``SieveClient.embed``."""
        body = embed_body(input, model, dimensions, encoding_format, user)
        return await self._call("POST", "/v1/embeddings", EmbeddingResponse, body)

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None, model: str | None = None
    ) -> RerankResponse:
        """``POST /v2/rerank`` (Cohere v2 shape); see ``SieveClient.rerank``."""
        return await self._call("POST", "/v2/rerank", RerankResponse, rerank_body(query, documents, model, top_n))
