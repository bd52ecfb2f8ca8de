"""Upsert latency over collection size, and search QPS while a writer upserts: the log + delta write path
(``indexers/segments/``) against the copy-on-write rebuild it replaces (``apply_changes``, measured in the same run).

Each collection: a doc store, native BM25 and a MiniLM Flat dense index (no prefixes). 5k = SciFact (5,183 docs,
its real MiniLM vectors reused from a built index); 50k and 500k = synthetic corpora built here from SciFact
(each doc: a SciFact title + sentences of three random SciFact abstracts), their dense index built from SciFact's real
vectors (doc i: the vector of SciFact doc i mod 5,183 plus 5% Gaussian noise, renormalised) through
``build_dense_index(..., reuse_vectors=...)``, so no corpus is encoded at build time. Every upsert encodes with the
real MiniLM (torch) and is logged with fsync, exactly what ``Registry.write`` runs (minus HTTP).

    python -m benchmarks.bench_upserts --data ../shared/datasets/scifact --vectors <built scifact>/indexes/dense \
        --sizes 5000 50000 500000 --out results/bench_upserts.json
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from indexers.bm25 import Bm25IndexSpec, build_bm25_index
from indexers.collection import open_collection
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndexSpec, build_dense_index
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import write_docstore
from indexers.encoders import EncoderSpec, build_encoder
from indexers.layout import DOCIDS_FILE, INFO_FILE, VECTORS_FILE
from indexers.lucene import Bm25Params
from indexers.segments.merge import apply_changes
from indexers.segments.scoring import bm25_hits, dense_hits, fetch, merge
from kernel.types import Doc

SENT = re.compile(r"(?<=[.!?])\s+")


def corpus_for(size: int, scifact: list[Doc], rng: random.Random) -> list[Doc]:
    if size <= len(scifact):
        return scifact[:size]
    sentences = [SENT.split(d.text) for d in scifact]
    out = []
    for i in range(size):
        parts = [" ".join(sentences[rng.randrange(len(scifact))][:2]) for _ in range(3)]
        out.append(Doc(f"s{i}", " ".join(parts), scifact[i % len(scifact)].title))
    return out


def build(root: Path, docs: list[Doc], real: np.ndarray, rng: np.random.Generator, encoder) -> None:  # type: ignore[no-untyped-def]
    folder = root / "c"
    (folder / "indexes").mkdir(parents=True)
    version = uuid.uuid4().hex[:12]
    write_docstore(iter(docs), folder / DOCSTORE_FILE, version=version)
    (folder / INFO_FILE).write_text(json.dumps({"name": "c", "doc_count": len(docs), "docstore_version": version}))
    build_bm25_index(iter(docs), len(docs), folder / "indexes" / "bm25", Bm25IndexSpec(name="bm25"),
                     docstore_version=version)
    staging = root / "staging"
    staging.mkdir()
    vectors = np.lib.format.open_memmap(staging / VECTORS_FILE, mode="w+", dtype=np.float32,
                                        shape=(len(docs), real.shape[1]))
    for start in range(0, len(docs), 50_000):
        rows = np.arange(start, min(start + 50_000, len(docs)))
        block = real[rows % len(real)]
        if len(docs) > len(real):
            block = block + 0.05 * rng.standard_normal(block.shape).astype(np.float32) / np.sqrt(real.shape[1])
        vectors[rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    vectors.flush()
    (staging / DOCIDS_FILE).write_text("\n".join(d.id for d in docs) + "\n")
    build_dense_index(iter(()), len(docs), encoder, folder / "indexes" / "dense",
                      DenseIndexSpec(encoder=EncoderSpec(), prefixes=None), reuse_vectors=staging,
                      docstore_version=version)


def _writer(live, stream, encoder, written: list[int], stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """One 1-doc upsert every 100 ms (10 docs/s; fewer when a write takes longer) until ``stop``."""
    while not stop.is_set():
        t = time.perf_counter()
        live.write([next(stream)], encoder_for=lambda spec: encoder)
        written.append(1)
        stop.wait(max(0.0, 0.1 - (time.perf_counter() - t)))


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)) * 1000, 1)


def search_qps(col, queries: list[str], qvecs: np.ndarray, seconds: float, writer=None  # type: ignore[no-untyped-def]
               ) -> tuple[float, float]:
    """Hybrid-style searches (native BM25 + dense Flat, each merged with the delta) per second, one thread; and the
    writer's docs per second."""
    stop = threading.Event()
    thread: threading.Thread | None = None
    written: list[int] = []
    if writer is not None:
        thread = threading.Thread(target=writer, args=(written, stop))
        thread.start()
    done, started, i = 0, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        snap = col.segments.current
        q, v = queries[i % len(queries)], qvecs[i % len(queries) : i % len(queries) + 1]
        merge(col.sparse["bm25"].search(q, fetch(snap, 10)), bm25_hits(snap, col.sparse["bm25"], q, 10, Bm25Params()),
              snap, 10, lambda d, s, _: (d, s))
        merge(col.dense["dense"].search(v, fetch(snap, 10))[0], dense_hits(snap, "dense", col.dense["dense"], v[0], 10,
                                                                          None), snap, 10, lambda d, s, _: (d, s))
        done, i = done + 1, i + 1
    elapsed = time.perf_counter() - started
    stop.set()
    if thread is not None:
        thread.join()
    return round(done / elapsed, 1), round(len(written) / elapsed, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/datasets/scifact"))
    p.add_argument("--vectors", type=Path, required=True, help="a built SciFact MiniLM dense index folder")
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000, 500000])
    p.add_argument("--one", type=int, default=30, help="1-doc upserts per size")
    p.add_argument("--hundred", type=int, default=5, help="100-doc upserts per size")
    p.add_argument("--old", type=int, default=3, help="1-doc upserts through the old rebuild path (5k only)")
    p.add_argument("--seconds", type=float, default=10.0, help="per search-QPS cell")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch intra-op threads for the encoder (default: torch's own, one per core)")
    p.add_argument("--out", type=Path, default=Path("results/bench_upserts.json"))
    args = p.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    rng, nrng = random.Random(0), np.random.default_rng(0)
    scifact = list(BeirDataset.open(args.data).corpus())
    ids = (args.vectors / DOCIDS_FILE).read_text().splitlines()
    row = {d: i for i, d in enumerate(ids)}
    real = np.load(args.vectors / VECTORS_FILE)[[row[d.id] for d in scifact]]
    queries = list(BeirDataset.open(args.data).queries().values())[:50]
    encoder = build_encoder(EncoderSpec())
    qvecs = encoder.encode_queries(queries)
    fresh = [Doc(f"new-{i}", d.text, d.title) for i, d in enumerate(rng.sample(scifact, 800))]
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-upserts-") as tmp:
            root = Path(tmp)
            docs = corpus_for(size, scifact, rng)
            t0 = time.perf_counter()
            build(root, docs, real, nrng, encoder)
            built_s = time.perf_counter() - t0
            col = open_collection(root / "c")
            live = col.segments
            assert live is not None
            one, hundred, stream = [], [], iter(fresh)
            stages: dict[str, list[float]] = {"encode": [], "log": [], "apply": []}
            for _ in range(args.one):
                t = time.perf_counter()
                report = live.write([next(stream)], encoder_for=lambda spec: encoder)
                one.append(time.perf_counter() - t)
                for name, ms in report.timings_ms.items():
                    stages[name].append(ms / 1000)
            for _ in range(args.hundred):
                batch = [Doc(f"b{uuid.uuid4().hex[:8]}", d.text, d.title) for d in rng.sample(scifact, 100)]
                t = time.perf_counter()
                live.write(batch, encoder_for=lambda spec: encoder)
                hundred.append(time.perf_counter() - t)
            idle = search_qps(col, queries, qvecs, args.seconds)[0]

            busy = search_qps(col, queries, qvecs, args.seconds, functools.partial(_writer, live, stream, encoder))
            cell = {"docs": size, "build_s": round(built_s, 1), "one_p50_ms": pct(one, 50), "one_p95_ms": pct(one, 95),
                    "hundred_p50_ms": pct(hundred, 50),
                    "one_stages_p50_ms": {n: pct(v, 50) for n, v in stages.items()},
                    "one_without_encode_p50_ms": pct([o - e for o, e in zip(one, stages["encode"], strict=True)], 50),
                    "qps_no_writer": idle, "qps_writer_10_per_s": busy[0], "writer_docs_per_s": busy[1],
                    "delta_rows_at_end": live.current.rows}
            if size <= 5183 and args.old:
                col.close()
                apply_changes(root, "c", encoder_for=lambda spec: encoder)  # fold the delta first
                old = []
                for _ in range(args.old):
                    t = time.perf_counter()
                    apply_changes(root, "c", encoder_for=lambda spec: encoder, upserts=[next(stream)])
                    old.append(time.perf_counter() - t)
                cell["old_rebuild_one_p50_ms"] = pct(old, 50)
            results.append(cell)
            print(json.dumps(cell), flush=True)
    base = results[0]["one_p50_ms"]
    print(f"\n{'docs':>8} {'build s':>8} {'1 doc p50':>10} {'1 doc p95':>10} {'no-enc p50':>10} {'100 p50':>9} "
          f"{'old 1 doc':>10} {'QPS idle':>9} {'QPS +writer':>11} {'writer/s':>8}")
    for r in results:
        print(f"{r['docs']:>8} {r['build_s']:>8} {r['one_p50_ms']:>8}ms {r['one_p95_ms']:>8}ms "
              f"{r['one_without_encode_p50_ms']:>8}ms "
              f"{r['hundred_p50_ms']:>7}ms "
              f"{str(r.get('old_rebuild_one_p50_ms', '-')) + 'ms':>10} {r['qps_no_writer']:>9} "
              f"{r['qps_writer_10_per_s']:>11} {r['writer_docs_per_s']:>8}")
    print(f"1-doc p50 growth from {results[0]['docs']} to {results[-1]['docs']}: "
          f"{results[-1]['one_p50_ms'] / base:.2f}x (without encoding: "
          f"{results[-1]['one_without_encode_p50_ms'] / max(results[0]['one_without_encode_p50_ms'], 1e-9):.2f}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cells": results, "statistics": "p50/p95 of wall time",
                                    "torch_threads": args.torch_threads, "loadavg_at_end": _uptime()}, indent=2) + "\n")


def _uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
