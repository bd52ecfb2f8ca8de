"""SPLADE-tiny on a BEIR collection through exact scoring, a Lucene impact index and Seismic, in one run.

    python -m benchmarks.bench_learned_sparse --data ../shared/datasets/scifact [--k 10] [--rebuild]

Encodes the corpus once (the exact index; the others reuse its vectors), encodes the test queries, then for
each backend: nDCG@10 (pytrec_eval as ``evaluation.harness`` does), recall@10 against exact scoring, p50 latency
and QPS one query at a time on one thread, index size on disk and resident-memory growth on loading it.
Prints a table and writes ``results/bench_learned_sparse_<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from evaluation.metrics import evaluate  # noqa: E402
from indexers.corpus import BeirDataset  # noqa: E402
from indexers.impact import ImpactIndexSpec  # noqa: E402
from indexers.impact.build import LUCENE_DIR  # noqa: E402
from indexers.learned_sparse import ExactIndexSpec  # noqa: E402
from indexers.learned_sparse.store import VECTORS_FILE, folder_bytes  # noqa: E402
from indexers.learned_sparse_backends import (  # noqa: E402
    build_learned_sparse_index,
    open_learned_sparse_index,
    search_options,
)
from indexers.lucene.jvm import ensure_jvm  # noqa: E402
from indexers.manifest import IndexManifest  # noqa: E402
from indexers.seismic import SeismicIndexSpec  # noqa: E402
from indexers.seismic.build import SEISMIC_FILE  # noqa: E402
from indexers.sparse_encoders import SparseEncoderSpec, SparseVectors, build_sparse_encoder  # noqa: E402


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def build_all(data: BeirDataset, root: Path, rebuild: bool, seismic: SeismicIndexSpec) -> None:
    specs = {"exact": ExactIndexSpec(), "impact": ImpactIndexSpec(), "seismic": seismic}
    encoder = None
    for name, spec in specs.items():
        folder = root / name
        if folder.exists() and not rebuild and IndexManifest.read(folder).build.get("backend") == spec.backend:
            continue
        if name == "exact":
            encoder = encoder or build_sparse_encoder(spec.sparse.encoder)
            count = sum(1 for _ in data.corpus())
            build_learned_sparse_index(data.corpus(), count, encoder, folder, spec)
        else:
            build_learned_sparse_index(None, 0, None, folder, spec, reuse_vectors=root / "exact")


def backend_bytes(root: Path) -> dict[str, int]:
    return {"exact": (root / "exact" / VECTORS_FILE).stat().st_size,
            "impact": folder_bytes(root / "impact" / LUCENE_DIR),
            "seismic": (root / "seismic" / SEISMIC_FILE).stat().st_size}


def one_at_a_time(index: object, queries: SparseVectors, k: int, options: object) -> tuple[list, list[float]]:
    """Every query once untimed (JIT warm-up for Lucene, caches for all), then timed one at a time."""
    index.search(queries, k, options)  # type: ignore[attr-defined]
    rows, seconds = [], []
    for i in range(len(queries)):
        q = queries.take([i])
        started = time.perf_counter()
        rows.extend(index.search(q, k, options))  # type: ignore[attr-defined]
        seconds.append(time.perf_counter() - started)
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/scifact"))
    parser.add_argument("--index-root", type=Path, default=Path("indexes/bench-splade"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--query-cut", type=int, default=20)
    parser.add_argument("--heap-factor", type=float, default=0.8)
    parser.add_argument("--throughput-sample", type=int, default=128, help="docs timed for encoding throughput")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = BeirDataset.open(args.data)
    root = args.index_root / data.name
    build_all(data, root, args.rebuild, SeismicIndexSpec())
    exact_manifest = IndexManifest.read(root / "exact")
    sample = [d.contents for _, d in zip(range(args.throughput_sample), data.corpus(), strict=False)]
    encoder = build_sparse_encoder(SparseEncoderSpec(**exact_manifest.build["sparse"]["encoder"]))
    started = time.perf_counter()
    encoder.encode_docs(sample)
    sample_rate = len(sample) / (time.perf_counter() - started)
    qrels, queries = data.qrels("test"), data.queries("test")
    qids = list(queries)
    started = time.perf_counter()
    qvecs = encoder.encode_queries([queries[q] for q in qids])
    query_seconds = time.perf_counter() - started
    ensure_jvm()  # the JVM's own footprint is not the Lucene index's
    options = {"exact": None, "impact": None,
               "seismic": search_options("seismic", {"query_cut": args.query_cut, "heap_factor": args.heap_factor})}
    sizes = backend_bytes(root)
    results: dict[str, dict[str, float]] = {}
    truth: list[set[str]] = []
    for name in ("exact", "impact", "seismic"):
        before = rss_bytes()
        index = open_learned_sparse_index(root / name)
        rows, seconds = one_at_a_time(index, qvecs, args.k, options[name])
        resident = rss_bytes() - before
        if name == "exact":
            truth = [{d for d, _ in row[:10]} for row in rows]
        recall = statistics.mean(len(t & {d for d, _ in row[:10]}) / max(len(t), 1) for t, row in zip(
            truth, rows, strict=True))
        run = {qid: {d: s for d, s in row} for qid, row in zip(qids, rows, strict=True)}
        metrics = evaluate(qrels, run)
        results[name] = {"ndcg@10": round(metrics["ndcg@10"], 4), "recall@10_vs_exact": round(recall, 4),
                         "p50_ms": round(statistics.median(seconds) * 1000, 3),
                         "qps": round(len(seconds) / sum(seconds), 1), "disk_mb": round(sizes[name] / 2**20, 2),
                         "resident_mb": round(resident / 2**20, 1)}
    build = exact_manifest.build
    summary = {
        "dataset": data.name, "docs": exact_manifest.doc_count, "queries": len(qids), "k": args.k,
        "model": exact_manifest.model, "model_revision": exact_manifest.model_revision,
        "max_length": build["sparse"]["encoder"]["max_length"],
        "doc_encode_docs_per_s": build.get("docs_per_second"),
        f"doc_encode_docs_per_s_first_{len(sample)}": round(sample_rate, 2), "avg_doc_nnz": build["avg_doc_nnz"],
        "avg_query_nnz": round(qvecs.nnz / len(qvecs), 2), "query_encode_per_s": round(len(qids) / query_seconds, 1),
        "seismic_build": {k: v for k, v in IndexManifest.read(root / "seismic").build.items()
                          if k in ("n_postings", "centroid_fraction", "summary_energy", "doc_cut", "max_fraction")},
        "seismic_search": options["seismic"].model_dump(), "backends": results,
        "load_average": os.getloadavg(),
    }
    print(f"{data.name}: {summary['docs']} docs, {len(qids)} queries, doc encoding {round(sample_rate, 2)} docs/s "
          f"(build: {summary['doc_encode_docs_per_s']}), avg nnz doc {summary['avg_doc_nnz']} / query "
          f"{summary['avg_query_nnz']}")
    print(f"{'backend':10} {'nDCG@10':>8} {'R@10/ex':>8} {'p50 ms':>8} {'QPS':>8} {'disk MB':>8} {'RSS MB':>8}")
    for name, r in results.items():
        print(f"{name:10} {r['ndcg@10']:8.4f} {r['recall@10_vs_exact']:8.4f} {r['p50_ms']:8.3f} {r['qps']:8.1f} "
              f"{r['disk_mb']:8.2f} {r['resident_mb']:8.1f}")
    out = args.out or Path("results") / f"bench_learned_sparse_{data.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
