"""LangChain adapters: ``SieveRetriever`` (a ``BaseRetriever`` over ``/v1/search``) and ``SieveRerank`` (a
``BaseDocumentCompressor`` over ``/v2/rerank``). Needs ``pip install 'sieve[langchain]'`` (langchain-core)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
        Callbacks,
    )
    from langchain_core.documents import BaseDocumentCompressor, Document
    from langchain_core.retrievers import BaseRetriever
except ModuleNotFoundError as exc:  # the error names the fix instead of a bare module name
    raise ImportError(
        "sieve_client.integrations.langchain needs langchain-core: pip install 'sieve[langchain]'"
    ) from exc
from pydantic import ConfigDict, Field, field_validator

from sieve_client._core import check_search_options
from sieve_client.async_client import AsyncSieveClient
from sieve_client.client import SieveClient
from sieve_client.integrations._common import (
    async_client_for,
    hit_metadata,
    reranked_order,
    top_n_for,
)
from sieve_client.integrations.filters import from_dict
from sieve_client.models import RerankResponse, SearchResponse


def to_documents(result: SearchResponse) -> list[Document]:
    """Hits as LangChain documents: the text as ``page_content``; id, title, score, stage scores in ``metadata``."""
    return [
        Document(id=hit.id, page_content=hit.text or hit.title, metadata=hit_metadata(hit, rank, result))
        for rank, hit in enumerate(result.hits, start=1)
    ]


class SieveRetriever(BaseRetriever):
    """Retrieves documents from one Sieve collection.

    Args:
        client: a ``SieveClient`` (its settings also build the async client when ``async_client`` is None).
        collection: the collection to search.
        k: hits per query.
        retriever: ``sparse``, ``dense`` or ``hybrid``; None takes the server's default.
        search_options: other ``/v1/search`` fields (``depth``, ``fusion``, ``dense_index``, ``dimensions``, ...).
        filter: a metadata filter for every call, LangChain style (``{"year": {"$gte": 2015}, "tag": "a"}``,
            ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not``) or Sieve's grammar; ``invoke(query,
            filter=...)`` sets one per call (it wins over this one).
        async_client: used by ``ainvoke``; without it each async call opens a short-lived client.

    Example:
        >>> retriever = SieveRetriever.from_url("http://127.0.0.1:8000", "scifact", k=4, retriever="hybrid")
        >>> docs = retriever.invoke("vitamin D and cancer", filter={"year": {"$gte": 2015}})
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: SieveClient
    collection: str = Field(min_length=1)
    k: int = Field(10, ge=1)
    retriever: str | None = None
    search_options: dict[str, Any] = Field(default_factory=dict)
    filter: dict[str, Any] | None = None
    async_client: AsyncSieveClient | None = None

    _check_options = field_validator("search_options")(check_search_options)

    @classmethod
    def from_url(cls, url: str, collection: str, *, api_key: str | None = None, timeout: float = 30.0,
                 **fields: Any) -> SieveRetriever:
        """A retriever with its own client for the server at ``url``."""
        return cls(client=SieveClient(url, api_key=api_key, timeout=timeout), collection=collection, **fields)

    def _options(self, call_filter: dict[str, Any] | None) -> dict[str, Any]:
        chosen = call_filter or self.filter or self.search_options.get("filter")
        return {**self.search_options, "filter": from_dict(chosen) if chosen else None}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                filter: dict[str, Any] | None = None) -> list[Document]:
        result = self.client.search(self.collection, query, self.k, self.retriever, **self._options(filter))
        return to_documents(result)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, filter: dict[str, Any] | None = None
    ) -> list[Document]:
        async with async_client_for(self.client, self.async_client) as client:
            result = await client.search(self.collection, query, self.k, self.retriever, **self._options(filter))
        return to_documents(result)


def _reordered(documents: Sequence[Document], response: RerankResponse) -> list[Document]:
    return [
        Document(id=documents[i].id, page_content=documents[i].page_content,
                 metadata={**documents[i].metadata, "relevance_score": score})
        for i, score in reranked_order(response, len(documents))
    ]


class SieveRerank(BaseDocumentCompressor):
    """Reorders documents by a Sieve reranker (``POST /v2/rerank``), keeping the best ``top_n``.

    Each returned document is a copy with ``metadata["relevance_score"]``. Use it in a
    ``ContextualCompressionRetriever`` or call ``compress_documents`` directly.

    Args:
        client: a ``SieveClient``.
        top_n: how many documents to keep (None keeps all, reordered).
        model: the reranker; None takes the server's default.
        async_client: used by ``acompress_documents``; without it each call opens a short-lived client.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: SieveClient
    top_n: int | None = Field(3, ge=1)
    model: str | None = None
    async_client: AsyncSieveClient | None = None

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        texts = [d.page_content for d in documents]
        response = self.client.rerank(query, texts, top_n_for(self.top_n, len(texts)), self.model)
        return _reordered(documents, response)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        if not documents:
            return []
        texts = [d.page_content for d in documents]
        async with async_client_for(self.client, self.async_client) as client:
            response = await client.rerank(query, texts, top_n_for(self.top_n, len(texts)), self.model)
        return _reordered(documents, response)
