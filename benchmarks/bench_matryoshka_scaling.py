"""Matryoshka funnel scaling: flat full-dim vs HNSW vs shortlist-then-rescore, on clustered synthetic vectors.

``python -m benchmarks.bench_matryoshka_scaling [--sizes 100000,300000,1000000]``; see benchmarks/README.md.
Top-10 by cosine on unit vectors; exact flat search is the ground truth; latencies are one query per call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from indexers.dense.build import DenseIndexSpec, make_faiss_index  # none of these imports faiss at import time
from indexers.matryoshka.build import prefix_file
from indexers.matryoshka.codes import build_code_index, bytes_per_vector, search_code_index, write_code_index
from indexers.matryoshka.spec import FunnelSpec
from indexers.matryoshka.transform import fit_pca
from indexers.matryoshka.view import MatryoshkaView

CHUNK = 65536
MB = 1 << 20
Clusters = tuple[NDArray[np.float64], NDArray[np.float64]]
COLUMNS = [("N", "n", ""), ("method", "method", ""), ("setting", "setting", ""), ("index_MB", "index_mb", ".1f"),
           ("disk_MB", "disk_mb", ".0f"), ("build_s", "build_s", ".1f"), ("p50_ms", "p50_ms", ".2f"),
           ("p99_ms", "p99_ms", ".2f"), ("recall@10", "recall", ".3f"), ("speedup", "speedup_p50", ".1f"),
           ("note", "note", "")]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=ints, default=ints("100000,300000,1000000"))
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--alpha", type=float, default=1.0, help="spectrum decay: variance of dim i ~ 1/(i+1)^alpha")
    p.add_argument("--noise", type=float, default=1.0, help="point-around-centre scale (centres have total var 1)")
    p.add_argument("--mean-offset", type=float, default=0.6, help="shared mean direction (random-pair cosine > 0)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--target-recall", type=float, default=0.99)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=80)
    p.add_argument("--ef-cap", type=int, default=1024, help="efSearch doubles from 64 up to this")
    p.add_argument("--hnsw-max-n", type=int, default=1_000_000, help="skip HNSW above this N")
    p.add_argument("--hnsw-budget", type=float, default=600.0, help="max predicted HNSW build s, else lower efC")
    p.add_argument("--funnel-dims", type=int, default=64)
    p.add_argument("--codes", default="sq8,fp32", help="prefix-index codes to try (fp32, sq8, binary)")
    p.add_argument("--rescore", default="view,raw", help="view: MatryoshkaView.funnel; raw: no rotation")
    p.add_argument("--shortlists", type=ints, default=ints("100,200,500,1000,2000,5000"))
    p.add_argument("--pca-sample", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", type=Path, default=None, help="where the full-vector .npy files go [tmp]")
    p.add_argument("--out", type=Path, default=Path("results/bench_matryoshka_scaling.json"))
    return p.parse_args(argv)


def make_clusters(args: argparse.Namespace) -> Clusters:
    """Centres, and the map from white noise to noise in a random rotated basis with a decaying spectrum."""
    rng = np.random.default_rng([args.seed, 0])
    rotation, _ = np.linalg.qr(rng.standard_normal((args.dims, args.dims)))
    scale = np.arange(1, args.dims + 1) ** (-args.alpha / 2)
    basis = (scale / np.linalg.norm(scale))[:, None] * rotation.T  # white noise @ basis: var of axis i ~ scale^2
    mean = rng.standard_normal(args.dims)
    centres = rng.standard_normal((args.clusters, args.dims)) @ basis + args.mean_offset * mean / np.linalg.norm(mean)
    return centres, args.noise * basis


def sample(clusters: Clusters, n: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """``n`` unit vectors: a random centre plus anisotropic noise."""
    centres, noise = clusters
    x = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, len(noise))) @ noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_corpus(path: Path, clusters: Clusters, n: int, seed: int) -> NDArray[np.float32]:
    """Chunked, seeded per chunk (so smaller corpora are prefixes of larger ones); returns the read-only memmap."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, clusters[0].shape[1]))
    for i, start in enumerate(range(0, n, CHUNK)):
        out[start : start + CHUNK] = sample(clusters, min(CHUNK, n - start), np.random.default_rng([seed, 1, i]))
    out.flush()
    return np.load(path, mmap_mode="r")


def recall(found: NDArray[np.int64], truth: NDArray[np.int64], k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


def timed_single(search: Callable[[NDArray[np.float32]], NDArray[np.int64]], queries: NDArray[np.float32],
                 truth: NDArray[np.int64], k: int) -> dict[str, float]:
    """One query per call, like a service; p50/p99 in ms and recall@k of those very results."""
    for q in queries[:5]:
        search(q[None])  # warm up (page cache, allocator)
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(search(q[None])[:k])
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "recall": recall(np.array(found), truth, k)}


