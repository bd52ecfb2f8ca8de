"""Live objects for every collection under the index root, built once at start-up."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indexers.collection import Collection, list_collections, open_collection
from kernel.errors import NotFound, SieveError
from rankers.base import Reranker
from rankers.specs import RerankCall
from service.cache import Cache
from service.config import BatchingSettings, RerankSettings
from service.encoders import AsyncEncoders, EncoderCache
from service.learned_sparse import SparseEncoders
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.rerankers import ServedRerankers
from service.specs import PipelineSpec

log = logging.getLogger(__name__)


class Registry:
    """Collections by name, their pipelines, the served rerankers, and the executor all blocking work runs on;
    ``locks`` serialise changes to one collection.

    Args:
        batching: micro-batching of encoder calls (default: off, one model call per query).
        vector_cache: where query vectors are cached; result_cache: where whole search results are.
        reranker: the default second stage every pipeline runs (``spec.rerank`` turns it off per request);
            default: ``rerank.search`` when set.
        rerank: the rerankers served by name (rerank routes, ``/v1/search``'s ``rerank.model``); their models live
            as long as the registry (``aclose``).
    """

    def __init__(self, index_root: Path, *, workers: int = 4, use_gpu: bool = False,
                 batching: BatchingSettings | None = None, vector_cache: Cache | None = None,
                 result_cache: Cache | None = None, reranker: Reranker | None = None,
                 metrics: Metrics | None = None, model_dtype: str = "float32",
                 rerank: RerankSettings | None = None, retire_after_s: float = 120.0) -> None:
        self.index_root = index_root
        self.retire_after_s = retire_after_s  # a replaced collection is closed this long after (> any deadline)
        self.use_gpu = use_gpu
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sieve-work")
        self.encoders = EncoderCache()
        self.metrics = metrics or Metrics()
        self.async_encoders = AsyncEncoders(self.encoders, self.executor, batching=batching, cache=vector_cache,
                                            metrics=self.metrics, dtype=model_dtype)
        self.sparse_encoders = SparseEncoders(self.executor, batching=batching, cache=vector_cache,
                                              metrics=self.metrics)
        self.rerankers = ServedRerankers(rerank or RerankSettings(), self.executor, batching=batching,
                                         metrics=self.metrics)
        self.rerank_call: RerankCall | None = None  # None: the reranker's own defaults
        if reranker is None and rerank is not None and rerank.search is not None:  # SIEVE_RERANK__SEARCH
            reranker, self.rerank_call = self.rerankers.get(rerank.search), rerank.search.call()
        self.reranker = reranker
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one per collection being changed
        self.result_cache = result_cache
        self.pipelines: dict[str, Pipeline] = {}
        self.errors: dict[str, str] = {}  # collection -> why it (or one of its indexes) is not served; no paths
        for folder in list_collections(index_root):  # repairs what a crash left mid-swap first
            try:
                self.add(open_collection(folder, use_gpu=use_gpu))
            except Exception as exc:  # one bad collection never keeps the others from loading
                self.errors[folder.name] = str(exc) if isinstance(exc, SieveError) else (
                    f"cannot be loaded ({type(exc).__name__})")
                log.error("collection %s not loaded: %s", folder.name, exc, exc_info=not isinstance(exc, SieveError))

    def add(self, collection: Collection, pipeline_type: type[Pipeline] = Pipeline) -> None:
        """Serve ``collection`` (replacing one of the same name) through a ``pipeline_type`` (sharded collections:
        ``service/sharded.py`` ``ShardedPipeline``)."""
        pipeline = pipeline_type(collection, self.encoders, self.executor, async_encoders=self.async_encoders,
                            reranker=self.reranker, rerank_call=self.rerank_call, cache=self.result_cache,
                            metrics=self.metrics, sparse_encoders=self.sparse_encoders)
        for name in collection.dense:  # load query encoders now, not on the first request
            pipeline.retrievers(PipelineSpec(retriever="dense", dense_index=name))
        for name in collection.learned_sparse:
            pipeline.retrievers(PipelineSpec(retriever="splade", splade_index=name))
        self.pipelines[collection.name] = pipeline
        if collection.stale:
            self.errors[collection.name] = "; ".join(f"index {n!r} not served: {why}"
                                                     for n, why in sorted(collection.stale.items()))
        else:
            self.errors.pop(collection.name, None)
        log.info("collection %s: %d docs, sparse %s, dense %s, learned sparse %s", collection.name,
                 collection.docs.count, sorted(collection.sparse), sorted(collection.dense),
                 sorted(collection.learned_sparse))

    def pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            raise NotFound(f"unknown collection {name!r}; available: {sorted(self.pipelines)}") from None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop the batchers' worker tasks, then the executor."""
        await self.async_encoders.close()
        await self.sparse_encoders.close()
        await self.rerankers.close()
        self.close()

    def reload(self, name: str) -> None:
        """Open the collection's current folder and swap its pipeline in (one dict assignment): requests already
        running finish on the old version, new ones see the new one; the old version's Lucene readers are closed
        once those requests have had ``retire_after_s`` to finish."""
        old = self.pipelines.get(name)
        self.add(open_collection(self.index_root / name, use_gpu=self.use_gpu))
        self._retire(old)

    def drop(self, name: str) -> None:
        self._retire(self.pipelines.pop(name, None))
        self.errors.pop(name, None)

    def _retire(self, pipeline: Pipeline | None) -> None:
        """Close a replaced or dropped collection later, off the request path (a reload otherwise leaks its readers)."""
        if pipeline is not None:
            timer = threading.Timer(self.retire_after_s, pipeline.collection.close)
            timer.daemon = True
            timer.start()
