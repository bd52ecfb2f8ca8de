"""Time a Seismic and a Lucene impact index side by side, query by query interleaved, so both see the same load.

    python -m benchmarks.time_sparse_pair --seismic DIR --impact DIR --data ../shared/datasets/cranfield \
        --stats indexes/bench-splade/cranfield/exact [--queries 50] [--seismic-points 10:0.7 20:0.9]

For indexes kept by ``bench_sparse_scaling --keep`` (its recall figures come from that run): on a shared machine the
two backends timed minutes apart see different load, so the ratio is taken here, one query on each in turn, after
an untimed warm-up pass. Writes ``results/time_sparse_pair.json``.
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

from indexers.corpus import BeirDataset  # noqa: E402
from indexers.impact import ImpactIndex  # noqa: E402
from indexers.manifest import IndexManifest  # noqa: E402
from indexers.seismic import SeismicSearchOptions, SeismicSparseIndex  # noqa: E402
from indexers.sparse_encoders import SparseEncoderSpec, build_sparse_encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seismic", type=Path, required=True)
    parser.add_argument("--impact", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True, help="the real index whose encoder encodes the queries")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seismic-points", nargs="+", default=["10:0.7", "20:0.9"])
    parser.add_argument("--out", type=Path, default=Path("results/time_sparse_pair.json"))
    args = parser.parse_args()
    manifest = IndexManifest.read(args.stats)
    texts = list(BeirDataset.open(args.data).queries("test").values())[: args.queries]
    queries = build_sparse_encoder(SparseEncoderSpec(**manifest.build["sparse"]["encoder"])).encode_queries(texts)
    seismic, impact = SeismicSparseIndex(args.seismic), ImpactIndex(args.impact)
    points = {f"seismic q{c} h{h}": SeismicSearchOptions(query_cut=int(c), heap_factor=float(h))
              for c, h in (p.split(":") for p in args.seismic_points)}
    runners = {"lucene_impact": lambda q: impact.search(q, 10, None),
               **{name: (lambda q, o=o: seismic.search(q, 10, o)) for name, o in points.items()}}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(len(queries)):  # warm-up: JIT, page cache
        for run in runners.values():
            run(queries.take([i]))
    for _ in range(args.rounds):
        for i in range(len(queries)):
            q = queries.take(np.asarray([i]))
            for name, run in runners.items():
                started = time.perf_counter()
                run(q)
                seconds[name].append(time.perf_counter() - started)
    lucene = statistics.median(seconds["lucene_impact"])
    out = {"seismic": str(args.seismic), "impact": str(args.impact), "queries": len(queries), "rounds": args.rounds,
           "docs": len(seismic.docids), "load_average": os.getloadavg(),
           "p50_ms": {n: round(statistics.median(s) * 1000, 3) for n, s in seconds.items()},
           "speedup_vs_lucene": {n: round(lucene / statistics.median(s), 1) for n, s in seconds.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'backend':22} {'p50 ms':>9} {'x Lucene':>9}")
    for name in runners:
        print(f"{name:22} {out['p50_ms'][name]:9.3f} {out['speedup_vs_lucene'][name]:9.1f}")


if __name__ == "__main__":
    main()