def bench_flat(vectors: NDArray[np.float32], queries: NDArray[np.float32], k: int) -> tuple[dict, NDArray]:
    start = time.perf_counter()
    index: Any = make_faiss_index(vectors, DenseIndexSpec.model_validate({"factory": "Flat"}))
    build = time.perf_counter() - start
    truth = index.search(queries, k)[1]
    stats = timed_single(lambda q: index.search(q, k)[1][0], queries, truth, k)
    return {"method": "flat", "setting": f"IndexFlatIP {vectors.shape[1]} fp32", "build_s": build,
            "index_mb": index.ntotal * index.code_size / MB, **stats}, truth


def hnsw_plan(n: int, args: argparse.Namespace, seen: tuple[int, float, int] | None) -> tuple[int | None, str]:
    """efConstruction to build with at ``n`` (None: skip), from the last build's (n, seconds, efC), ~ N log N * efC."""
    if n > args.hnsw_max_n:
        return None, f"skipped: N > --hnsw-max-n {args.hnsw_max_n}"
    if seen is None:
        return args.ef_construction, ""
    n0, secs, ef0 = seen
    predicted = secs * n / n0 * math.log(n) / math.log(n0) * args.ef_construction / ef0
    if predicted <= args.hnsw_budget:
        return args.ef_construction, f"predicted build {predicted:.0f}s"
    ef = int(args.ef_construction * args.hnsw_budget / predicted)
    if ef < 16:
        return None, f"skipped: predicted build {predicted:.0f}s > budget {args.hnsw_budget:.0f}s"
    return ef, f"efConstruction lowered to {ef}: predicted {predicted:.0f}s at {args.ef_construction}"


def bench_hnsw(vectors: NDArray[np.float32], queries: NDArray[np.float32], truth: NDArray[np.int64],
               ef_construction: int, args: argparse.Namespace) -> dict:
    import faiss

    start = time.perf_counter()
    spec = DenseIndexSpec.model_validate({"factory": f"HNSW{args.hnsw_m}", "hnsw_ef_construction": ef_construction})
    index: Any = make_faiss_index(vectors, spec)
    build = time.perf_counter() - start
    hnsw = cast(Any, faiss.downcast_index(index)).hnsw
    for ef in (64 << i for i in range(20)):  # tune on the batch (fast), then time single queries at that ef
        hnsw.efSearch = ef
        if ef * 2 > args.ef_cap or recall(index.search(queries, args.k)[1], truth, args.k) >= args.target_recall:
            break
    stats = timed_single(lambda q: index.search(q, args.k)[1][0], queries, truth, args.k)
    links = hnsw.neighbors.size() * 4 + hnsw.levels.size() * 4 + hnsw.offsets.size() * 8
    return {"method": "hnsw", "setting": f"M={args.hnsw_m} efC={ef_construction} efSearch={ef}", "build_s": build,
            "index_mb": (index.ntotal * vectors.shape[1] * 4 + links) / MB, "ef_search": ef,
            "ef_construction": ef_construction, **stats}


def build_funnel(folder: Path, vectors: NDArray[np.float32], args: argparse.Namespace) -> tuple[Any, dict, dict]:
    """Sieve's own pieces: PCA on a sample, prefix indexes per code, a MatryoshkaView over the memmapped vectors."""
    codes, dims = args.codes.split(","), args.funnel_dims
    start = time.perf_counter()
    transform = fit_pca(vectors, sample=args.pca_sample, seed=args.seed)
    transform.save(folder)
    prefixes = np.vstack([transform.prefix(vectors[i : i + CHUNK], dims) for i in range(0, len(vectors), CHUNK)])
    shared = time.perf_counter() - start
    indexes, build = {}, {}
    for code in codes:
        start = time.perf_counter()
        indexes[code] = build_code_index(prefixes, code)
        write_code_index(indexes[code], code, str(folder / prefix_file(dims, code)))
        build[code] = shared + time.perf_counter() - start
    info = {"full_dims": vectors.shape[1], "dims": [dims], "codes": codes,
            "funnel": {"dims": dims, "code": codes[0]}}
    return MatryoshkaView(folder, info, vectors), indexes, build


def funnel_searchers(view: Any, indexes: dict, vectors: NDArray[np.float32], k: int) -> dict[str, Callable]:
    """``view``: MatryoshkaView.funnel as served (it rotates every candidate into PCA space before rescoring);
    ``raw``: the same shortlist rescored with the stored vectors as they are (same scores: PCA is a rotation)."""
    assert view.transform.preserves_full_scores

    def via_view(queries: NDArray[np.float32], spec: Any) -> list[NDArray[np.int64]]:
        return [pos for _, pos in view.funnel(queries, k, spec)[0]]

    def raw(queries: NDArray[np.float32], spec: Any) -> list[NDArray[np.int64]]:
        prefix = view.transform.prefix(queries, spec.dims)
        _, shortlist = search_code_index(indexes[spec.code], spec.code, prefix, spec.shortlist)
        out = []
        for q, cand in zip(queries, shortlist, strict=True):
            cand = np.sort(cand[cand >= 0])  # ascending positions read the memory map in order
            out.append(cand[np.argsort(-(np.asarray(vectors[cand]) @ q))[:k]])
        return out

    return {"view": via_view, "raw": raw}


