"""Micro-batching vs one model call per request: dense search over HTTP (wrk on loopback) at several concurrencies,
the server started once with batching on and once with it off (the cache off in both, so every request encodes).

``python -m benchmarks.bench_batching --index-root indexes --collection scifact --seconds 30``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.loadgen import (
    cpu_seconds,
    delta,
    post,
    prepare,
    print_table,
    run_wrk,
    scrape,
    serve,
    write_bodies,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-root", type=Path, default=Path("indexes"))
    p.add_argument("--collection", default="scifact")
    p.add_argument("--data-dir", type=Path, default=None, help="BEIR folder with queries.jsonl")
    p.add_argument("--queries", type=int, default=2000, help="how many queries to rotate over (all, by default)")
    p.add_argument("--seconds", type=int, default=30, help="duration of each wrk cell")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=2.0)
    p.add_argument("--pass-size", type=int, default=8, help="SIEVE_BATCHING__PASS_SIZE")
    p.add_argument("--batch-concurrency", type=int, default=1, help="SIEVE_BATCHING__CONCURRENCY: batches in flight")
    p.add_argument("--model-dtype", choices=["float32", "bfloat16"], default="float32",
                   help="the service's encoder precision (SIEVE_MODEL_DTYPE), the same in both modes")
    p.add_argument("--out", type=Path, default=Path("results/bench_batching.json"))
    return p.parse_args(argv)


def run_mode(args: argparse.Namespace, batching: bool, bodies: Path, first: dict[str, object]) -> dict[int, dict]:
    env = {"SIEVE_CACHE__ENABLED": "false", "SIEVE_WORKERS": str(args.workers),
           "SIEVE_BATCHING__ENABLED": str(batching).lower(), "SIEVE_BATCHING__MAX_BATCH": str(args.max_batch),
           "SIEVE_BATCHING__MAX_WAIT_MS": str(args.max_wait_ms), "SIEVE_MODEL_DTYPE": args.model_dtype,
           "SIEVE_BATCHING__PASS_SIZE": str(args.pass_size),
           "SIEVE_BATCHING__CONCURRENCY": str(args.batch_concurrency)}
    cells = {}
    with serve(args.index_root, env, args.out.with_suffix(".server.log")) as (port, pid):
        for _ in range(5):  # warm-up: first torch calls are slow
            post(port, first)
        for c in args.concurrency:
            before, cpu = scrape(port), cpu_seconds(pid)
            cell = run_wrk(port, bodies, c, args.seconds)
            cpu, after = cpu_seconds(pid) - cpu, scrape(port)
            cell["server_cpu_ms_per_request"] = round(1000 * cpu / max(1, cell["requests"]), 2)
            calls = delta(after, before, "sieve_batch_size_count", "queries")
            items = delta(after, before, "sieve_batch_size_sum", "queries")
            cell["mean_batch"] = round(items / calls, 2) if calls else None
            cell["errors"] = cell["non_2xx"] + cell["socket_errors"]
            cells[c] = cell
            print(f"  batching={'on ' if batching else 'off'} c={c:<3d} p50 {cell['p50_ms']:8.2f} ms  "
                  f"p99 {cell['p99_ms']:8.2f} ms  {cell['qps']:8.1f} q/s  batch {cell['mean_batch']}  "
                  f"cpu {cell['server_cpu_ms_per_request']} ms/req", flush=True)
    return cells


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    queries = prepare(args)
    bodies = [{"collection": args.collection, "query": q, "k": 10, "retriever": "dense"} for q in queries]
    with tempfile.TemporaryDirectory(prefix="sieve-bench-") as tmp:
        path = write_bodies(Path(tmp) / "dense.jsonl", bodies)
        off = run_mode(args, False, path, bodies[0])
        on = run_mode(args, True, path, bodies[0])
    rows = [{"concurrency": c, "off": off[c], "on": on[c], "qps_ratio": round(on[c]["qps"] / off[c]["qps"], 2),
             "p50_delta_ms": round(on[c]["p50_ms"] - off[c]["p50_ms"], 2)} for c in args.concurrency]
    print(f"\nDense search, batching on vs off (wrk, {args.seconds}s per cell, {len(queries)} queries, cache off, "
          f"encoder {args.model_dtype})")
    print_table(["conc", "off p50", "off p99", "off qps", "off cpu/req", "on p50", "on p99", "on qps", "on cpu/req",
                 "batch", "qps on/off", "p50 on-off", "errors"],
                [[r["concurrency"], r["off"]["p50_ms"], r["off"]["p99_ms"], r["off"]["qps"],
                  r["off"]["server_cpu_ms_per_request"], r["on"]["p50_ms"], r["on"]["p99_ms"], r["on"]["qps"],
                  r["on"]["server_cpu_ms_per_request"], r["on"]["mean_batch"], r["qps_ratio"], r["p50_delta_ms"],
                  r["off"]["errors"] + r["on"]["errors"]] for r in rows])
    print("cpu/req: server CPU ms (all threads) per answered request; the machine's load average during the run: "
          f"{os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "cpus": os.cpu_count(), "queries": len(queries), "rows": rows,
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
