"""Served throughput of early-exit query encoding: dense queries per second through ``Pipeline.run`` at a given
concurrency, full depth against ``layers`` = L (its compatibility map) or against a registered shallow query encoder
(``--query-encoder``, e.g. a distilled 3-layer one), alternating passes in the same run.

The pipeline is the service's (micro-batched query encoding, no result or vector cache), over a scratch copy of the
collection's doc store and dense index (hard links) given early-exit maps by ``fit_early_exit`` (pseudo-query
encodings from ``--cache`` when ``bench_early_exit`` made them).

    python -m benchmarks.bench_early_exit_qps --index-root indexes --collection scifact \
        --data-dir ../shared/datasets --layers 3 --concurrency 32
    python -m benchmarks.bench_early_exit_qps --index-root indexes --collection scifact \
        --data-dir ../shared/datasets --query-encoder distil-l3 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indexers.collection import open_collection
from indexers.corpus import BeirDataset
from service.config import BatchingSettings
from service.encoders import AsyncEncoders, EncoderCache
from service.pipeline import Pipeline
from service.specs import PipelineSpec
from training.early_exit import fit_early_exit


async def qps(pipeline: Pipeline, queries: list[str], spec: PipelineSpec, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(text: str) -> None:
        async with sem:
            await pipeline.run(text, k=10, spec=spec, include_text=False)

    start = time.perf_counter()
    await asyncio.gather(*(one(q) for q in queries))
    return len(queries) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-root", type=Path, default=Path("indexes"))
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--query-encoder", default=None,
                        help="a registered query encoder to compare with full depth instead of --layers' map")
    parser.add_argument("--cache", type=Path, default=Path("results/early_exit_cache"))
    parser.add_argument("--out", type=Path, default=Path("results/bench_early_exit_qps.json"))
    args = parser.parse_args()
    queries = list(BeirDataset.open(args.data_dir / args.collection).queries("test").values())
    with tempfile.TemporaryDirectory(dir=args.index_root) as tmp:
        src, dst = args.index_root / args.collection, Path(tmp) / args.collection
        (dst / "indexes").mkdir(parents=True)
        for name in ("docs.sqlite", "collection.json"):
            os.link(src / name, dst / name)
        shutil.copytree(src / "indexes" / "dense", dst / "indexes" / "dense", copy_function=os.link,
                        ignore=shutil.ignore_patterns("early_exit.npz"))
        if args.query_encoder:
            shutil.copytree(src / "query_encoders" / args.query_encoder, dst / "query_encoders" / args.query_encoder,
                            copy_function=os.link)
        else:
            col = open_collection(dst)
            fit_early_exit(col, "dense", [args.layers], cache_dir=args.cache)
            col.close()
        executor = ThreadPoolExecutor(max_workers=args.workers)
        encoders = EncoderCache()
        pipeline = Pipeline(open_collection(dst), encoders, executor,
                            async_encoders=AsyncEncoders(encoders, executor, batching=BatchingSettings()))
        full = PipelineSpec(retriever="dense")
        early = (PipelineSpec(retriever="dense", query_encoder=args.query_encoder) if args.query_encoder
                 else PipelineSpec(retriever="dense", layers=args.layers))
        label = args.query_encoder or f"L{args.layers}"
        rows: dict[str, list[float]] = {"full": [], label: []}

        async def measure() -> None:  # one event loop: the micro-batchers live on it
            await qps(pipeline, queries[:40], full, args.concurrency)  # warm-up: models, the truncated copy
            await qps(pipeline, queries[:40], early, args.concurrency)
            for _ in range(args.passes):
                rows["full"].append(round(await qps(pipeline, queries, full, args.concurrency), 1))
                rows[label].append(round(await qps(pipeline, queries, early, args.concurrency), 1))

        asyncio.run(measure())
    best = {name: max(values) for name, values in rows.items()}
    print(f"{args.collection}: {len(queries)} dense queries per pass, concurrency {args.concurrency}, "
          f"{args.workers} workers, micro-batching on; QPS per pass {rows}")
    print(f"best pass: full {best['full']} QPS, {label} {best[label]} QPS (x{best[label] / best['full']:.2f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"collection": args.collection, "concurrency": args.concurrency,
                                    "queries": len(queries), "qps": rows, "best": best}, indent=2) + "\n")


if __name__ == "__main__":
    main()
