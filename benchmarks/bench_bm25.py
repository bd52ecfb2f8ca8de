"""BM25 backends side by side, in process, one thread, one query at a time: Lucene (Pyserini), native (numpy) and
the ``bm25s`` library as the baseline: QPS and nDCG@10 over the same queries in the same run.

``python -m benchmarks.bench_bm25 --data ../shared/datasets/scifact``; see benchmarks/README.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread for every library, before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from evaluation.metrics import evaluate  # noqa: E402
from indexers.corpus import BeirDataset  # noqa: E402
from indexers.lucene import Bm25Params  # noqa: E402

Search = Callable[[str], list[tuple[str, float]]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", default=[Path("../shared/datasets/scifact")],
                   help="BEIR folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    p.add_argument("--split", default="test")
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--k1", type=float, default=0.9)
    p.add_argument("--b", type=float, default=0.4)
    p.add_argument("--repeats", type=int, default=5, help="timed passes over the queries; the best one counts")
    p.add_argument("--out", type=Path, default=Path("results/bench_bm25.json"))
    return p.parse_args(argv)


def timed(searches: dict[str, Search], queries: dict[str, str], repeats: int
          ) -> dict[str, tuple[dict[str, dict[str, float]], float]]:
    """Each backend's run and best QPS over ``repeats`` passes, one query at a time after a warm-up pass. The passes
    take turns (lucene, native, bm25s, lucene, ...) so a change in machine load hits every backend alike."""
    runs = {name: {qid: dict(search(text)) for qid, text in queries.items()} for name, search in searches.items()}
    best = dict.fromkeys(searches, float("inf"))
    for _ in range(repeats):
        for name, search in searches.items():
            start = time.perf_counter()
            for text in queries.values():
                search(text)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (runs[name], len(queries) / best[name]) for name in searches}


def bm25s_search(docs: list[tuple[str, str]], k: int, k1: float, b: float) -> tuple[Search, float]:
    """bm25s as its README runs it (PyStemmer English, its English stopwords, method "lucene"), same k1/b."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    start = time.perf_counter()
    tokens = bm25s.tokenize([text for _, text in docs], stopwords="en", stemmer=stemmer, show_progress=False)
    model = bm25s.BM25(method="lucene", k1=k1, b=b)
    model.index(tokens, show_progress=False)
    seconds = time.perf_counter() - start
    ids = [doc_id for doc_id, _ in docs]

    def search(query: str) -> list[tuple[str, float]]:
        q = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        if not q.vocab:
            return []
        rows, scores = model.retrieve(q, k=min(k, len(ids)), n_threads=1, show_progress=False)
        return [(ids[r], float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]

    return search, seconds


def bench_dataset(root: Path, args: argparse.Namespace, tmp: Path) -> list[dict[str, object]]:
    from indexers.bm25 import Bm25IndexSpec
    from indexers.lucene import LuceneIndexSpec
    from indexers.sparse import build_sparse_index, open_sparse_index

    data = BeirDataset.open(root)
    corpus = list(data.corpus())
    queries, qrels = data.queries(args.split), data.qrels(args.split)
    params = Bm25Params(k1=args.k1, b=args.b)
    searches: dict[str, tuple[Search, float]] = {}
    for spec in (LuceneIndexSpec(name="lucene"), Bm25IndexSpec(name="native", k1=args.k1, b=args.b)):
        manifest = build_sparse_index(iter(corpus), len(corpus), tmp / data.name / spec.name, spec)
        index = open_sparse_index(tmp / data.name / spec.name)
        searches[spec.backend] = (lambda q, i=index: i.search(q, args.k, params)), manifest.build_seconds
    searches["bm25s"] = bm25s_search([(d.id, d.contents) for d in corpus], args.k, args.k1, args.b)
    rows = []
    for name, (run, qps) in timed({n: f for n, (f, _) in searches.items()}, queries, args.repeats).items():
        metrics = evaluate(qrels, run)
        rows.append({"dataset": data.name, "backend": name, "queries": len(queries),
                     "build_s": round(searches[name][1], 2), "qps": round(qps, 1), "ms_per_query": round(1000 / qps, 3),
                     "ndcg@10": round(metrics["ndcg@10"], 4), "recall@100": round(metrics["recall@100"], 4)})
    base = next(r for r in rows if r["backend"] == "bm25s")["qps"]
    for row in rows:
        row["qps_vs_bm25s"] = round(float(row["qps"]) / float(base), 2)  # type: ignore[arg-type]
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for root in args.data for row in bench_dataset(root, args, Path(tmp))]
    head = ["dataset", "backend", "queries", "build_s", "qps", "ms_per_query", "qps_vs_bm25s", "ndcg@10", "recall@100"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in head) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"k": args.k, "k1": args.k1, "b": args.b, "split": args.split,
                                    "threads": 1, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
