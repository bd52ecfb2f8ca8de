"""Run every query of a BEIR split through a pipeline (in-process or over HTTP), then score the run."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from tqdm.auto import tqdm

from evaluation.metrics import Qrels, Run, evaluate
from evaluation.runfile import write_trec_run
from service.pipeline import Pipeline
from service.specs import PipelineSpec

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class RunResult:
    run: Run
    latencies_ms: list[float]


async def _gather(
    queries: dict[str, str], one: Callable[[str], Awaitable[T]], concurrency: int, desc: str
) -> tuple[dict[str, T], list[float]]:
    """``one`` over every query, ``concurrency`` at a time: its result per query id, and the latencies in ms."""
    sem = asyncio.Semaphore(concurrency)
    run: dict[str, T] = {}
    latencies: list[float] = []
    bar = tqdm(total=len(queries), desc=desc, unit="q")

    async def task(qid: str, text: str) -> None:
        async with sem:
            start = time.perf_counter()
            run[qid] = await one(text)
            latencies.append((time.perf_counter() - start) * 1000)
            bar.update()

    await asyncio.gather(*(task(q, t) for q, t in queries.items()))
    bar.close()
    return run, latencies


async def run_in_process(
    pipeline: Pipeline, queries: dict[str, str], spec: PipelineSpec, k: int, concurrency: int = 4
) -> RunResult:
    """The same ``Pipeline.run`` the HTTP route calls, without texts."""

    async def one(text: str) -> dict[str, float]:
        result = await pipeline.run(text, k=k, spec=spec, include_text=False)
        return {h.id: h.score for h in result.hits}

    return RunResult(*await _gather(queries, one, concurrency, f"{spec.retriever} (in-process)"))


async def run_over_http(
    url: str, collection: str, queries: dict[str, str], spec: PipelineSpec, k: int, concurrency: int = 4
) -> RunResult:
    """The same queries against a running server's ``POST /v1/search``."""
    payload = spec.model_dump(mode="json", exclude={"rerank_depth", "rerank"})
    if spec.rerank and spec.rerank_depth:  # the wire names it inside the rerank options
        payload["rerank"] = {"depth": spec.rerank_depth}
    # else no `rerank` at all: the server's own default second stage, as in process (an explicit `rerank: true`
    # would make a server without one rerank with its first served model)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(text: str) -> dict[str, float]:
            body = {**payload, "collection": collection, "query": text, "k": k, "include_text": False}
            resp = await client.post("/v1/search", json=body)
            resp.raise_for_status()
            return {h["id"]: h["score"] for h in resp.json()["hits"]}

        return RunResult(*await _gather(queries, one, concurrency, f"{spec.retriever} (http)"))


def summarize(
    name: str, dataset: str, split: str, qrels: Qrels, result: RunResult, out_dir: Path | None
) -> dict[str, object]:
    """Metrics + latency summary; writes ``<name>.trec`` and ``<name>.json`` under ``out_dir``."""
    lat = sorted(result.latencies_ms)
    summary: dict[str, object] = {
        "dataset": dataset,
        "split": split,
        "pipeline": name,
        "metrics": evaluate(qrels, result.run),
        "latency_ms": {
            "p50": statistics.median(lat) if lat else 0.0,
            "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0.0,
        },
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_trec_run(result.run, out_dir / f"{dataset}.{name}.trec", tag=f"sieve-{name}")
        (out_dir / f"{dataset}.{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
