"""``SieveClient``: the blocking Python client for a Sieve server (search, collections, health, embed, rerank)."""

from __future__ import annotations

import time
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


class SieveClient:
    """Talks to one Sieve server over HTTP; retries 429/503 with backoff; safe to share between threads.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <key>`` when given.
        timeout: seconds for each of connect, read, write and pool.
        max_retries: retries on 429/503 and refused connections (0 disables them).
        retry: a full ``RetryPolicy`` instead of ``max_retries``.
        transport: an httpx transport, e.g. ``httpx.WSGITransport``/``MockTransport`` (default: real sockets).

    Raises:
        SieveInputError: a malformed ``base_url``, timeout or retry setting.

    Example:
        >>> with SieveClient("http://127.0.0.1:8000") as sieve:
        ...     hits = sieve.search("scifact", "vitamin D and cancer", k=3, retriever="hybrid").hits
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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        config = ClientConfig(base_url=base_url, api_key=api_key, timeout=timeout,
                              retry=retry or RetryPolicy(max_retries=max_retries), headers=headers or {})
        self._init(config, transport)

    @classmethod
    def from_config(cls, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> SieveClient:
        """A client with the settings of ``config`` (e.g. an async client's, to make a sync twin)."""
        client = cls.__new__(cls)
        client._init(config, transport)
        return client

    def _init(self, config: ClientConfig, transport: httpx.BaseTransport | None) -> None:
        self.config = config
        self._http = httpx.Client(base_url=config.base_url, timeout=config.timeout, headers=config.all_headers(),
                                  transport=transport)

    def __repr__(self) -> str:
        return f"SieveClient({self.config.base_url!r})"

    def __enter__(self) -> SieveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, model: type[M], body: dict[str, Any] | None = None) -> M:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                wait = retry_wait(self.config.retry, attempt, None, exc)
                if wait is None:
                    raise transport_error(exc, method, f"{self.config.base_url}{path}") from exc
            else:
                wait = retry_wait(self.config.retry, attempt, response, None)
                if wait is None:
                    return decode(response, model, attempt + 1)
            time.sleep(wait)
            attempt += 1

    def search(
        self, collection: str, query: str, k: int = 10, retriever: str | None = None, **options: Unpack[SearchOptions]
    ) -> SearchResponse:
        """``POST /v1/search``: the top ``k`` hits of ``query`` in ``collection``.

        Args:
            collection: a loaded collection's name (see ``collections()``).
            query: the query text.
            k: how many hits.
            retriever: ``sparse``, ``dense``, ``splade`` or ``hybrid`` (sparse + dense); None takes the server's
                default. ``retrievers=["sparse", "splade", "dense"]`` fuses any of them, fusion weights in that
                order.
            **options: other request fields (``depth``, ``fusion``, ``bm25``, ``dense_index``, ``ef_search``,
                ``include_text``, ``dimensions``, ``funnel``, ``rerank``, ``timeout_ms``, ``filter``, ...); None
                values are not sent. ``filter={"field": "year", "gte": 2020}`` keeps hits to documents whose
                metadata match (``in``, ``gt``/``gte``/``lt``/``lte``, ``exists``, ``and``/``or``/``not``).

        Raises:
            SieveInputError: empty collection or query, bad ``k``, unknown option (before sending).
            SieveAPIError: the server refused the call (404 unknown collection, 422 invalid field, ...).
            SieveTimeoutError, SieveConnectionError: no answer.
        """
        return self._call("POST", "/v1/search", SearchResponse, search_body(collection, query, k, retriever, options))

    def collections(self) -> list[CollectionInfo]:
        """``GET /v1/collections``: every loaded collection with its indexes."""
        return self._call("GET", "/v1/collections", CollectionsResponse).collections

    def health(self) -> Health:
        """``GET /healthz``: liveness, loaded collections, collections that failed to load."""
        return self._call("GET", "/healthz", Health)

    def embed(
        self,
        input: str | Sequence[str],
        model: str,
        *,
        dimensions: int | None = None,
        encoding_format: str = "float",
        user: str | None = None,
    ) -> EmbeddingResponse:
        """``POST /v1/embeddings`` (OpenAI-compatible): vectors for ``input``; ``.vectors()`` gives plain lists.

        Args:
            input: one text or a list of texts.
            model: the model to use; required, as in OpenAI's API (a Sieve server serves the models in its
                ``SIEVE_EMBEDDING_MODELS`` setting).
            dimensions: Matryoshka truncation, when the model supports it.
            encoding_format: ``float`` or ``base64`` (decoded by ``Embedding.vector``).
            user: passed through, as OpenAI's API has it.
        """
        body = embed_body(input, model, dimensions, encoding_format, user)
        return self._call("POST", "/v1/embeddings", EmbeddingResponse, body)

    def rerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None, model: str | None = None
    ) -> RerankResponse:
        """``POST /v2/rerank`` (Cohere v2 shape): ``documents`` ordered by relevance to ``query``, best first.

        Args:
            query: the query text.
            documents: the texts to order; results refer to them by ``index``.
            top_n: keep only the best ``top_n``; None keeps all.
            model: the reranker to use; None lets the server pick its default.
        """
        return self._call("POST", "/v2/rerank", RerankResponse, rerank_body(query, documents, model, top_n))
