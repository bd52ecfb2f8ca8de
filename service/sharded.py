"""Sharded serving on Ray: one actor per shard (``indexers/sharding/shard.py`` ``ShardServer``, optionally
replicated), and a router inside the service that scatters each first-stage search to every shard and gathers one
global top-k. The query is encoded once here (the dense or SPLADE vector travels to the shards, ``sharded_splade.py``;
BM25 gets the text, scored on each shard with collection-wide statistics), so merged scores are exactly those of one
index; fusion, hydration and reranking run once, after the merge, in the ordinary ``Pipeline``.

A shard that is down, fails, or misses its deadline (``RaySettings.shard_timeout_ms``) is left out: the answer comes
from the others, ``degraded`` lists ``shard:<n>`` and ``counts`` has ``<stage>.shards`` / ``<stage>.shards_answered``.
Ray restarts a dead actor (``max_restarts``); it reopens its folder and statistics and answers again by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from indexers.collection import Collection
from indexers.docstore import DocStore
from indexers.filters import AllowedDocs
from indexers.manifest import IndexManifest
from indexers.sharding.cluster import init_local
from indexers.sharding.layout import SHARDS_DIR, ShardedManifest, is_sharded, require_ray, shard_of
from indexers.sharding.shard import ShardServer, merge
from kernel.errors import NotFound
from kernel.types import Doc, Hit
from service.config import RaySettings
from service.encoders import AsyncEncoder
from service.filtering import Unfiltered
from service.pipeline import CALLER_ERRORS, Pipeline, _pick
from service.registry import Registry
from service.retrieval import Retriever, Trace
from service.sharded_splade import ShardedSpladeRetriever
from service.specs import PipelineSpec

log = logging.getLogger(__name__)


class ShardRouter:
    """The shard actors of one collection (``replicas`` per shard) and the scatter-gather over them."""

    def __init__(self, root: Path, manifest: ShardedManifest, settings: RaySettings) -> None:
        self.ray = require_ray()
        self.root, self.manifest, self.settings = root, manifest, settings
        actor = self.ray.remote(ShardServer).options(
            num_cpus=settings.shard_cpus, max_restarts=settings.max_restarts, max_task_retries=0)
        self.actors: list[list[Any]] = [[actor.remote(str(root), i) for _ in range(settings.replicas)]
                                        for i in range(manifest.shards)]
        self._turn = itertools.count()
        self.timeout_s = settings.shard_timeout_ms / 1000

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        """Block until every actor has opened its shard (start-up)."""
        self.ray.get([a.info.remote() for replicas in self.actors for a in replicas], timeout=timeout_s)

    async def _one(self, shard: int, call: Callable[[Any], Any]) -> Any:
        replicas = self.actors[shard]
        first = next(self._turn) % len(replicas)
        deadline = time.monotonic() + self.timeout_s
        for attempt in range(min(2, len(replicas))):  # one failover to another replica while time is left
            try:
                return await asyncio.wait_for(_result(call(replicas[(first + attempt) % len(replicas)])),
                                              max(deadline - time.monotonic(), 0.0))
            except self.ray.exceptions.RayTaskError as exc:  # the shard's code raised: a caller error stays one
                if isinstance(exc.cause, CALLER_ERRORS):
                    raise exc.cause from None
                if attempt + 1 >= min(2, len(replicas)):
                    raise
            except self.ray.exceptions.RayActorError:
                if attempt + 1 >= min(2, len(replicas)):
                    raise
        raise TimeoutError  # unreachable: the loop returns or raises

    async def scatter(self, call: Callable[[Any], Any], stage: str, trace: Trace) -> list[Any]:
        """``call(actor)`` on every shard at once; the answers of those in time, the others in ``trace.degraded``."""
        results = await asyncio.gather(*(self._one(i, call) for i in range(len(self.actors))),
                                       return_exceptions=True)
        answered = []
        for i, res in enumerate(results):
            if isinstance(res, CALLER_ERRORS):
                raise res
            if isinstance(res, BaseException):
                reason = "deadline" if isinstance(res, TimeoutError) else (
                    "down" if isinstance(res, self.ray.exceptions.RayActorError) else "error")
                log.warning("shard %d of %s left out of %s: %s (%s)", i, self.manifest.name, stage, reason,
                            type(res).__name__)
                trace.degrade(f"shard:{i}", reason)
            else:
                answered.append(res)
        trace.counts[f"{stage}.shards"] = len(self.actors)
        trace.counts[f"{stage}.shards_answered"] = len(answered)
        return answered

    def reload(self) -> None:
        """Every actor reopens its shard and the statistics (after a change to any shard: N, avgdl and df moved)."""
        self.manifest = ShardedManifest.read(self.root)
        self.ray.get([a.reload.remote() for replicas in self.actors for a in replicas])

    def close(self) -> None:
        for replicas in self.actors:
            for a in replicas:
                self.ray.kill(a, no_restart=True)


async def _result(ref: Any) -> Any:
    return await ref


class ShardedDocs:
    """The doc store of a sharded collection: each id fetched from the shard its hash names."""

    def __init__(self, router: ShardRouter) -> None:
        self.router = router
        self.count = router.manifest.doc_count
        self.version = router.manifest.version

    def get_many(self, ids: Sequence[str]) -> dict[str, Doc]:
        by_shard: dict[int, list[str]] = {}
        for i in ids:
            by_shard.setdefault(shard_of(i, self.router.manifest.shards), []).append(i)
        refs = {s: self.router.actors[s][0].docs.remote(wanted) for s, wanted in by_shard.items()}
        out: dict[str, Doc] = {}
        for s, ref in refs.items():
            try:
                found = self.router.ray.get(ref, timeout=self.router.timeout_s)
            except Exception as exc:  # a shard down: its hits keep no text, the others do
                log.warning("shard %d: texts not fetched (%s)", s, type(exc).__name__)
                continue
            out.update({i: Doc(i, text, title) for i, (title, text) in found.items()})
        return out


@dataclass
class ShardedIndex:
    """One index spread over the shards, as the pipeline and ``/v1/collections`` see it (manifest, dims)."""

    name: str
    folder: Path
    manifest: IndexManifest

    @property
    def dim(self) -> int:
        return int(self.manifest.dims or 0)


def _index_view(root: Path, manifest: ShardedManifest, name: str) -> ShardedIndex:
    shard_manifests = [IndexManifest.read(manifest.shard_folder(root, i) / "indexes" / name)
                       for i in range(manifest.shards)]
    first = shard_manifests[0]
    version = manifest.version + "." + "-".join(m.version[:4] for m in shard_manifests)
    build = {**first.build, "shards": manifest.shards, **({"collection_stats": manifest.bm25[name]}
                                                          if name in manifest.bm25 else {})}
    merged = replace(first, doc_count=manifest.doc_count, version=version, build=build)
    return ShardedIndex(name, root / SHARDS_DIR, merged)


@dataclass
class ShardedCollection(Collection):
    router: ShardRouter | None = field(default=None)

    def close(self) -> None:
        if self.router is not None:
            self.router.close()


class ShardedSparseRetriever:
    stage = "sparse"

    def __init__(self, router: ShardRouter, index: str) -> None:
        self.router, self.index = router, index

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        start = time.perf_counter()
        params = spec.bm25.model_dump(mode="json")
        runs = await self.router.scatter(lambda a: a.sparse.remote(self.index, query, k, params), self.stage, trace)
        trace.since(self.stage, start)
        return [Hit(d, s, stage_scores={self.stage: s}) for d, s, _ in merge(runs, k)]


class ShardedDenseRetriever:
    stage = "dense"

    def __init__(self, router: ShardRouter, index: str, encoder: AsyncEncoder) -> None:
        self.router, self.index, self.encoder = router, index, encoder

    async def search(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                     allowed: AllowedDocs | None = None) -> list[Hit]:
        start = time.perf_counter()
        vector = await self.encoder.encode_queries([query])  # once, here; the shards get the vector
        trace.since("dense.encode", start)
        start = time.perf_counter()
        options = spec.dense.model_dump(mode="json")
        runs = await self.router.scatter(lambda a: a.dense.remote(self.index, vector, k, options), self.stage, trace)
        trace.since("dense.search", start)
        return [Hit(d, s, stage_scores={self.stage: s}, passage=p) for d, s, p in merge(runs, k)]


class ShardedPipeline(Pipeline):
    """The pipeline over a sharded collection: first-stage retrievers scatter to the shards; the rest is shared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters = Unfiltered("sharded collections")

    def _retriever(self, kind: str, name: str | None) -> Retriever:
        col = cast(ShardedCollection, self.collection)
        assert col.router is not None
        router = col.router
        routes: dict[str, tuple[dict[str, Any], Callable[[str], Retriever]]] = {
            "sparse": (col.sparse, lambda n: ShardedSparseRetriever(router, n)),
            "dense": (col.dense, lambda n: ShardedDenseRetriever(router, n, self._encoders.for_index(col.dense[n]))),
            "splade": (col.learned_sparse, lambda n: ShardedSpladeRetriever(
                router, n, col.learned_sparse[n].manifest, self._sparse_encoders.for_index(col.learned_sparse[n]))),
        }
        indexes, build = routes[kind]
        name = _pick(indexes, name, kind, col.name)
        if (kind, name) not in self._retrievers:
            self._retrievers[(kind, name)] = build(name)
        return self._retrievers[(kind, name)]


