"""Choose Seismic's query settings on one query set and report them on another, on one kept 1M index.

    python -m benchmarks.sweep_seismic --seismic W/seismic --impact W1/impact --size 1000000 \
        --stats IDX/cranfield/indexes/splade-exact --tune ../shared/datasets/scifact \
        --report ../shared/datasets/cranfield

The synthetic collection is regenerated (same seed as ``bench_sparse_scaling``) for exact ground truth. Every
``query_cut:heap_factor`` point is scored on the tuning queries; the fastest point with recall@10 >= ``--target``
there is chosen, then recall@10 and p50 on the report queries are measured side by side with Lucene impact (query by
query interleaved). Writes ``results/sweep_seismic.json``.
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

import numpy as np  # noqa: E402

from benchmarks.bench_sparse_scaling import recall, synthesise  # noqa: E402
from indexers.corpus import BeirDataset  # noqa: E402
from indexers.impact import ImpactIndex  # noqa: E402
from indexers.learned_sparse.scoring import exact_search  # noqa: E402
from indexers.learned_sparse.store import ForwardStore  # noqa: E402
from indexers.manifest import IndexManifest  # noqa: E402
from indexers.seismic import SeismicSearchOptions, SeismicSparseIndex  # noqa: E402
from indexers.sparse_encoders import SparseEncoderSpec, SparseVectors, build_sparse_encoder  # noqa: E402


def _run(search: object, queries: SparseVectors) -> tuple[list[list[str]], list[float]]:
    rows, seconds = [], []
    for i in range(len(queries)):
        q = queries.take(np.asarray([i]))
        started = time.perf_counter()
        hits = search(q)  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
        rows.append([d for d, _ in hits[0]])
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("seismic", "impact", "stats", "tune", "report"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--report-queries", type=int, default=200)
    parser.add_argument("--points", nargs="+", default=["15:0.8", "20:0.8", "20:0.85", "25:0.85", "25:0.9",
                                                         "30:0.85", "30:0.9", "20:0.9"])
    parser.add_argument("--out", type=Path, default=Path("results/sweep_seismic.json"))
    args = parser.parse_args()
    real = ForwardStore.read(args.stats)
    encoder = build_sparse_encoder(SparseEncoderSpec(**IndexManifest.read(args.stats).build["sparse"]["encoder"]))
    matrix = synthesise(real.vectors, args.size).to_scipy()
    docids = [f"s{i}" for i in range(args.size)]
    sets = {}
    for role, folder, limit in (("tune", args.tune, None), ("report", args.report, args.report_queries)):
        texts = list(BeirDataset.open(folder).queries("test").values())[:limit]
        queries = encoder.encode_queries(texts)
        sets[role] = (queries, [[d for d, _ in r] for r in exact_search(matrix, docids, queries, 10)])
    del matrix
    seismic, impact = SeismicSparseIndex(args.seismic), ImpactIndex(args.impact)
    points = [(int(c), float(h)) for c, h in (p.split(":") for p in args.points)]
    tune_q, tune_truth = sets["tune"]
    tuning = []
    for cut, heap in points:
        options = SeismicSearchOptions(query_cut=cut, heap_factor=heap)
        rows, seconds = _run(lambda q, o=options: seismic.search(q, 10, o), tune_q)
        tuning.append({"query_cut": cut, "heap_factor": heap, "recall@10": round(recall(tune_truth, rows), 4),
                       "p50_ms": round(statistics.median(seconds) * 1000, 3)})
        print(tuning[-1], flush=True)
    ok = [t for t in tuning if t["recall@10"] >= args.target]
    chosen = min(ok, key=lambda t: t["p50_ms"]) if ok else max(tuning, key=lambda t: t["recall@10"])
    options = SeismicSearchOptions(query_cut=int(chosen["query_cut"]), heap_factor=float(chosen["heap_factor"]))
    report_q, report_truth = sets["report"]
    _run(lambda q: impact.search(q, 10, None), report_q)  # warm-up
    seismic_rows, seismic_s, lucene_rows, lucene_s = [], [], [], []
    for i in range(len(report_q)):
        q = report_q.take(np.asarray([i]))
        for search, rows, seconds in ((lambda x: seismic.search(x, 10, options), seismic_rows, seismic_s),
                                      (lambda x: impact.search(x, 10, None), lucene_rows, lucene_s)):
            started = time.perf_counter()
            hits = search(q)
            seconds.append(time.perf_counter() - started)
            rows.append([d for d, _ in hits[0]])
    lucene_p50, seismic_p50 = statistics.median(lucene_s), statistics.median(seismic_s)
    out = {"size": args.size, "tune_queries": str(args.tune), "report_queries": str(args.report),
           "target": args.target, "tuning": tuning, "chosen": chosen, "load_average": os.getloadavg(),
           "report": {"queries": len(report_q), "seismic_recall@10": round(recall(report_truth, seismic_rows), 4),
                      "lucene_recall@10": round(recall(report_truth, lucene_rows), 4),
                      "seismic_p50_ms": round(seismic_p50 * 1000, 3), "lucene_p50_ms": round(lucene_p50 * 1000, 3),
                      "speedup": round(lucene_p50 / seismic_p50, 1)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["chosen"]), json.dumps(out["report"]))


if __name__ == "__main__":
    main()
