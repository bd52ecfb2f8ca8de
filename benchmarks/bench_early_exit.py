"""Early-exit query encoding: nDCG@10 and query-encoding cost for L = 1..6 layers, with and without the
compatibility map, on BEIR collections whose dense index stays as built (full-depth document vectors).

Maps are fitted the way ``sieve index early-exit`` fits them (``training/early_exit.py``: pseudo-queries mined from
the corpus, encoded at every depth, mapped to the stored document vectors or to their own full-depth vector), here
in memory, so the index root may be read-only. Which map (target x kind) is chosen on SciFact's train queries
(``--dev``), never on the test queries reported. Cost: ``encode_queries_at`` one query at a time on one torch thread,
plus the map, in the same run.

    python -m benchmarks.bench_early_exit --index-root /work/idx --data-dir /work/shared/datasets \
        --collections scifact,cranfield --cache results/early_exit_cache
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from evaluation.metrics import evaluate
from indexers.collection import Collection
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex
from indexers.dense.early_exit import apply_map, fit_map
from indexers.docstore import DocStore
from indexers.encoders import EncoderSpec, build_encoder
from training.early_exit import depth_vectors, pseudo_queries, targets_for

VARIANTS = [(target, "affine", ridge) for target in ("doc", "self") for ridge in (1e-3, 1e-2, 1e-1)] + [
    ("self", "procrustes", 0.0)]


def label(variant: tuple[str, str, float]) -> str:
    target, kind, ridge = variant
    return f"{target}/{kind}" + (f"/{ridge:g}" if kind == "affine" else "")


def ndcg(index: DenseIndex, ids: list[str], vectors: np.ndarray, qrels: dict[str, dict[str, int]]) -> float:
    rows = index.search(np.ascontiguousarray(vectors, dtype=np.float32), 100)
    run = {q: {d: float(s) for d, s in row} for q, row in zip(ids, rows, strict=True)}
    return round(evaluate(qrels, run)["ndcg@10"], 4)


def fit_all(index: DenseIndex, col: Collection, args: argparse.Namespace) -> dict[tuple[str, str], dict]:
    texts, sources = pseudo_queries(col, args.samples)
    depths = depth_vectors(index, texts, max_length=64, cache_dir=args.cache)
    maps: dict[tuple[str, str, float], dict] = {}
    for target, kind, ridge in VARIANTS:
        y = targets_for(index, sources, depths, target)  # type: ignore[arg-type]
        maps[(target, kind, ridge)] = {layer: fit_map(depths[layer - 1], y, kind, ridge)  # type: ignore[arg-type]
                                       for layer in range(1, len(depths))}
    print(f"{col.name}: {len(texts)} pseudo-queries from the corpus")
    return maps


def quality(index: DenseIndex, encoder, queries: dict[str, str], qrels, maps) -> dict[str, list[float]]:
    ids = [q for q in queries if q in qrels]
    depths = encoder.encode_all_depths([queries[q] for q in ids])
    table = {"no map": [ndcg(index, ids, depths[layer], qrels) for layer in range(len(depths))]}
    full = table["no map"][-1]
    for variant, per_layer in maps.items():
        table[label(variant)] = [ndcg(index, ids, apply_map(depths[layer - 1], *per_layer[layer]), qrels)
                                    for layer in range(1, len(depths))] + [full]
    return table


def cost(encoder, texts: list[str], maps: dict[int, tuple]) -> list[float]:
    """Mean ms per query (one query per call, one thread), the map included, for L = 1..num_layers."""
    out = []
    for layer in range(1, encoder.num_layers + 1):
        encoder.encode_queries_at(texts[:5], layer)  # warm-up (and builds the truncated model)
        times = []
        for text in texts:
            start = time.perf_counter()
            vector = encoder.encode_queries_at([text], layer)
            if layer in maps:
                apply_map(vector, *maps[layer])
            times.append((time.perf_counter() - start) * 1000)
        out.append(round(statistics.mean(times), 2))
    return out


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-root", type=Path, default=Path("indexes"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--collections", default="scifact,cranfield")
    parser.add_argument("--index", default="dense")
    parser.add_argument("--dev", default="scifact", help="collection whose train split picks the map")
    parser.add_argument("--dev-split", default="train")
    parser.add_argument("--samples", type=int, default=4000, help="pseudo-queries per collection")
    parser.add_argument("--timing-queries", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=Path("results/early_exit_cache"))
    parser.add_argument("--out", type=Path, default=Path("results/bench_early_exit.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, object] = {"threads": 1, "samples": args.samples}
    cols = {}
    for name in args.collections.split(","):
        folder = args.index_root / name
        index = DenseIndex(folder / "indexes" / args.index)
        col = Collection(name, folder, DocStore(folder / "docs.sqlite"))
        cols[name] = (index, fit_all(index, col, args), BeirDataset.open(args.data_dir / name))
    encoder = build_encoder(EncoderSpec.model_validate(next(iter(cols.values()))[0].manifest.build["encoder"]))
    index, maps, data = cols[args.dev]
    dev = quality(index, encoder, data.queries(args.dev_split), data.qrels(args.dev_split), maps)
    chosen = max(maps, key=lambda v: statistics.mean(dev[label(v)][:-1]))
    print(f"\ndev ({args.dev} {args.dev_split}, {len(data.qrels(args.dev_split))} queries) nDCG@10 by layers 1..6:")
    for name, row in dev.items():
        print(f"  {name:20s} " + "  ".join(f"{x:.4f}" for x in row))
    print(f"chosen map: {label(chosen)} (best mean over L=1..5 on dev)")
    report["dev"] = {"collection": args.dev, "split": args.dev_split, "ndcg@10": dev, "chosen": label(chosen)}
    for name, (index, maps, data) in cols.items():
        table = quality(index, encoder, data.queries("test"), data.qrels("test"), {chosen: maps[chosen]})
        queries = list(data.queries("test").values())[: args.timing_queries]
        ms = cost(encoder, queries, maps[chosen])
        full = table["no map"][-1]
        mapped = table[label(chosen)]
        print(f"\n{name} test: nDCG@10 and ms/query (1 thread, {len(queries)} queries one by one)")
        print(f"  {'L':>2} {'no map':>8} {'map':>8} {'% full':>7} {'ms/q':>7}")
        for layer in range(len(ms)):
            print(f"  {layer + 1:>2} {table['no map'][layer]:>8.4f} {mapped[layer]:>8.4f} "
                  f"{100 * mapped[layer] / full:>6.1f}% {ms[layer]:>7.2f}")
        report[name] = {"ndcg@10": table, "ms_per_query": ms, "timing_queries": len(queries)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