def open_sharded(folder: Path, settings: RaySettings) -> ShardedCollection:
    """Start the shard actors of the sharded collection in ``folder`` and wait until they are ready."""
    manifest = ShardedManifest.read(folder)
    router = ShardRouter(folder, manifest, settings)
    router.wait_ready()
    return _collection(router)


def _collection(router: ShardRouter) -> ShardedCollection:
    manifest, folder = router.manifest, router.root
    col = ShardedCollection(manifest.name, folder, cast(DocStore, ShardedDocs(router)), router=router)
    for name, kind in manifest.indexes.items():
        getattr(col, kind)[name] = _index_view(folder, manifest, name)
    return col


def sharded_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_sharded(p)) \
        if root.is_dir() else []


class ShardedServing:
    """``sieve serve --ray``: connect to Ray (``settings.address``, else a local cluster started here), open every
    sharded collection under the registry's index root and serve it through a ``ShardedPipeline``; ``close`` stops
    the actors and a cluster started here."""

    def __init__(self, registry: Registry, settings: RaySettings) -> None:
        ray = require_ray()
        self.started = not ray.is_initialized()
        if self.started:
            if settings.address:
                ray.init(address=settings.address)
            else:
                init_local(settings.num_cpus)
        self.collections: list[ShardedCollection] = []
        for folder in sharded_folders(registry.index_root):
            try:
                col = open_sharded(folder, settings)
            except Exception as exc:  # one bad collection never keeps the others from loading
                registry.errors[folder.name] = f"sharded collection not loaded ({type(exc).__name__}: {exc})"
                log.error("sharded collection %s not loaded: %s", folder.name, exc)
                continue
            self.collections.append(col)
            registry.add(col, ShardedPipeline)

    def reload(self, registry: Registry, name: str) -> None:
        """Serve a sharded collection's new version after a change on disk (``indexers/sharding/updates.py``): the
        same actors reopen their shards and the statistics; the pipeline is swapped in with the new version."""
        for i, col in enumerate(self.collections):
            if col.name == name and col.router is not None:
                col.router.reload()
                self.collections[i] = _collection(col.router)
                registry.add(self.collections[i], ShardedPipeline)
                return
        raise NotFound(f"no sharded collection {name!r} is served")

    def close(self) -> None:
        for col in self.collections:
            col.close()
        if self.started:
            require_ray().shutdown()
