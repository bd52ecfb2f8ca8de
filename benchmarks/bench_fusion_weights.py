"""Choose fusion weights for BM25 + SPLADE + dense on one BEIR split, report every combination on another.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.bench_fusion_weights --data ../shared/datasets/scifact \\
        --index-root indexes --collection scifact --tune-split train --test-split test \\
        --out results/fusion_weights_scifact.json

Each retriever runs once per query at ``--depth`` through the real pipeline (``Pipeline.run``, one retriever at a
time); every fused combination is then ``rankers.fusion.fuse`` over those runs, which is what a fused pipeline does
with the same runs (the served figure of the chosen weights can be checked with ``sieve eval beir --pipeline
fuse:bm25+splade+dense --fusion ... --weights ...``). Weights are chosen on the tune split only; the table shows the
test figure of every combination tried beside its tune figure (all of them in the JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

from evaluation.beir_eval import load_pipeline
from evaluation.harness import run_in_process
from evaluation.metrics import Run, evaluate
from indexers.corpus import BeirDataset
from kernel.types import Hit
from rankers.fusion import FusionSpec, fuse
from service.specs import PipelineSpec

STAGES = ("sparse", "splade", "dense")


def simplex(step: float, n: int) -> list[tuple[float, ...]]:
    """Weight vectors of ``n`` non-negative multiples of ``step`` summing to 1, none all on one retriever."""
    units = round(1 / step)
    out = []
    for parts in itertools.product(range(units + 1), repeat=n):
        if sum(parts) == units and max(parts) < units:
            out.append(tuple(round(p * step, 4) for p in parts))
    return out


def candidates(stages: tuple[str, ...], step: float) -> list[tuple[tuple[str, ...], FusionSpec]]:
    """Every pair and the triple, RRF (k=60) and convex (min-max), equal weights and each point of the grid."""
    out: list[tuple[tuple[str, ...], FusionSpec]] = []
    for size in range(2, len(stages) + 1):
        for route in itertools.combinations(stages, size):
            for weights in [None, *simplex(step, size)]:
                out.append((route, FusionSpec(method="convex", weights=weights)))
                out.append((route, FusionSpec(method="rrf", weights=weights)))
    return out


async def single_runs(pipeline, queries: dict[str, str], depth: int, stages: tuple[str, ...],  # type: ignore[no-untyped-def]
                      dims: int | None, saved: dict[str, Run]) -> dict[str, dict[str, list[Hit]]]:
    """Each stage's top ``depth`` per query; ``saved`` (stage -> run) is reused and filled in."""
    runs = {}
    for stage in stages:
        key = f"{stage}@{dims}" if stage == "dense" and dims else stage
        if key not in saved:
            spec = PipelineSpec(retriever=stage, rerank=False, dimensions=dims)  # type: ignore[arg-type]
            saved[key] = (await run_in_process(pipeline, queries, spec, depth)).run
        runs[stage] = {q: [Hit(d, s, stage_scores={stage: s}) for d, s in saved[key][q].items()] for q in queries}
    return runs


def fused_run(runs: dict[str, dict[str, list[Hit]]], route: tuple[str, ...], fusion: FusionSpec, k: int) -> Run:
    return {q: {h.id: h.score for h in fuse([runs[s][q] for s in route], fusion, top_k=k)} for q in runs[route[0]]}


def label(route: tuple[str, ...], fusion: FusionSpec) -> str:
    names = "+".join("bm25" if s == "sparse" else s for s in route)
    weights = ",".join(f"{w:g}" for w in fusion.weights) if fusion.weights else "equal"
    return f"fuse:{names} {fusion.method} [{weights}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--index-root", type=Path, default=Path("indexes"))
    parser.add_argument("--collection", required=True)
    parser.add_argument("--tune-split", default="train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--retrievers", default="sparse,splade,dense", help="comma-separated, of " + ",".join(STAGES))
    parser.add_argument("--dims", type=int, default=None, help="dense: search at this (Matryoshka) dimension")
    parser.add_argument("--runs-cache", type=Path, default=None,
                        help="JSON of single-retriever runs: read if present (same index, depth, dims), then updated")
    parser.add_argument("--out", type=Path, default=Path("results/fusion_weights.json"))
    args = parser.parse_args()
    stages = tuple(args.retrievers.split(","))

    dataset = BeirDataset.open(args.data)
    pipeline = load_pipeline(args.index_root / args.collection)
    splits = {}
    started = time.perf_counter()
    cache = json.loads(args.runs_cache.read_text()) if args.runs_cache and args.runs_cache.is_file() else {}
    for split in dict.fromkeys((args.tune_split, args.test_split)):
        qrels = dataset.qrels(split)
        queries = {q: t for q, t in dataset.queries(split).items() if q in qrels}
        saved = cache.setdefault(f"{split}@{args.depth}", {})
        splits[split] = (qrels, asyncio.run(single_runs(pipeline, queries, args.depth, stages, args.dims, saved)))
    if args.runs_cache:
        args.runs_cache.write_text(json.dumps(cache))
    rows: list[dict[str, Any]] = []
    for stage in stages:
        row: dict[str, Any] = {"pipeline": "bm25" if stage == "sparse" else stage}
        for split, (qrels, runs) in splits.items():
            row[split] = evaluate(qrels, {q: {h.id: h.score for h in hits} for q, hits in runs[stage].items()})
        rows.append(row)
    for route, fusion in candidates(stages, args.step):
        row = {"pipeline": label(route, fusion), "route": list(route), "fusion": fusion.model_dump(mode="json")}
        for split, (qrels, runs) in splits.items():
            row[split] = evaluate(qrels, fused_run(runs, route, fusion, args.depth))
        rows.append(row)
    tune, test = args.tune_split, args.test_split
    fused = [r for r in rows if "route" in r]
    best = {}
    def three(r: dict) -> bool:  # all the retrievers with a weight above 0
        return len(r["route"]) == len(stages) and all(w > 0 for w in r["fusion"]["weights"] or (1,))

    for name, keep in (("triple", three), ("any", lambda r: True)):
        for method in ("convex", "rrf"):
            pool = [r for r in fused if keep(r) and r["fusion"]["method"] == method]
            if pool:
                best[f"{name}/{method}"] = max(pool, key=lambda r: r[tune]["ndcg@10"])["pipeline"]
    summary = {"data": str(args.data), "tune_split": tune, "test_split": test, "depth": args.depth,
               "step": args.step, "dims": args.dims, "seconds": round(time.perf_counter() - started, 1),
               "chosen_on_tune": best, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'pipeline':<52}{tune + ' nDCG@10':>16}{test + ' nDCG@10':>16}{test + ' R@100':>14}")
    shown = [r for r in rows if "route" not in r] + [r for r in fused if r["pipeline"] in best.values()]
    equal = [r for r in fused if r["fusion"]["weights"] is None]
    for r in shown + [r for r in equal if r not in shown]:
        print(f"{r['pipeline']:<52}{r[tune]['ndcg@10']:>16.4f}{r[test]['ndcg@10']:>16.4f}{r[test]['recall@100']:>14.4f}")
    for key, name in best.items():
        print(f"chosen on {tune} ({key}): {name}")
    print(f"{len(fused)} fused combinations; all in {args.out}")


if __name__ == "__main__":
    main()