def bench_funnel(search: Callable, code: str, queries: NDArray[np.float32], truth: NDArray[np.int64],
                 args: argparse.Namespace) -> dict:
    """Grow the shortlist until recall@k reaches the target (batch), then time single queries at that setting."""
    for shortlist in args.shortlists:
        spec = FunnelSpec.model_validate({"dims": args.funnel_dims, "code": code, "shortlist": shortlist})
        if recall(np.array(search(queries, spec)), truth, args.k) >= args.target_recall:
            break
    stats = timed_single(lambda q: search(q, spec)[0], queries, truth, args.k)
    return {"setting": f"{args.funnel_dims}d {code} shortlist={shortlist}", "shortlist": shortlist, **stats}


def run_size(n: int, clusters: Clusters, queries: NDArray[np.float32], args: argparse.Namespace,
             work: Path, seen: tuple[int, float, int] | None) -> tuple[list[dict], tuple[int, float, int] | None]:
    folder = work / f"n{n}"
    folder.mkdir()
    start, load = time.perf_counter(), os.getloadavg()[0]
    vectors = write_corpus(folder / "vectors.npy", clusters, n, args.seed)
    print(f"\n== N={n}: generated in {time.perf_counter() - start:.1f}s, load avg {load:.1f}", flush=True)
    flat, truth = bench_flat(vectors, queries, args.k)
    rows = [flat]
    ef_construction, note = hnsw_plan(n, args, seen)
    if ef_construction is None:
        rows.append({"method": "hnsw", "setting": "-", "skipped": True})
    else:
        rows.append(bench_hnsw(vectors, queries, truth, ef_construction, args))
        seen = (n, rows[-1]["build_s"], ef_construction)
    rows[-1]["note"] = note
    view, indexes, builds = build_funnel(folder, vectors, args)
    searchers = funnel_searchers(view, indexes, vectors, args.k)
    disk = (folder / "vectors.npy").stat().st_size / MB
    rows += [{"method": f"funnel-{code}-{how}", **bench_funnel(searchers[how], code, queries, truth, args),
              "build_s": secs, "index_mb": bytes_per_vector(args.funnel_dims, code) * n / MB, "disk_mb": disk}
             for code, secs in builds.items() for how in args.rescore.split(",")]
    for row in rows:
        row.update(n=n, load_avg_1m=load, note=row.get("note", ""))
        if "p50_ms" in row:
            row["speedup_p50"] = flat["p50_ms"] / row["p50_ms"]
        print(f"  {row['method']:16s} {row['setting']:28s} " + (
            f"p50 {row['p50_ms']:8.2f} ms  recall {row['recall']:.3f}" if "p50_ms" in row else row["note"]), flush=True)
    del view, indexes, searchers, vectors
    shutil.rmtree(folder)
    return rows, seen


def print_table(rows: list[dict]) -> None:
    cells = [[format(r[key], spec) if r.get(key) is not None else "-" for _, key, spec in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _, _) in enumerate(COLUMNS)]
    print("  ".join(h.ljust(w) for (h, _, _), w in zip(COLUMNS, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))


def check_target(rows: list[dict], args: argparse.Namespace) -> dict[str, bool]:
    """Per N and rescoring: does a funnel row reach recall >= target while >= 3x faster (p50) than flat?"""
    met = {f"{n}/{how}": any(r["method"].startswith("funnel") and r["method"].endswith(how) and r["speedup_p50"] >= 3
                             and r["recall"] >= args.target_recall for r in rows if r["n"] == n)
           for n in sorted(args.sizes) for how in args.rescore.split(",")}
    for key, ok in met.items():
        print(f"target: funnel ({key.split('/')[1]} rescoring) >= 3x flat p50 at recall@{args.k} >= "
              f"{args.target_recall}, N={key.split('/')[0]}: {'MET' if ok else 'NOT met'}")
    return met


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before faiss loads OpenMP: idle threads must not spin
    import faiss

    args = parse_args(argv)
    faiss.omp_set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    clusters = make_clusters(args)
    queries = sample(clusters, args.queries, np.random.default_rng([args.seed, 2]))
    load_before, started = os.getloadavg(), time.perf_counter()
    rows: list[dict] = []
    seen = None
    with tempfile.TemporaryDirectory(prefix="sieve-mrl-", dir=args.work_dir) as tmp:
        for n in sorted(args.sizes):
            size_rows, seen = run_size(n, clusters, queries, args, Path(tmp), seen)
            rows += size_rows
    print(f"\nTop-{args.k} cosine, {args.dims}-d clustered synthetic unit vectors, {args.queries} queries one at a "
          f"time; faiss threads {args.threads}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; "
          "speedup = flat p50 / p50; disk_MB = the funnel's memory-mapped full vectors")
    print_table(rows)
    met = check_target(rows, args)
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "cpus": os.cpu_count(), "faiss_threads": args.threads,
              "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "faiss_version": faiss.__version__,
              "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
              "total_seconds": round(time.perf_counter() - started, 1), "rows": rows,
              "target_met": met,
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
