"""Load benchmark: wrk on loopback against ``sieve serve``, concurrency 32, every retriever (sparse = BM25, dense,
hybrid), first with the cache off, then with Redis (a private redis-server) cold (emptied first) and warm (every
query already answered once). Reports wrk's p50/p99/QPS and errors, and from ``/metrics`` the result-cache hit
ratio, degraded answers and the mean encoder batch of each cell.

``python -m benchmarks.bench_load --index-root indexes --collection scifact --seconds 60``
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
    redis_flush,
    redis_server,
    run_wrk,
    scrape,
    serve,
    write_bodies,
)

RETRIEVERS = ("sparse", "dense", "hybrid")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-root", type=Path, default=Path("indexes"))
    p.add_argument("--collection", default="scifact")
    p.add_argument("--data-dir", type=Path, default=None, help="BEIR folder with queries.jsonl")
    p.add_argument("--queries", type=int, default=2000, help="how many queries to rotate over (all, by default)")
    p.add_argument("--seconds", type=int, default=60, help="duration of each wrk cell")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--retrievers", nargs="+", default=list(RETRIEVERS), choices=RETRIEVERS)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path("results/bench_load.json"))
    return p.parse_args(argv)


def cell(server: tuple[int, int], bodies: Path, args: argparse.Namespace, label: str) -> dict[str, float | None]:
    """One wrk run, with the server's own counters and CPU time for the same window."""
    port, pid = server
    before, cpu = scrape(port), cpu_seconds(pid)
    out: dict[str, float | None] = dict(run_wrk(port, bodies, args.concurrency, args.seconds))
    cpu, after = cpu_seconds(pid) - cpu, scrape(port)
    out["server_cpu_ms_per_request"] = round(1000 * cpu / max(1.0, out["requests"] or 0), 2)
    hits = delta(after, before, "sieve_cache_requests_total", '"result"', '"hit"')
    misses = delta(after, before, "sieve_cache_requests_total", '"result"', '"miss"')
    calls = delta(after, before, "sieve_batch_size_count", "queries")
    out["errors"] = (out["non_2xx"] or 0) + (out["socket_errors"] or 0)
    out["hit_ratio"] = round(hits / (hits + misses), 3) if hits + misses else None
    out["degraded"] = delta(after, before, "sieve_degraded_total")
    out["mean_batch"] = round(delta(after, before, "sieve_batch_size_sum", "queries") / calls, 2) if calls else None
    print(f"  {label:22s} p50 {out['p50_ms']:8.2f} ms  p99 {out['p99_ms']:8.2f} ms  {out['qps']:8.1f} q/s  "
          f"errors {out['errors']}  hits {out['hit_ratio']}", flush=True)
    return out


def prefill(port: int, bodies: list[dict[str, object]]) -> None:
    """Answer every body once, so the next cell starts with every result cached."""
    for body in bodies:
        post(port, body)


def run(args: argparse.Namespace, bodies: dict[str, list[dict[str, object]]], tmp: Path) -> list[dict]:
    files = {r: write_bodies(tmp / f"{r}.jsonl", b) for r, b in bodies.items()}
    log = args.out.with_suffix(".server.log")
    base = {"SIEVE_WORKERS": str(args.workers)}
    rows = []
    with serve(args.index_root, {**base, "SIEVE_CACHE__ENABLED": "false"}, log) as server:
        for r in args.retrievers:
            for body in bodies[r][:5]:
                post(server[0], body)  # warm-up (JVM, torch)
            rows.append({"retriever": r, "cache": "off", **cell(server, files[r], args, f"{r} cache off")})
    with redis_server() as redis_port:
        env = {**base, "SIEVE_CACHE__URL": f"redis://127.0.0.1:{redis_port}/0"}
        with serve(args.index_root, env, log) as server:
            for r in args.retrievers:
                for body in bodies[r][:5]:
                    post(server[0], {**body, "k": 11})  # warm-up on other keys
                redis_flush(redis_port)
                rows.append({"retriever": r, "cache": "cold", **cell(server, files[r], args, f"{r} redis cold")})
                prefill(server[0], bodies[r])
                rows.append({"retriever": r, "cache": "warm", **cell(server, files[r], args, f"{r} redis warm")})
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    queries = prepare(args)
    bodies = {r: [{"collection": args.collection, "query": q, "k": 10, "retriever": r} for q in queries]
              for r in args.retrievers}
    with tempfile.TemporaryDirectory(prefix="sieve-bench-") as tmp:
        rows = run(args, bodies, Path(tmp))
    print(f"\nLoad: wrk c={args.concurrency}, {args.seconds}s per cell, {len(queries)} rotating queries, k=10, "
          f"{args.workers} workers, batching on (defaults)")
    print_table(["retriever", "cache", "p50 ms", "p99 ms", "QPS", "requests", "errors", "hit ratio", "degraded",
                 "mean batch", "cpu ms/req"],
                [[r["retriever"], r["cache"], r["p50_ms"], r["p99_ms"], r["qps"], r["requests"], r["errors"],
                  "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}", r["degraded"], r["mean_batch"],
                  r["server_cpu_ms_per_request"]]
                 for r in rows])
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "cpus": os.cpu_count(), "queries": len(queries), "rows": rows,
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
