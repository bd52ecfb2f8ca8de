"""Seismic vs Lucene impact at 100k-1M synthetic SPLADE documents: recall@10 against exact scoring and p50 latency.

    python -m benchmarks.bench_sparse_scaling --stats indexes/bench-splade/cranfield/exact \
        --data ../shared/datasets/cranfield [--sizes 100000 300000 1000000] [--queries 200] [--generator mix|iid]

Documents are drawn from a real learned sparse index's statistics. ``mix`` (default): each synthetic document is a
perturbed mixture of two real documents (their terms kept with probability 0.7 and 0.3, weights jittered, plus 10%
terms drawn by document frequency), so terms co-occur as in the real corpus; ``iid``: each document's length from the
empirical non-zeros-per-document distribution, its terms drawn independently by document frequency, its weights from
the empirical weight distribution. Queries are the collection's real SPLADE-encoded test queries. Each size is
generated with the same seed, so a smaller size is a prefix of a larger one.
Searches run one query at a time on one thread (Lucene on the first ``--lucene-queries``: it is slow at 1M). Results
are written after every size (``--out``, default ``results/bench_sparse_scaling.json``), so a cut-short run keeps
what it measured. ``--skip-lucene`` / ``--skip-seismic`` run one side (two processes can share the work);
``--keep`` keeps the index folders for ``benchmarks.time_sparse_pair``, which times both query by query interleaved.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from indexers.corpus import BeirDataset  # noqa: E402
from indexers.impact import ImpactIndex, ImpactIndexSpec  # noqa: E402
from indexers.learned_sparse.scoring import exact_search  # noqa: E402
from indexers.learned_sparse.store import ForwardStore  # noqa: E402
from indexers.learned_sparse_backends import build_learned_sparse_index  # noqa: E402
from indexers.manifest import IndexManifest  # noqa: E402
from indexers.seismic import SeismicIndexSpec, SeismicSearchOptions, SeismicSparseIndex  # noqa: E402
from indexers.sparse_encoders import SparseEncoderSpec, SparseVectors, build_sparse_encoder  # noqa: E402

CHUNK = 100_000


def synthesise(real: SparseVectors, n: int, seed: int = 0, generator: str = "mix") -> SparseVectors:
    """``n`` documents with the term, length and weight statistics of ``real`` (vectorised, chunk by chunk).

    ``mix`` (default): each document is a perturbed mixture of two real documents: each term of the first kept with
    probability 0.7 and of the second with 0.3, weights jittered (x lognormal, sigma 0.25), plus 10% fresh terms
    drawn by document frequency; terms co-occur as in the real corpus. ``iid``: every term drawn independently by
    document frequency, so no co-occurrence at all (the harder case for clustered posting lists)."""
    rng = np.random.default_rng(seed)
    df = np.bincount(real.indices, minlength=real.dim).astype(np.float64)
    p_term = df / df.sum()
    lengths, weights = real.row_nnz(), real.values
    parts = []
    for start in range(0, n, CHUNK):
        rows = min(CHUNK, n - start)
        if generator == "iid":
            nnz = rng.choice(lengths, size=rows)
            row_of = np.repeat(np.arange(rows, dtype=np.int64), nnz)
            terms = rng.choice(real.dim, size=len(row_of), p=p_term)
            values = rng.choice(weights, size=len(terms)).astype(np.float32)
        else:
            row_of, terms, values = _mixture(real, rows, rng, p_term)
        keys, first = np.unique(row_of * real.dim + terms, return_index=True)  # sorted by (row, term); first wins
        row_of, terms, values = keys // real.dim, (keys % real.dim).astype(np.int32), values[first]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=rows))]).astype(np.int64)
        parts.append(SparseVectors(indptr, terms, values.astype(np.float32), real.dim))
    return SparseVectors.concat(parts, real.dim)


def _mixture(real: SparseVectors, rows: int, rng: np.random.Generator,
             p_term: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, term, weight) triples of ``rows`` mixtures of two real documents (see ``synthesise``)."""
    lengths = real.row_nnz()
    pieces = []
    for keep in (0.7, 0.3):
        base = rng.integers(0, len(lengths), size=rows)
        row_of = np.repeat(np.arange(rows, dtype=np.int64), lengths[base])
        offsets = np.arange(len(row_of)) - np.repeat(np.cumsum(lengths[base]) - lengths[base], lengths[base])
        at = np.repeat(real.indptr[base], lengths[base]) + offsets
        mask = rng.random(len(at)) < keep
        jitter = rng.lognormal(0.0, 0.25, size=int(mask.sum()))
        pieces.append((row_of[mask], real.indices[at][mask], real.values[at][mask] * jitter))
    extra = np.maximum(1, (lengths[rng.integers(0, len(lengths), size=rows)] * 0.1).astype(np.int64))
    row_of = np.repeat(np.arange(rows, dtype=np.int64), extra)
    pieces.append((row_of, rng.choice(real.dim, size=len(row_of), p=p_term),
                   rng.choice(real.values, size=len(row_of))))
    return tuple(np.concatenate([p[i] for p in pieces]) for i in range(3))  # type: ignore[return-value]


