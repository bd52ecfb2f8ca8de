"""The rerankers this server serves, by name, and their async face: cross-encoder pairs from concurrent requests
are micro-batched into shared model calls (``service/batching.py``); LLM rerankers run on worker threads and stop
at their next model call once the request is gone.

Served names: each of ``settings.rerank.models`` (a cross-encoder path or HF id, on ``settings.rerank.backend``)
and each key of ``settings.rerank.rankers`` (any ``RerankerSpec``: listwise or pairwise LLMs, ONNX cross-encoders).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from kernel.errors import NotFound
from kernel.types import Hit
from rankers.base import Reranker, RerankReport, split_head
from rankers.cross_encoder import CrossEncoderReranker, PairScores, RawScores
from rankers.pair_models import Pair
from rankers.registry import build_reranker
from rankers.specs import AnySpec, CrossEncoderSpec
from service.batching import MicroBatcher
from service.config import BatchingSettings, RerankSettings
from service.metrics import Metrics
from service.retrieval import run_blocking


class BatchedCrossEncoder(Reranker):
    """A ``CrossEncoderReranker`` whose model calls go through a shared ``MicroBatcher`` of pairs (or straight to
    the worker pool when batching is off). Scores are those of the wrapped reranker."""

    def __init__(self, inner: CrossEncoderReranker, executor: Executor,
                 batcher: MicroBatcher[Pair, float] | None) -> None:
        self.inner = inner
        self.name = inner.name
        self.spec = inner.spec
        self._executor = executor
        self._batcher = batcher

    def rerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None) -> RerankReport:
        return self.inner.rerank_with_report(query, hits, top_k=top_k)

    async def ascore(self, query: str, passages: Sequence[str]) -> PairScores:
        """Raw scores in passage order; the pairs share model calls with other requests' pairs."""
        plan = await run_blocking(self._executor, lambda: self.inner.plan(query, passages))
        if self._batcher is None:
            raw: RawScores = await run_blocking(self._executor, lambda: self.inner.predict(plan.pairs))
        else:
            raw = await self._batcher.submit_many(plan.pairs)
        return plan.scores(raw)

    async def arerank_with_report(self, query: str, hits: Sequence[Hit], *, top_k: int | None = None
                                  ) -> RerankReport:
        head, tail, passages = split_head(hits, self.spec.top_n)
        return self.inner.finish(head, tail, await self.ascore(query, passages), top_k)


@dataclass(frozen=True)
class DocumentScores:
    """What the rerank routes return per document (in request order): ``relevance`` in [0, 1], higher is better
    (a cross-encoder's sigmoid, an LLM reranker's rank score), and the reranker's ``raw`` score."""

    relevance: list[float]
    raw: list[float]
    tokens: int = 0
    warnings: tuple[str, ...] = ()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


async def score_documents(reranker: Reranker, query: str, texts: Sequence[str]) -> DocumentScores:
    """Score stand-alone documents (no first stage): cross-encoders give a logit per document; other rerankers
    rank the documents in the order given and their final scores are the relevance."""
    if isinstance(reranker, BatchedCrossEncoder):
        scores = await reranker.ascore(query, texts)
        raw = [float(s) for s in scores.scores]
        warnings: tuple[str, ...] = ()
        if scores.truncated:
            warnings = (f"{len(scores.truncated)} of {len(texts)} documents were truncated to fit "
                        f"{reranker.spec.max_length} tokens with the query (indexes {list(scores.truncated[:20])}); "
                        "their tails were not scored",)
        return DocumentScores([_sigmoid(r) for r in raw], raw, scores.tokens, warnings)
    hits = [Hit(str(i), 0.0, text=t) for i, t in enumerate(texts)]
    report = await reranker.arerank_with_report(query, hits)
    by_index = {int(h.id): h.score for h in report.hits}
    scores_in_order = [by_index[i] for i in range(len(texts))]
    return DocumentScores(scores_in_order, scores_in_order, 0, report.warnings)


class ServedRerankers:
    """Served names -> specs -> live rerankers (built on first use, then shared), with one pair batcher per
    cross-encoder model.

    Args:
        settings: what is served and its limits. batching: micro-batching limits (``enabled=False``: one model call
            per request). executor: where blocking work runs.
    """

    def __init__(self, settings: RerankSettings, executor: Executor, *, batching: BatchingSettings | None = None,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self._executor = executor
        self._batching = batching or BatchingSettings(enabled=False)
        self._metrics = metrics or Metrics()
        self._batchers: dict[CrossEncoderSpec, MicroBatcher[Pair, float]] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return [*self.settings.models, *self.settings.rankers]

    def spec(self, name: str | None = None, *, truncate: bool = True) -> AnySpec:
        """The spec a served name stands for (``None``: the first served one).

        Raises:
            NotFound: the name is not served (names those that are).
        """
        if not self.names:
            raise NotFound("this server serves no rerankers; set SIEVE_RERANK__MODELS or SIEVE_RERANK__RANKERS")
        name = self.names[0] if name is None else name
        if name in self.settings.rankers:
            return self.settings.rankers[name]
        served = {m.lower(): m for m in self.settings.models}
        if name.lower() not in served:
            raise NotFound(f"unknown rerank model {name!r}; this server serves {self.names}")
        return CrossEncoderSpec(model=served[name.lower()], backend=self.settings.backend,
                                quantize=self.settings.quantize, max_length=self.settings.max_length,
                                batch_size=self.settings.batch_size, truncation="truncate" if truncate else "error")

    def for_request(self, model: str | None, *, top_n: int | None = None, blend: float | None = None) -> Reranker:
        """The reranker a request asks for: a served name (default: ``search``, else the first served), with its
        own ``top_n`` and ``blend`` where given.

        Raises:
            NotFound: the name is not served, or nothing is.
        """
        spec = self.spec(model) if model is not None or self.settings.search is None else self.settings.search
        changes = {k: v for k, v in {"top_n": top_n, "blend": blend}.items() if v is not None}
        return self.get(spec.model_copy(update=changes) if changes else spec)

    def get(self, spec: AnySpec) -> Reranker:
        """The live reranker for ``spec``; cross-encoders come wrapped for micro-batching."""
        reranker = build_reranker(spec)
        if not isinstance(reranker, CrossEncoderReranker):
            return reranker
        return BatchedCrossEncoder(reranker, self._executor, self._batcher(reranker))

    def _batcher(self, reranker: CrossEncoderReranker) -> MicroBatcher[Pair, float] | None:
        if not self._batching.enabled:
            return None
        # Specs differing only in how scores are used (blend, top_n) share the model, so they share its batcher.
        key = reranker.spec.model_copy(update={"blend": 0.0, "top_n": None, "normalization": "minmax"})
        with self._lock:
            if key not in self._batchers:
                b = self._batching
                self._batchers[key] = MicroBatcher(
                    f"rerank:{key.backend}:{key.model}", lambda pairs: reranker.predict(pairs).tolist(),
                    self._executor, max_batch=max(b.max_batch, self.settings.batch_size), max_wait_ms=b.max_wait_ms,
                    max_queue=max(b.max_queue, self.settings.max_documents), metrics=self._metrics,
                    concurrency=b.concurrency)
            return self._batchers[key]

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self._batchers.values()))
