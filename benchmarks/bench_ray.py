"""Scale-out on Ray, in one run: encoding throughput of a sharded build with 1 and 2 encoder actors (against the
single-process build of the same slice), and the router's added latency per query (sharded vs single-node, the
same documents) at concurrency 1 and 16, p50/p99, for BM25, dense and hybrid.

``python -m benchmarks.bench_ray --docs 600 --shards 2 --queries 100``

Everything runs on one local Ray cluster (2 CPUs) on this machine; the latency cells call the real app in process
(httpx over ASGI, result cache off), the single-node and the sharded collection served side by side by one app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from asgi_lifespan import LifespanManager

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("/work/shared/datasets/scifact"))
    p.add_argument("--docs", type=int, default=600, help="the corpus's first N documents")
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--queries", type=int, default=100, help="test queries per latency cell")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--work", type=Path, default=None, help="where to build (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=Path("results/bench_ray.json"))
    return p.parse_args(argv)


def build_all(args: argparse.Namespace, root: Path) -> dict[str, dict[str, Any]]:
    from indexers.bm25 import Bm25IndexSpec
    from indexers.collection import BuildPlan, build_collection
    from indexers.dense import DenseIndexSpec
    from indexers.sharding.build import ShardedPlan, build_sharded

    builds: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    built = build_collection(BuildPlan(name="single", source=args.data, limit=args.docs,
                                       sparse=(Bm25IndexSpec(name="bm25"),), dense=(DenseIndexSpec(prefixes=None),)),
                             root)
    dense = built["dense"].build
    builds["single process (no Ray)"] = {"docs_per_s": dense["docs_per_second"], "encode_s": dense["encode_seconds"],
                                         "build_s": round(time.perf_counter() - t0, 1)}
    for workers in (1, 2):
        t0 = time.perf_counter()
        m = build_sharded(ShardedPlan(name=f"sharded-{workers}", source=args.data, limit=args.docs,
                                      shards=args.shards, encoder_workers=workers), root)
        builds[f"Ray, {workers} encoder actor{'s' if workers > 1 else ''}"] = {
            "docs_per_s": m.build["encode_docs_per_second"], "encode_s": m.build["encode_seconds"],
            "build_s": round(time.perf_counter() - t0, 1)}
    return builds


async def latency_cells(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    from service.config import CacheSettings, RaySettings, Settings
    from service.main import create_app

    queries = [json.loads(line)["text"] for line in (args.data / "queries.jsonl").open() if line.strip()]
    qrels_ids = {line.split("\t")[0] for line in (args.data / "qrels" / "test.tsv").open()}
    test = [json.loads(line) for line in (args.data / "queries.jsonl").open() if line.strip()]
    queries = [q["text"] for q in test if q["_id"] in qrels_ids][: args.queries] or queries[: args.queries]
    settings = Settings(index_root=root, workers=4, cache=CacheSettings(enabled=False), deadline_ms=60_000,
                        ray=RaySettings(enabled=True, shard_timeout_ms=30_000))
    cells = []
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sieve", timeout=120) as client:
            for retriever in ("sparse", "dense", "hybrid"):
                for c in args.concurrency:
                    for collection in ("single", "sharded-2"):
                        lat = await run_cell(client, collection, retriever, queries, c)
                        cells.append({"retriever": retriever, "concurrency": c, "collection": collection,
                                      "p50_ms": round(float(np.percentile(lat, 50)), 2),
                                      "p99_ms": round(float(np.percentile(lat, 99)), 2),
                                      "qps": round(len(lat) / (sum(lat) / 1000 / c), 1)})
    return cells


async def run_cell(client: httpx.AsyncClient, collection: str, retriever: str, queries: list[str],
                   concurrency: int) -> list[float]:
    sem = asyncio.Semaphore(concurrency)
    for q in queries[:3]:  # warm-up
        await client.post("/v1/search", json={"collection": collection, "query": q, "retriever": retriever})

    async def one(q: str) -> float:
        async with sem:
            t0 = time.perf_counter()
            resp = await client.post("/v1/search", json={"collection": collection, "query": q, "k": 10,
                                                         "retriever": retriever, "include_text": False})
            ms = (time.perf_counter() - t0) * 1000
            body = resp.json()
            if resp.status_code != 200 or body.get("degraded"):
                raise RuntimeError(f"{collection} {retriever}: {resp.status_code} {body.get('degraded')}")
            return ms

    return list(await asyncio.gather(*(one(q) for q in queries)))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from indexers.sharding.cluster import init_local

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        ray = init_local(num_cpus=2)
        try:
            builds = build_all(args, root)
            cells = asyncio.run(latency_cells(args, root))
        finally:
            ray.shutdown()
    base = builds["Ray, 1 encoder actor"]["docs_per_s"]
    print(f"\nencoding {args.docs} SciFact docs (MiniLM, torch, CPU), {args.shards} shards; load: {load}")
    print(f"{'build':<28}{'docs/s':>10}{'encode s':>10}{'build s':>10}{'vs 1 actor':>12}")
    for name, b in builds.items():
        print(f"{name:<28}{b['docs_per_s']:>10}{b['encode_s']:>10}{b['build_s']:>10}{b['docs_per_s'] / base:>11.2f}x")
    print(f"\nlatency per query, {args.queries} SciFact test queries, in-process app, single vs {args.shards} shards")
    print(f"{'retriever':<10}{'conc':>5}{'single p50':>12}{'p99':>9}{'sharded p50':>13}{'p99':>9}{'added p50':>11}"
          f"{'added p99':>11}")
    for i in range(0, len(cells), 2):
        one, many = cells[i], cells[i + 1]
        print(f"{one['retriever']:<10}{one['concurrency']:>5}{one['p50_ms']:>12}{one['p99_ms']:>9}"
              f"{many['p50_ms']:>13}{many['p99_ms']:>9}{many['p50_ms'] - one['p50_ms']:>11.2f}"
              f"{many['p99_ms'] - one['p99_ms']:>11.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "uptime_before": load,
                                    "uptime_after": subprocess.run(["uptime"], capture_output=True,
                                                                   text=True).stdout.strip(),
                                    "builds": builds, "latency": cells}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