def timed(index: object, queries: SparseVectors, options: object) -> tuple[list[list[str]], list[float]]:
    """One query at a time, after an untimed pass over the first 20 (JIT warm-up for Lucene, caches for both)."""
    for i in range(min(20, len(queries))):
        index.search(queries.take([i]), 10, options)  # type: ignore[attr-defined]
    rows, seconds = [], []
    for i in range(len(queries)):
        q = queries.take([i])
        started = time.perf_counter()
        hits = index.search(q, 10, options)[0]  # type: ignore[attr-defined]
        seconds.append(time.perf_counter() - started)
        rows.append([d for d, _ in hits])
    return rows, seconds


def recall(truth: list[list[str]], rows: list[list[str]]) -> float:
    return statistics.mean(len(set(t) & set(r)) / max(len(t), 1) for t, r in zip(truth, rows, strict=True))


def run_size(n: int, real: SparseVectors, vocab: list[str], queries: SparseVectors, args: argparse.Namespace,
             work: Path) -> dict[str, object]:
    started = time.perf_counter()
    store = ForwardStore([f"s{i}" for i in range(n)], synthesise(real, n, generator=args.generator), vocab)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    truth = [[d for d, _ in row] for row in exact_search(store.vectors.to_scipy(), store.docids, queries, 10)]
    result: dict[str, object] = {"docs": n, "nnz": store.vectors.nnz, "generate_s": round(generated, 1),
                                 "avg_doc_nnz": round(store.vectors.nnz / n, 2),
                                 "exact_batch_s": round(time.perf_counter() - started, 1)}
    if args.skip_seismic:
        return _lucene(result, store, queries, truth, args, work)
    gc.collect()  # the exact pass's CSR copy: at 1M documents every GiB counts
    for n_postings, centroids, energy in args.seismic_builds:
        tag = "" if len(args.seismic_builds) == 1 else f" [{n_postings}:{centroids}:{energy}]"
        folder = work / ("seismic" if not tag else f"seismic-{n_postings}-{centroids}-{energy}")
        spec = SeismicIndexSpec(n_postings=n_postings, centroid_fraction=centroids, summary_energy=energy)
        started = time.perf_counter()
        build_learned_sparse_index(None, 0, None, folder, spec, store=store)
        result[f"seismic_build_s{tag}"] = round(time.perf_counter() - started, 1)
        index = SeismicSparseIndex(folder)
        for cut, heap in args.seismic_points:
            rows, seconds = timed(index, queries, SeismicSearchOptions(query_cut=cut, heap_factor=heap))
            result[f"seismic q{cut} h{heap}{tag}"] = {"recall@10": round(recall(truth, rows), 4),
                                                      "p50_ms": round(statistics.median(seconds) * 1000, 3)}
        del index
        gc.collect()
        if not args.keep:
            shutil.rmtree(folder)
    return result if args.skip_lucene else _lucene(result, store, queries, truth, args, work)


