"""One query through the pipeline: retrieve (retrievers in parallel) -> fuse -> fetch texts -> rerank (optional),
with timings, a time budget (stages that would overrun it are cut short and listed as ``degraded``) and a result
cache keyed by the collection's index version and everything in the request that changes the answer."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from indexers.collection import Collection
from indexers.filters import AllowedDocs
from indexers.segments.delta import Snapshot
from kernel.codec import pack_hits, unpack_extra, unpack_hits
from kernel.errors import InvalidInput, NotFound
from kernel.types import Hit
from rankers.base import Reranker
from rankers.fusion import fuse
from rankers.specs import RerankCall
from service.cache import Cache, cache_key
from service.deadlines import NO_DEADLINE, Deadline
from service.encoders import AsyncEncoders, EncoderCache
from service.errors import DeadlineExceeded
from service.filtering import Filters
from service.learned_sparse import SparseEncoders, SpladeRetriever
from service.metrics import Metrics
from service.retrieval import DenseRetriever, Retriever, SparseRetriever, Trace, run_blocking
from service.specs import PipelineSpec

log = logging.getLogger(__name__)

CALLER_ERRORS = (InvalidInput, NotFound)  # the request's fault: answered as such, never degraded around
MIN_STAGE_S = 0.002  # an optional stage with less budget left than this is skipped, not started


@dataclass(frozen=True)
class PipelineResult:
    hits: list[Hit]
    timings_ms: dict[str, float]
    counts: dict[str, int]
    spec: PipelineSpec
    degraded: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cached: bool = False
    explain: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> query terms (``spec.explain``)
    marks: tuple[tuple[str, float, float], ...] = ()  # (stage, start, end) on perf_counter, for tracing


def _pick(available: Mapping[str, object], name: str | None, kind: str, collection: str) -> str:
    if not available:
        raise NotFound(f"collection {collection!r} has no {kind} index; build one with `sieve index build`")
    if name is None:
        return next(iter(available))
    if name not in available:
        raise NotFound(f"collection {collection!r} has no {kind} index {name!r}; it has {sorted(available)}")
    return name


def _seconds(deadline: Deadline) -> float | None:
    return None if math.isinf(deadline.at) else deadline.remaining()


class Pipeline:
    """Answers queries over one collection. Safe to share across concurrent requests.

    Args:
        async_encoders: batched, cached query encoding (default: one direct model call per query).
        reranker: the optional second stage; a hanging or failing one degrades to first-stage order.
        rerank_call: how it is used (``top_n``, ``blend``; default: the reranker's own ``defaults``).
        cache: whole-result cache, or ``None``.
        sparse_encoders: the learned sparse query encoders (default: loaded here, one direct call per query).
    """

    def __init__(self, collection: Collection, encoders: EncoderCache, executor: Executor, *,
                 async_encoders: AsyncEncoders | None = None, reranker: Reranker | None = None,
                 rerank_call: RerankCall | None = None, cache: Cache | None = None,
                 metrics: Metrics | None = None, sparse_encoders: SparseEncoders | None = None) -> None:
        self.collection = collection
        self.reranker = reranker
        self.rerank_call = rerank_call
        self._executor = executor
        self._encoders = async_encoders or AsyncEncoders(encoders, executor)
        self._sparse_encoders = sparse_encoders or SparseEncoders(executor)
        self._cache = cache
        self._metrics = metrics or Metrics()
        self._retrievers: dict[tuple[str, str], Retriever] = {}
        self.filters = Filters(collection, executor)

    def _retriever(self, kind: str, name: str | None) -> Retriever:
        """The retriever over the ``kind`` index ``name`` (None: the collection's first), built once and kept."""
        routes: dict[str, tuple[Mapping[str, Any], str, Callable[[Any], Retriever]]] = {
            "sparse": (self.collection.sparse, "sparse",
                       lambda i: SparseRetriever(i, self._executor)),
            "dense": (self.collection.dense, "dense",
                      lambda i: DenseRetriever(i, self._encoders.for_index(i), self._executor,
                                               alternatives=self._encoders)),
            "splade": (self.collection.learned_sparse, "learned sparse",
                       lambda i: SpladeRetriever(i, self._sparse_encoders.for_index(i), self._executor)),
        }
        indexes, label, build = routes[kind]
        name = _pick(indexes, name, label, self.collection.name)
        if (kind, name) not in self._retrievers:
            self._retrievers[(kind, name)] = build(indexes[name])
        return self._retrievers[(kind, name)]

    def retrievers(self, spec: PipelineSpec) -> list[Retriever]:
        """The retrievers a spec routes through (``spec.route()``), in the order fusion weights follow."""
        route = spec.route()
        weights = spec.fusion.weights
        if len(route) > 1 and weights is not None and len(weights) != len(route):
            raise InvalidInput(f"{len(weights)} fusion weights for {len(route)} retrievers {list(route)}; give one "
                               "per retriever, in that order")
        names = {"sparse": spec.sparse_index, "dense": spec.dense_index, "splade": spec.splade_index}
        return [self._retriever(kind, names[kind]) for kind in route]

    async def retrieve(self, query: str, k: int, spec: PipelineSpec, trace: Trace,
                       deadline: Deadline = NO_DEADLINE, allowed: AllowedDocs | None = None) -> list[Hit]:
        """First-stage hits without texts: one retriever's top-k, or several fused. In a hybrid, a retriever that
        fails or overruns the deadline is dropped (``trace.degraded``) and the others' hits are used. ``allowed``
        (``spec.filter`` evaluated) goes into every retriever's index search.

        Raises:
            DeadlineExceeded: no retriever finished within the budget.
        """
        retrievers = self.retrievers(spec)
        if trace.snapshot is None:
            trace.snapshot = self.snapshot()
        if len(retrievers) == 1:
            try:
                async with asyncio.timeout(_seconds(deadline)):
                    return await retrievers[0].search(query, k, spec, trace, allowed)
            except TimeoutError:
                raise DeadlineExceeded(f"{retrievers[0].stage} retrieval took longer than the "
                                       f"{deadline.budget_ms:g} ms budget") from None
        depth = max(spec.depth, k)
        done = await self._gather(retrievers, [r.search(query, depth, spec, trace, allowed) for r in retrievers],
                                  trace, deadline)
        if len(done) == 1:  # degraded to one retriever: its own ranking, nothing to fuse
            return done[0][1][:k]
        fusion = spec.fusion
        if fusion.weights is not None and len(done) < len(retrievers):  # the survivors keep their own weights
            fusion = fusion.model_copy(update={"weights": tuple(fusion.weights[i] for i, _ in done)})
        start = time.perf_counter()
        hits = fuse([run for _, run in done], fusion, top_k=k)
        trace.since("fusion", start)
        return hits

    async def _gather(self, retrievers: list[Retriever], calls: list[Awaitable[list[Hit]]], trace: Trace,
                      deadline: Deadline) -> list[tuple[int, list[Hit]]]:
        """(position, hits) of each retriever that finished in time without failing."""
        tasks = [asyncio.ensure_future(c) for c in calls]
        try:
            _, pending = await asyncio.wait(tasks, timeout=_seconds(deadline))
        finally:
            for task in tasks:  # late ones, or all of them if the caller left: a thread already running finishes
                task.cancel()  # in the background, the batcher skips items not yet run
        runs, failures = [], []
        for i, (retriever, task) in enumerate(zip(retrievers, tasks, strict=True)):
            if task in pending:
                trace.degrade(retriever.stage, "deadline")
            elif (exc := task.exception()) is not None:
                if isinstance(exc, CALLER_ERRORS):
                    raise exc
                failures.append(exc)
                log.error("%s retrieval failed; answering without it: %s", retriever.stage, exc, exc_info=exc)
                trace.degrade(retriever.stage, "error")
            else:
                runs.append((i, task.result()))
        if not runs:
            if failures:
                raise failures[0]
            raise DeadlineExceeded(f"no retriever finished within the {deadline.budget_ms:g} ms budget")
        return runs

    async def hydrate(self, hits: list[Hit], trace: Trace) -> list[Hit]:
        """Attach titles and texts from the doc store."""
        start = time.perf_counter()
        live, snap, ids = self.collection.segments, trace.snapshot, [h.id for h in hits]
        docs = await run_blocking(self._executor, lambda: live.get_many(ids, snap) if live is not None
                                  else self.collection.docs.get_many(ids))
        trace.since("hydrate", start)
        return [replace(h, title=docs[h.id].title, text=docs[h.id].text, metadata=docs[h.id].metadata)
                if h.id in docs else h for h in hits]

    async def rerank(self, query: str, hits: list[Hit], k: int, trace: Trace, deadline: Deadline,
                     reranker: Reranker, call: RerankCall) -> list[Hit]:
        """The reranker's top ``k``; on overrun or failure, the first stage's top ``k`` (``degraded: rerank``).
        What the reranker counted goes into ``trace.counts`` as ``rerank.<name>``, its warnings into
        ``trace.warnings``."""
        if deadline.remaining() < MIN_STAGE_S:
            trace.degrade("rerank", "deadline")
            return hits[:k]
        start = time.perf_counter()
        try:
            async with asyncio.timeout(_seconds(deadline)):
                report = await reranker.arerank_with_report(query, hits, top_k=k, call=call)
            trace.counts.update({f"rerank.{name}": n for name, n in report.counts.items()})
            trace.warnings.extend(report.warnings)
            return report.hits[:k]
        except TimeoutError:
            log.warning("rerank (%s) overran the %g ms budget; answering in first-stage order", reranker.name,
                        deadline.budget_ms)
            trace.degrade("rerank", "deadline")
        except CALLER_ERRORS:
            raise
        except Exception:  # a broken reranker costs the second stage, never the request or the process
            log.exception("rerank (%s) failed; answering in first-stage order", reranker.name)
            trace.degrade("rerank", "error")
        finally:
            trace.since("rerank", start)
        return hits[:k]

    async def run(self, query: str, *, k: int, spec: PipelineSpec, include_text: bool = True,
                  deadline: Deadline = NO_DEADLINE, reranker: Reranker | None = None,
                  rerank_call: RerankCall | None = None) -> PipelineResult:
        """The whole route for one query; ``timings_ms`` has one entry per stage plus ``total``, ``counts`` what
        stages counted (``dense.rescored``, ``rerank.truncated``), ``degraded`` the stages skipped or cut short.

        Args:
            reranker: the second stage for this request (default: the pipeline's own); it rescores the first stage's
                top ``spec.rerank_depth`` (default ``spec.depth``) when ``spec.rerank`` is on.
            rerank_call: this request's ``top_n`` and ``blend`` (default: the pipeline's, else the reranker's own).
        """
        start = time.perf_counter()
        trace = Trace(snapshot=self.snapshot())  # one version (base + delta) for the whole request
        second, call = self._second_stage(spec, reranker, rerank_call)
        key = self._result_key(query, k, spec, include_text, second, call, trace)
        if key is not None and (blob := await self._lookup(key, trace)) is not None:
            hits, counts = unpack_hits(blob)
            extra = unpack_extra(blob)
            trace.since("total", start)
            self._metrics.observe_stages(trace.timings)
            return PipelineResult(hits, trace.timings, counts, spec, cached=True, marks=tuple(trace.marks),
                                  warnings=list(extra.get("warnings", [])),  # type: ignore[call-overload]
                                  explain=dict(extra.get("explain", {})))  # type: ignore[call-overload]
        depth = spec.rerank_depth or spec.depth
        allowed = await self.filters.allowed(spec.filter, trace)
        hits = await self.retrieve(query, max(k, depth) if second else k, spec, trace, deadline, allowed)
        if second is not None or include_text:  # the reranker reads the texts
            hits = await self.hydrate(hits, trace)
        if second is not None:
            hits = await self.rerank(query, hits, k, trace, deadline, second, call)
            hits = hits if include_text else [replace(h, title="", text="", metadata=None) for h in hits]
        trace.since("total", start)
        self._metrics.observe_stages(trace.timings)
        for stage, reason in trace.degraded.items():
            self._metrics.degraded.labels(stage, reason).inc()
        if key is not None and not trace.degraded and self._cache is not None:
            extra = {"warnings": trace.warnings, "explain": trace.explain}
            await self._cache.set(key, pack_hits(hits, trace.counts, extra))  # a degraded answer is never cached
        return PipelineResult(hits, trace.timings, trace.counts, spec, degraded=sorted(trace.degraded),
                              warnings=trace.warnings, explain=trace.explain, marks=tuple(trace.marks))

    def _second_stage(self, spec: PipelineSpec, reranker: Reranker | None, call: RerankCall | None
                      ) -> tuple[Reranker | None, RerankCall]:
        """This request's reranker (none when ``spec.rerank`` is off) and how it is used: the request's own, else
        the pipeline's, and call options from the request, else from where the reranker came, else its defaults."""
        if reranker is None:
            reranker, call = self.reranker, call or self.rerank_call
        if reranker is None or not spec.rerank:
            return None, RerankCall()
        return reranker, call or reranker.defaults

    def snapshot(self) -> Snapshot | None:
        """The collection's current version of the delta (None: no live segments)."""
        return self.collection.segments.current if self.collection.segments is not None else None

    def _result_key(self, query: str, k: int, spec: PipelineSpec, include_text: bool,
                    reranker: Reranker | None, call: RerankCall, trace: Trace) -> str | None:
        if self._cache is None:
            return None
        second = [reranker.name, call.model_dump(mode="json")] if reranker is not None else None
        version = self.collection.version_at(trace.snapshot.seq if trace.snapshot is not None else 0)
        return cache_key("result", self.collection.name, version, spec.model_dump(mode="json"),
                         k, include_text, second, query)

    async def _lookup(self, key: str, trace: Trace) -> bytes | None:
        assert self._cache is not None
        start = time.perf_counter()
        blob = await self._cache.get(key)
        trace.since("cache", start)
        self._metrics.cache.labels("result", "miss" if blob is None else "hit").inc()
        return blob
