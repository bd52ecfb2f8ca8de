"""``sieve eval beir --pipeline bm25+ce --reranker PATH``: the first stage's top ``depth`` (with texts) reranked by a
cross-encoder, scored side by side with the first stage on the very same candidates, with rerank latency per query.

The model scores each candidate once; every ``--blend`` weight is then computed from those scores, so a sweep costs
one rerank pass.
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
from indexers.types import Hit
from rankers.cross_encoder import CrossEncoderReranker, blend_scores
from rankers.specs import RerankerSpec
from service.pipeline import Pipeline
from service.specs import PipelineSpec

SUFFIX = "+ce"


def split_name(name: str) -> tuple[str, bool]:
    """``bm25+ce`` -> (``bm25``, True); ``hybrid`` -> (``hybrid``, False)."""
    return (name[: -len(SUFFIX)], True) if name.endswith(SUFFIX) else (name, False)


async def first_stage(pipeline: Pipeline, queries: dict[str, str], spec: PipelineSpec, depth: int
                      ) -> tuple[dict[str, list[Hit]], list[float]]:
    """Each query's top ``depth`` first-stage hits with texts (no reranker), and the per-query latencies."""
    hits: dict[str, list[Hit]] = {}
    spec = spec.override(rerank=False)

    async def one(text: str) -> list[Hit]:
        return (await pipeline.run(text, k=depth, spec=spec, include_text=True)).hits

    result = await _gather(queries, one, 4, f"{spec.retriever} top-{depth} (in-process)")
    hits.update(result.run)  # type: ignore[arg-type]
    return hits, result.latencies_ms


def rerank_all(reranker: CrossEncoderReranker, queries: dict[str, str], candidates: dict[str, list[Hit]]
               ) -> tuple[dict[str, list[Hit]], list[float], int]:
    """Rerank one query at a time (what a single request costs); returns hits, latencies and truncated pairs."""
    out: dict[str, list[Hit]] = {}
    latencies: list[float] = []
    truncated = 0
    for qid in tqdm(list(queries), desc=f"rerank ({reranker.spec.model})", unit="q"):
        start = time.perf_counter()
        report = reranker.rerank_with_report(queries[qid], candidates.get(qid, []))
        latencies.append((time.perf_counter() - start) * 1000)
        out[qid] = report.hits
        truncated += report.truncated
    return out, latencies, truncated


def blended_run(first: dict[str, list[Hit]], reranked: dict[str, list[Hit]], weight: float,
                normalization: str) -> Run:
    """Run files for one blend weight, from the raw cross-encoder scores already in ``stage_scores``."""
    run: Run = {}
    for qid, hits in reranked.items():
        prior = {h.id: h.score for h in first.get(qid, [])}
        scored = [h for h in hits if "cross_encoder" in h.stage_scores]
        final = blend_scores([h.stage_scores["cross_encoder"] for h in scored], [prior[h.id] for h in scored],
                             weight, normalization)  # type: ignore[arg-type]
        run[qid] = {h.id: float(s) for h, s in zip(scored, final, strict=True)}
    return run


def evaluate_reranked(
    *, name: str, pipeline: Pipeline, queries: dict[str, str], qrels: Qrels, dataset: str, split: str,
    spec: PipelineSpec, reranker: RerankerSpec, depth: int, blends: Sequence[float], out: Path | None,
) -> list[dict[str, object]]:
    """Summaries for the first stage at ``depth`` and for the reranked run at each blend weight."""
    base, _ = split_name(name)
    ce = CrossEncoderReranker(reranker.model_copy(update={"blend": 0.0, "top_n": None}))
    candidates, first_ms = asyncio.run(first_stage(pipeline, queries, spec, depth))
    first_run = {q: {h.id: h.score for h in hits} for q, hits in candidates.items()}
    summaries = [summarize(f"{base}@{depth}", dataset, split, qrels, RunResult(first_run, first_ms), out)]
    reranked, rerank_ms, truncated = rerank_all(ce, queries, candidates)
    for weight in blends:
        label = name if weight == 0 else f"{name}@blend{weight:g}"
        run = blended_run(candidates, reranked, weight, reranker.normalization)
        summary = summarize(label, dataset, split, qrels, RunResult(run, rerank_ms), out)
        summary.update(latency_stage="rerank", reranker=reranker.model_dump(mode="json") | {"blend": weight},
                       depth=depth, truncated_pairs=truncated, pairs=sum(len(h) for h in candidates.values()))
        if out is not None:  # summarize wrote the plain summary; add what only a rerank run has
            (out / f"{dataset}.{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
        summaries.append(summary)
    return summaries
