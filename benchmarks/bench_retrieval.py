"""Retrieval benchmark: index build cost, HTTP search latency/QPS under wrk, and the same searches in-process.

``python -m benchmarks.bench_retrieval --index-root indexes --collection scifact``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from service.pipeline import Pipeline
    from service.specs import PipelineSpec

LUA = Path(__file__).resolve().parent / "wrk_search.lua"
RETRIEVERS = ("sparse", "dense", "hybrid")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-root", type=Path, default=Path("indexes"))
    p.add_argument("--collection", default="scifact")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="BEIR folder with queries.jsonl [../shared/datasets/<collection>]")
    p.add_argument("--queries", type=int, default=50, help="how many queries to rotate over")
    p.add_argument("--seconds", type=int, default=10, help="duration of each load cell")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--retrievers", nargs="+", default=list(RETRIEVERS), choices=RETRIEVERS)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--dense-index", default=None, help="dense index to search [the collection's first]")
    p.add_argument("--workers", type=int, default=4, help="executor threads, server and in-process alike")
    p.add_argument("--rebuild-sample", type=int, default=0, help="re-encode N docs per encoder backend")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--out", type=Path, default=Path("results/bench_retrieval.json"))
    return p.parse_args(argv)


def read_manifests(folder: Path) -> list[dict[str, object]]:
    """One row per built index, from its manifest (build time and throughput as the build recorded them)."""
    rows = []
    for path in sorted((folder / "indexes").glob("*/manifest.json")):
        m = json.loads(path.read_text())
        build = m.get("build", {})
        backend = (build.get("encoder") or {}).get("backend", "lucene")
        rows.append({"index": m["name"], "kind": m["kind"], "backend": backend, "factory": build.get("factory"),
                     "doc_count": m["doc_count"], "build_seconds": m.get("build_seconds"),
                     "docs_per_second": build.get("docs_per_second"), "vectors_reused": build.get("vectors_reused")})
    return rows


def rebuild_sample(folder: Path, n: int) -> list[dict[str, float | int | str]]:
    """Encode the first ``n`` docs with each encoder backend; load time kept apart from encode time."""
    from indexers.docstore import DocStore
    from indexers.encoders import EncoderSpec, build_encoder

    store = DocStore(folder / "docs.sqlite")
    texts = [d.contents for d, _ in zip(store.iter_docs(), range(n), strict=False)]
    rows = []
    for backend in ("torch", "onnx"):
        start = time.perf_counter()
        encoder = build_encoder(EncoderSpec.model_validate({"backend": backend}))
        loaded = time.perf_counter()
        encoder.encode_docs(texts)
        done = time.perf_counter()
        rows.append({"backend": backend, "docs": len(texts), "load_seconds": round(loaded - start, 2),
                     "encode_seconds": round(done - loaded, 2), "docs_per_second": round(len(texts) / (done - loaded))})
    return rows


def load_queries(data_dir: Path, n: int) -> list[str]:
    """The first ``n`` non-empty query texts of a BEIR ``queries.jsonl``."""
    lines = (data_dir / "queries.jsonl").read_text().splitlines()
    queries = [t for t in (json.loads(x).get("text", "").strip() for x in lines if x.strip()) if t][:n]
    if not queries:
        sys.exit(f"no queries in {data_dir / 'queries.jsonl'}")
    return queries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``sieve serve`` on loopback, output to ``log``; the caller must stop it."""
    sieve = Path(sys.executable).with_name("sieve")
    cmd = [str(sieve), "serve", "--host", "127.0.0.1", "--port", str(port), "--index-root", str(args.index_root)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SIEVE_WORKERS": str(args.workers)}
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_healthy(proc: subprocess.Popen[bytes], port: int, args: argparse.Namespace) -> None:
    """Poll GET /healthz until it answers and lists the collection (bounded by ``--startup-timeout``)."""
    deadline = time.monotonic() + args.startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                health = json.loads(r.read())
        except OSError:
            time.sleep(0.5)
            continue
        if args.collection not in health["collections"]:
            raise SystemExit(f"server does not serve {args.collection!r}: {health}")
        return
    raise SystemExit(f"server not healthy after {args.startup_timeout}s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def check_search(port: int, body: dict[str, object]) -> None:
    """One request outside wrk (also a warm-up): an HTTP error raises, an empty answer is flagged."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/search", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        if not json.loads(r.read())["hits"]:
            print(f"warning: no hits for {body}")


def parse_wrk(text: str) -> dict[str, float]:
    """p50/p99 (``--latency`` distribution), Requests/sec, request count, non-2xx and socket errors."""
    pct = {int(p): float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if not (rps and total and 50 in pct and 99 in pct):
        raise RuntimeError(f"could not parse wrk output:\n{text}")
    return {"p50_ms": pct[50], "p99_ms": pct[99], "qps": float(rps.group(1)), "requests": int(total.group(1)),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(g) for g in sock.groups()) if sock else 0}


def run_wrk(port: int, bodies: Path, concurrency: int, args: argparse.Namespace) -> dict[str, float]:
    threads = max(1, min(os.cpu_count() or 1, concurrency))
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{args.seconds}s", "--latency", "--timeout", "30s",
           "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(bodies)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60, check=True)
    return parse_wrk(out.stdout)


def http_bench(args: argparse.Namespace, queries: list[str], tmp: Path) -> dict[tuple[str, int], dict[str, float]]:
    """Start the server, run wrk for each (retriever, concurrency) cell, always stop the server."""
    port = free_port()
    log = args.out.with_suffix(".server.log")
    print(f"starting sieve serve on 127.0.0.1:{port} (log: {log})")
    proc = start_server(args, port, log)
    results = {}
    try:
        wait_healthy(proc, port, args)
        for retriever in args.retrievers:
            bodies = [{"collection": args.collection, "query": q, "k": args.k, "retriever": retriever,
                       "dense_index": args.dense_index, "include_text": True} for q in queries]
            (path := tmp / f"bodies-{retriever}.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bodies))
            for body in bodies[:3]:
                check_search(port, body)
            for c in args.concurrency:
                results[(retriever, c)] = cell = run_wrk(port, path, c, args)
                print(f"  http {retriever:7s} c={c:<3d} p50 {cell['p50_ms']:8.2f} ms  {cell['qps']:8.1f} q/s")
    finally:
        stop_server(proc)
    return results


async def inproc_cell(pipeline: Pipeline, spec: PipelineSpec, queries: list[str], concurrency: int,
                      args: argparse.Namespace) -> dict[str, float]:
    """``concurrency`` worker tasks calling ``pipeline.run`` back to back for ``args.seconds``."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    deadline = start + args.seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await pipeline.run(queries[i % len(queries)], k=args.k, spec=spec, include_text=True)
                latencies.append((time.perf_counter() - t0) * 1000)
            except Exception:  # counted and reported, like wrk's non-2xx
                errors += 1
            i += 1

    await asyncio.gather(*(worker(w * 7) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat = np.array(latencies or [float("nan")])
    return {"p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "qps": round(len(latencies) / elapsed, 2), "requests": len(latencies), "errors": errors}


def inproc_bench(args: argparse.Namespace, queries: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    from evaluation.beir_eval import load_pipeline
    from service.specs import PipelineSpec

    pipeline = load_pipeline(args.index_root / args.collection, workers=args.workers)

    async def all_cells() -> dict[tuple[str, int], dict[str, float]]:
        results = {}
        for retriever in args.retrievers:
            spec = PipelineSpec().override(retriever=retriever, dense_index=args.dense_index)
            for q in queries[:3]:  # warm-up: loads the encoder / JVM searcher like the server's first requests
                await pipeline.run(q, k=args.k, spec=spec, include_text=True)
            for c in args.concurrency:
                results[(retriever, c)] = cell = await inproc_cell(pipeline, spec, queries, c, args)
                print(f"  in-process {retriever:7s} c={c:<3d} p50 {cell['p50_ms']:8.2f} ms  {cell['qps']:8.1f} q/s")
        return results

    return asyncio.run(all_cells())


def fmt(value: object, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def search_rows(http: dict, inproc: dict) -> list[dict[str, object]]:
    return [{"retriever": key[0], "concurrency": key[1], "http": h, "inproc": inproc[key],
             "p50_ratio_http_over_inproc": round(h["p50_ms"] / inproc[key]["p50_ms"], 3),
             "qps_ratio_inproc_over_http": round(inproc[key]["qps"] / h["qps"], 3) if h["qps"] else None}
            for key, h in http.items()]


def report(builds: list[dict], samples: list[dict], searches: list[dict], dense: str | None) -> None:
    print("\nIndex builds (from manifests)")
    print_table(["index", "kind", "backend", "factory", "docs", "build_s", "docs/s"],
                [[b["index"], b["kind"], b["backend"], b["factory"], b["doc_count"], b["build_seconds"],
                  b["docs_per_second"] if not b["vectors_reused"] else "reused"] for b in builds])
    if samples:
        print("\nEncoder re-encode sample")
        print_table(["backend", "docs", "load_s", "encode_s", "docs/s"],
                    [[s["backend"], s["docs"], s["load_seconds"], s["encode_seconds"], s["docs_per_second"]]
                     for s in samples])
    print(f"\nSearch: HTTP (wrk -> sieve serve) vs in-process (pipeline.run); ms; dense index {dense!r}")
    print_table(["retriever", "conc", "http p50", "http p99", "http qps", "http err",
                 "inproc p50", "inproc p99", "inproc qps", "inproc err", "p50 http/in", "qps in/http"],
                [[r["retriever"], r["concurrency"], r["http"]["p50_ms"], r["http"]["p99_ms"], r["http"]["qps"],
                  r["http"]["non_2xx"] + r["http"]["socket_errors"], r["inproc"]["p50_ms"], r["inproc"]["p99_ms"],
                  r["inproc"]["qps"], r["inproc"]["errors"], round(r["p50_ratio_http_over_inproc"], 2),
                  fmt(r["qps_ratio_inproc_over_http"], 2)] for r in searches])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = args.index_root / args.collection
    if not (folder / "docs.sqlite").is_file():
        sys.exit(f"no built collection at {folder}")
    queries = load_queries(args.data_dir or Path("../shared/datasets") / args.collection, args.queries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    builds = read_manifests(folder)
    dense = args.dense_index or next((b["index"] for b in builds if b["kind"] == "dense"), None)
    samples = rebuild_sample(folder, args.rebuild_sample) if args.rebuild_sample > 0 else []
    with tempfile.TemporaryDirectory(prefix="sieve-bench-") as tmp:
        http = http_bench(args, queries, Path(tmp))
    inproc = inproc_bench(args, queries)
    searches = search_rows(http, inproc)
    report(builds, samples, searches, dense)
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "cpus": os.cpu_count(), "queries": len(queries), "dense_index_searched": dense, "builds": builds,
              "encode_sample": samples, "search": searches,
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
