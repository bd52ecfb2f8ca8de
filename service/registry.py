"""Live objects for every collection under the index root, built once at start-up."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from indexers.collection import Collection, list_collections, open_collection
from indexers.segments.codec import ChangeReport
from indexers.segments.merge import apply_changes
from kernel.errors import IndexUnavailable, NotFound, SieveError
from kernel.types import Doc
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
from service.upgrades import Upgrades

log = logging.getLogger(__name__)
T = TypeVar("T")


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
                 rerank: RerankSettings | None = None, retire_after_s: float = 120.0,
                 merge_after: int = 5000) -> None:
        self.index_root = index_root
        self.merge_after = merge_after  # delta size (rows + tombstones) that starts a background merge
        self.write_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)  # log + swap, per collection
        self.merging: dict[str, threading.Thread] = {}
        self.upgrades = Upgrades()  # model upgrades (``sieve index upgrade``), by collection
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
                 collection.doc_count, sorted(collection.sparse), sorted(collection.dense),
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
        """Open the collection's current folder (its log replayed) and swap its pipeline in (one dict assignment):
        requests already running finish on the old version, new ones see the new one; the old version's Lucene
        readers are closed once those requests have had ``retire_after_s`` to finish. Writes logged while it opened
        are caught up under the write lock, so none is missing from the new version."""
        fresh = open_collection(self.index_root / name, use_gpu=self.use_gpu)
        with self.write_locks[name]:
            if fresh.segments is not None:
                fresh.segments.catch_up()
            old = self.pipelines.get(name)
            self.add(fresh)
        self._retire(old)

    def swap_in(self, name: str, change: Callable[[], T]) -> T:
        """Run ``change`` (a new base on disk, e.g. a model upgrade's swap) and serve its result, with the
        collection's writes held meanwhile: nothing is logged between the log's fold and the reopen (such a write's
        vectors could be from an encoder the new base no longer uses)."""
        with self.write_locks[name]:
            result = change()
            fresh = open_collection(self.index_root / name, use_gpu=self.use_gpu)
            old = self.pipelines.get(name)
            self.add(fresh)
        self._retire(old)
        return result

    def write(self, name: str, upserts: Sequence[Doc] = (), deletes: Sequence[str] = ()) -> ChangeReport:
        """Log one change (fsync) and apply it to the live collection in memory: no folder is reopened. Starts a
        background merge once the delta reaches ``merge_after``. Blocking: call it on the executor."""
        with self.write_locks[name]:
            live = self.pipeline(name).collection.segments
            if live is None:
                raise IndexUnavailable(f"collection {name!r} was opened without its write-ahead log")
            report = live.write(upserts, deletes, encoder_for=self.encoders.get,
                                sparse_encoder_for=self.sparse_encoders.get)
            if live.current.pending >= self.merge_after:
                self.start_merge(name)
        return report

    def start_merge(self, name: str) -> bool:
        """Fold the log into a new base on a background thread (one per collection at a time); False when one runs.
        Writes go on meanwhile (they only append to the log); the new base is swapped in with ``reload``."""
        if name in self.merging and self.merging[name].is_alive():
            return False
        thread = threading.Thread(target=self._merge, args=(name,), name=f"sieve-merge-{name}", daemon=True)
        self.merging[name] = thread
        thread.start()
        return True

    def _merge(self, name: str) -> None:
        started = time.perf_counter()
        try:
            apply_changes(self.index_root, name, encoder_for=self.encoders.get,
                          sparse_encoder_for=self.sparse_encoders.get)
            self.reload(name)
            log.info("collection %s: merged the delta into a new base in %.1fs", name, time.perf_counter() - started)
        except Exception:  # the log still holds every change: the next merge (or a restart) tries again
            log.exception("collection %s: background merge failed; the delta keeps serving", name)

    def drop(self, name: str) -> None:
        self._retire(self.pipelines.pop(name, None))
        self.errors.pop(name, None)

    def _retire(self, pipeline: Pipeline | None) -> None:
        """Close a replaced or dropped collection later, off the request path (a reload otherwise leaks its readers)."""
        if pipeline is not None:
            timer = threading.Timer(self.retire_after_s, pipeline.collection.close)
            timer.daemon = True
            timer.start()
