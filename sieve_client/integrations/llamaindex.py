"""LlamaIndex adapters: ``SieveRetriever`` (a ``BaseRetriever`` over ``/v1/search`` giving ``NodeWithScore``) and
``SieveRerank`` (a ``BaseNodePostprocessor`` over ``/v2/rerank``). Needs ``pip install 'sieve[llamaindex]'``."""

from __future__ import annotations

from typing import Any

try:
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
except ModuleNotFoundError as exc:  # the error names the fix instead of a bare module name
    raise ImportError(
        "sieve_client.integrations.llamaindex needs llama-index-core: pip install 'sieve[llamaindex]'"
    ) from exc
from pydantic import Field, PrivateAttr

from sieve_client._core import check_search_options
from sieve_client.async_client import AsyncSieveClient
from sieve_client.client import SieveClient
from sieve_client.errors import SieveInputError
from sieve_client.integrations._common import async_client_for, hit_metadata, reranked_order, top_n_for
from sieve_client.integrations.filters import from_llamaindex
from sieve_client.models import RerankResponse, SearchResponse

# Bookkeeping that should reach neither an LLM prompt nor an embedding; the title stays visible to both.
_HIDDEN_KEYS = ["id", "score", "stage_scores", "rank", "collection", "retriever"]


def to_nodes(result: SearchResponse) -> list[NodeWithScore]:
    """Hits as ``NodeWithScore``: a ``TextNode`` per hit (id = doc id) with title and stage scores in metadata."""
    return [
        NodeWithScore(
            node=TextNode(id_=hit.id, text=hit.text, metadata=hit_metadata(hit, rank, result),
                          excluded_llm_metadata_keys=_HIDDEN_KEYS, excluded_embed_metadata_keys=_HIDDEN_KEYS),
            score=hit.score,
        )
        for rank, hit in enumerate(result.hits, start=1)
    ]


class SieveRetriever(BaseRetriever):
    """Retrieves nodes from one Sieve collection.

    Args:
        client: a ``SieveClient`` (its settings also build the async client when ``async_client`` is None).
        collection: the collection to search.
        k: hits per query.
        retriever: ``sparse``, ``dense`` or ``hybrid``; None takes the server's default.
        search_options: other ``/v1/search`` fields (``depth``, ``fusion``, ``dense_index``, ``dimensions``, ...).
        filters: LlamaIndex ``MetadataFilters`` (``ExactMatchFilter`` / ``MetadataFilter`` with ==, !=, >, >=, <,
            <=, in, nin, any, all, contains, is_empty; and / or / not; nested), sent as Sieve's ``filter``.
        async_client: used by ``aretrieve``; without it each async call opens a short-lived client.

    Raises:
        SieveInputError: empty collection, ``k`` < 1, an unknown search option or a filter operator Sieve lacks.

    Example:
        >>> nodes = SieveRetriever(SieveClient("http://127.0.0.1:8000"), "scifact", k=4).retrieve("vitamin D")
    """

    def __init__(
        self,
        client: SieveClient,
        collection: str,
        k: int = 10,
        retriever: str | None = None,
        *,
        search_options: dict[str, Any] | None = None,
        filters: Any = None,
        async_client: AsyncSieveClient | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not collection or k < 1:
            raise SieveInputError(f"need a collection name and k >= 1, got collection={collection!r}, k={k}")
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        self.client = client
        self.async_client = async_client
        self.collection = collection
        self.k = k
        self.retriever = retriever
        self.search_options = check_search_options(search_options or {})
        if filters is not None:
            self.search_options["filter"] = from_llamaindex(filters)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.client.search(self.collection, query_bundle.query_str, self.k, self.retriever,
                                    **self.search_options)
        return to_nodes(result)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        async with async_client_for(self.client, self.async_client) as client:
            result = await client.search(self.collection, query_bundle.query_str, self.k, self.retriever,
                                         **self.search_options)
        return to_nodes(result)


def _reordered(nodes: list[NodeWithScore], response: RerankResponse) -> list[NodeWithScore]:
    return [NodeWithScore(node=nodes[i].node, score=score) for i, score in reranked_order(response, len(nodes))]


class SieveRerank(BaseNodePostprocessor):
    """Reorders nodes by a Sieve reranker (``POST /v2/rerank``), keeping the best ``top_n``; scores become the
    reranker's relevance scores.

    Args:
        client: a ``SieveClient``.
        top_n: how many nodes to keep (None keeps all, reordered).
        model: the reranker; None takes the server's default.
        async_client: used by ``apostprocess_nodes``; without it each call opens a short-lived client.
    """

    top_n: int | None = Field(3, ge=1)
    model: str | None = None
    _client: SieveClient = PrivateAttr()
    _async_client: AsyncSieveClient | None = PrivateAttr(default=None)

    def __init__(self, client: SieveClient, *, top_n: int | None = 3, model: str | None = None,
                 async_client: AsyncSieveClient | None = None, **kwargs: Any) -> None:
        # Fields declared on this subclass: the plugin checks the call against the base class's __init__.
        super().__init__(top_n=top_n, model=model, **kwargs)  # type: ignore[call-arg]
        self._client = client
        self._async_client = async_client

    @classmethod
    def class_name(cls) -> str:
        return "SieveRerank"

    @staticmethod
    def _texts(nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> tuple[str, list[str]]:
        if query_bundle is None:
            raise SieveInputError("SieveRerank needs the query: pass query_str or query_bundle")
        return query_bundle.query_str, [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query, texts = self._texts(nodes, query_bundle)
        response = self._client.rerank(query, texts, top_n_for(self.top_n, len(texts)), self.model)
        return _reordered(nodes, response)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        query, texts = self._texts(nodes, query_bundle)
        async with async_client_for(self._client, self._async_client) as client:
            response = await client.rerank(query, texts, top_n_for(self.top_n, len(texts)), self.model)
        return _reordered(nodes, response)