def _lucene(result: dict[str, object], store: ForwardStore, queries: SparseVectors, truth: list[list[str]],
            args: argparse.Namespace, work: Path) -> dict[str, object]:
    """Build the Lucene impact index of ``store``, time the first ``--lucene-queries`` queries, drop the index."""
    started = time.perf_counter()
    build_learned_sparse_index(None, 0, None, work / "impact", ImpactIndexSpec(), store=store)
    result["lucene_build_s"] = round(time.perf_counter() - started, 1)
    subset = queries.take(np.arange(min(args.lucene_queries, len(queries))))
    rows, seconds = timed(ImpactIndex(work / "impact"), subset, None)
    result["lucene_impact"] = {"recall@10": round(recall(truth[: len(subset)], rows), 4), "queries": len(subset),
                               "p50_ms": round(statistics.median(seconds) * 1000, 3)}
    if not args.keep:
        shutil.rmtree(work / "impact")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", type=Path, default=Path("indexes/bench-splade/scifact/exact"))
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/scifact"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--generator", choices=["mix", "iid"], default="mix",
                        help="mix: perturbed mixtures of two real documents; iid: terms drawn independently")
    parser.add_argument("--n-postings", type=int, default=3500)
    parser.add_argument("--centroid-fraction", type=float, default=0.1)
    parser.add_argument("--summary-energy", type=float, default=0.4)
    parser.add_argument("--seismic-build", nargs="+", default=None,
                        help="n_postings:centroid_fraction:summary_energy, one Seismic index per setting "
                             "(default: the three options above)")
    parser.add_argument("--seismic", nargs="+", default=["10:0.7", "20:0.9", "30:0.9", "50:1.0"],
                        help="query_cut:heap_factor points measured per size")
    parser.add_argument("--lucene-queries", type=int, default=50, help="Lucene is timed on the first N queries")
    parser.add_argument("--skip-lucene", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the index folders (for benchmarks.time_sparse)")
    parser.add_argument("--skip-seismic", action="store_true", help="Lucene only (run the two in separate processes)")
    parser.add_argument("--work", type=Path, default=Path("indexes/bench-sparse-scaling"))
    parser.add_argument("--out", type=Path, default=Path("results/bench_sparse_scaling.json"))
    args = parser.parse_args()
    args.seismic_builds = [(int(a), float(b), float(c)) for a, b, c in (x.split(":") for x in args.seismic_build)] \
        if args.seismic_build else [(args.n_postings, args.centroid_fraction, args.summary_energy)]
    args.seismic_points = [(int(c), float(h)) for c, h in (p.split(":") for p in args.seismic)]
    real = ForwardStore.read(args.stats)
    manifest = IndexManifest.read(args.stats)
    data = BeirDataset.open(args.data)
    texts = list(data.queries("test").values())[: args.queries]
    queries = build_sparse_encoder(SparseEncoderSpec(**manifest.build["sparse"]["encoder"])).encode_queries(texts)
    summary: dict[str, object] = {
        "stats_from": str(args.stats), "real_docs": len(real.docids), "real_avg_doc_nnz": manifest.build["avg_doc_nnz"],
        "generator": args.generator, "queries": len(queries), "lucene_queries": min(args.lucene_queries, len(queries)),
        "avg_query_nnz": round(queries.nnz / len(queries), 2),
        "seismic_builds": [{"n_postings": a, "centroid_fraction": b, "summary_energy": c}
                           for a, b, c in args.seismic_builds], "sizes": [],
    }
    args.work.mkdir(parents=True, exist_ok=True)
    for n in sorted(args.sizes):
        summary["sizes"].append(run_size(n, real.vectors, real.vocab, queries, args, args.work))  # type: ignore[union-attr]
        summary["load_average"] = os.getloadavg()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary["sizes"][-1]), flush=True)  # type: ignore[index]
    print(f"{'docs':>9} {'backend':22} {'R@10':>7} {'p50 ms':>9}")
    for size in summary["sizes"]:  # type: ignore[union-attr]
        for key, value in size.items():
            if isinstance(value, dict):
                print(f"{size['docs']:>9} {key:22} {value['recall@10']:7.4f} {value['p50_ms']:9.3f}")


if __name__ == "__main__":
    main()
