"""Live objects for every collection under the index root, built once at start-up."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indexers.collection import Collection, list_collections, open_collection
from indexers.errors import NotFound, SieveError
from service.encoders import EncoderCache
from service.pipeline import Pipeline
from service.specs import PipelineSpec

log = logging.getLogger(__name__)


class Registry:
    """Collections by name, their pipelines, and the executor all blocking work runs on."""

    def __init__(self, index_root: Path, *, workers: int = 4, use_gpu: bool = False) -> None:
        self.index_root = index_root
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sieve-work")
        self.encoders = EncoderCache()
        self.pipelines: dict[str, Pipeline] = {}
        self.errors: dict[str, str] = {}
        for folder in list_collections(index_root):
            try:
                self.add(open_collection(folder, use_gpu=use_gpu))
            except SieveError as exc:
                self.errors[folder.name] = str(exc)
                log.error("collection %s not loaded: %s", folder.name, exc)

    def add(self, collection: Collection) -> None:
        pipeline = Pipeline(collection, self.encoders, self.executor)
        for name in collection.dense:  # load query encoders now, not on the first request
            pipeline.retrievers(PipelineSpec(retriever="dense", dense_index=name))
        self.pipelines[collection.name] = pipeline
        log.info("collection %s: %d docs, sparse %s, dense %s", collection.name, collection.docs.count,
                 sorted(collection.sparse), sorted(collection.dense))

    def pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            raise NotFound(f"unknown collection {name!r}; available: {sorted(self.pipelines)}") from None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
