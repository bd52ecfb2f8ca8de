"""``sieve eval beir --pipeline bm25+ce`` (and ``+listwise``, ``+first``, ``+pairwise``): the first stage's top
``depth`` (with texts) reranked, scored side by side with the first stage on the very same candidates, with rerank
latency per query.

The reranker scores each candidate once; every ``--blend`` weight is then computed from those raw scores, so a
sweep costs one rerank pass. Cross-encoder scores are pointwise, so pipelines of one run share them: a (query,
document) pair that ``bm25+ce`` scored is not scored again for ``hybrid+ce`` (its latency is then the measured
per-pair time of that query's fresh pairs times its pair count).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from evaluation.harness import RunResult, _gather, summarize
from evaluation.metrics import Qrels, Run
from kernel.types import Hit
from rankers.base import Reranker, assemble, blend_scores, passage
from rankers.cross_encoder import CrossEncoderReranker
from rankers.registry import RerankerPool
from rankers.specs import AnySpec, RerankCall
from service.pipeline import Pipeline
from service.specs import PipelineSpec

SUFFIXES = ("ce", "listwise", "first", "pairwise")
PairMemo = dict[tuple[str, str], float]


def split_name(name: str) -> tuple[str, str | None]:
    """``bm25+ce`` -> (``bm25``, ``ce``); ``hybrid`` -> (``hybrid``, None)."""
    base, _, suffix = name.rpartition("+")
    return (base, suffix) if base and suffix in SUFFIXES else (name, None)


async def first_stage(pipeline: Pipeline, queries: dict[str, str], spec: PipelineSpec, depth: int
                      ) -> tuple[dict[str, list[Hit]], list[float]]:
    """Each query's top ``depth`` first-stage hits with texts (no reranker), and the per-query latencies."""
    spec = spec.override(rerank=False)

    async def one(text: str) -> list[Hit]:
        return (await pipeline.run(text, k=depth, spec=spec, include_text=True)).hits

    result = await _gather(queries, one, 4, f"{spec.retriever} top-{depth} (in-process)")
    return dict(result.run), result.latencies_ms  # type: ignore[arg-type]


def _rerank_pointwise(reranker: CrossEncoderReranker, qid: str, query: str, hits: list[Hit], memo: PairMemo
                      ) -> tuple[list[Hit], float, int]:
    """Cross-encoder scores for ``hits``, scoring only pairs not in ``memo``; returns hits, ms, truncated."""
    fresh = [h for h in hits if (qid, h.id) not in memo]
    start = time.perf_counter()
    scores = reranker.score(query, [passage(h) for h in fresh]) if fresh else None
    ms = (time.perf_counter() - start) * 1000
    if scores is not None:
        memo.update({(qid, h.id): float(s) for h, s in zip(fresh, scores.scores, strict=True)})
    raw = [memo[(qid, h.id)] for h in hits]
    out = assemble(hits, [], raw, stage=reranker.stage, call=RerankCall(), top_k=None)
    return out, ms * len(hits) / len(fresh) if fresh else 0.0, len(scores.truncated) if scores else 0


def rerank_all(reranker: Reranker, queries: dict[str, str], candidates: dict[str, list[Hit]], memo: PairMemo
               ) -> tuple[dict[str, list[Hit]], list[float], dict[str, int]]:
    """Rerank one query at a time (what a single request costs); returns hits, latencies and summed counts."""
    out: dict[str, list[Hit]] = {}
    latencies: list[float] = []
    counts: dict[str, int] = {}
    for qid in tqdm(list(queries), desc=f"rerank ({reranker.name})", unit="q"):
        hits = candidates.get(qid, [])
        if isinstance(reranker, CrossEncoderReranker):
            out[qid], ms, truncated = _rerank_pointwise(reranker, qid, queries[qid], hits, memo)
            report_counts = {"pairs": len(hits), "truncated": truncated}
        else:
            start = time.perf_counter()
            report = reranker.rerank_with_report(queries[qid], hits)
            ms = (time.perf_counter() - start) * 1000
            out[qid], report_counts = report.hits, report.counts
        latencies.append(ms)
        for key, n in report_counts.items():
            counts[key] = counts.get(key, 0) + n
    return out, latencies, counts


def blended_run(first: dict[str, list[Hit]], reranked: dict[str, list[Hit]], stage: str, weight: float,
                normalization: str) -> Run:
    """Run files for one blend weight, from the raw reranker scores already in ``stage_scores[stage]``."""
    run: Run = {}
    for qid, hits in reranked.items():
        prior = {h.id: h.score for h in first.get(qid, [])}
        scored = [h for h in hits if stage in h.stage_scores]
        final = blend_scores([h.stage_scores[stage] for h in scored], [prior[h.id] for h in scored],
                             weight, normalization)  # type: ignore[arg-type]
        run[qid] = {h.id: float(s) for h, s in zip(scored, final, strict=True)}
    return run


def evaluate_reranked(
    *, name: str, pipeline: Pipeline, queries: dict[str, str], qrels: Qrels, dataset: str, split: str,
    spec: PipelineSpec, reranker: AnySpec, depth: int, blends: Sequence[float], out: Path | None,
    memo: PairMemo | None = None, pool: RerankerPool | None = None,
) -> list[dict[str, object]]:
    """Summaries for the first stage at ``depth`` and for the reranked run at each blend weight.

    Args:
        memo: cross-encoder pair scores shared between the pipelines of one evaluation (keyed by query id and
            document id); pass the same dict to every call.
        pool: where the reranker is built (pass the same pool to every call so its model loads once).
    """
    base, _ = split_name(name)
    live = (pool or RerankerPool()).reranker(reranker)  # without its top_n and blend: every blend is computed here
    candidates, first_ms = asyncio.run(first_stage(pipeline, queries, spec, depth))
    first_run = {q: {h.id: h.score for h in hits} for q, hits in candidates.items()}
    summaries = [summarize(f"{base}@{depth}", dataset, split, qrels, RunResult(first_run, first_ms), out)]
    reranked, rerank_ms, counts = rerank_all(live, queries, candidates, memo if memo is not None else {})
    for weight in blends:
        label = name if weight == 0 else f"{name}@blend{weight:g}"
        run = blended_run(candidates, reranked, live.stage, weight, reranker.normalization)
        summary = summarize(label, dataset, split, qrels, RunResult(run, rerank_ms), out)
        summary.update(latency_stage="rerank", reranker=reranker.model_dump(mode="json") | {"blend": weight},
                       depth=depth, pairs=sum(len(h) for h in candidates.values()), counts=counts,
                       truncated_pairs=counts.get("truncated", 0))
        if out is not None:  # summarize wrote the plain summary; add what only a rerank run has
            (out / f"{dataset}.{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
        summaries.append(summary)
    return summaries
