"""Cross-encoder rerank latency and throughput per backend (torch, ONNX Runtime fp32, ONNX Runtime int8): real
SciFact queries, each with its BM25 top-``depth`` candidates, reranked one query at a time as a request would be.

Reports p50 / p95 latency per query (``depth`` candidates), pairs/s through Sieve's reranker, and pairs/s of the raw
library call in the same run on the same pairs (``CrossEncoder.predict`` for torch, ``InferenceSession.run`` over
tokenised batches for ONNX): the difference is Sieve's own work (length check, sorting by length, blending).

``python -m benchmarks.bench_rerank --model models/sieve-ce-scifact --queries 20 --depth 100 --max-length 512``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from indexers.collection import open_collection
from indexers.corpus import BeirDataset
from kernel.types import Hit
from rankers.base import passage
from rankers.cross_encoder import CrossEncoderReranker
from rankers.pair_models import SimilarityPairModel
from rankers.specs import CrossEncoderSpec

BACKENDS = {"torch": ("torch", "none"), "onnx": ("onnx", "none"), "onnx-int8": ("onnx", "int8")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="cross-encoder path or HF id")
    p.add_argument("--index-root", type=Path, default=Path("indexes"))
    p.add_argument("--collection", default="scifact")
    p.add_argument("--data-dir", type=Path, default=None, help="BEIR folder [../shared/datasets/<collection>]")
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--depth", type=int, default=100, help="candidates per query")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    p.add_argument("--out", type=Path, default=Path("results/bench_rerank.json"))
    return p.parse_args(argv)


def candidates(args: argparse.Namespace) -> list[tuple[str, list[Hit]]]:
    data = args.data_dir or Path("../shared/datasets") / args.collection
    queries = list(BeirDataset.open(data).queries("test").items())[: args.queries]
    collection = open_collection(args.index_root / args.collection)
    bm25 = next(iter(collection.sparse.values()))
    out = []
    for _, text in queries:
        found = bm25.search(text, args.depth)
        docs = collection.docs.get_many([d for d, _ in found])
        out.append((text, [Hit(d, s, docs[d].title, docs[d].text) for d, s in found]))
    return out


def raw_call(reranker: CrossEncoderReranker, pairs: list[tuple[str, str]], batch_size: int) -> float:
    """Seconds for the libraries' own calls on ``pairs``, no Sieve code in between: tokenise each batch, then
    ``InferenceSession.run`` (ONNX Runtime), the module's forward (torch, similarity head) or
    ``CrossEncoder.predict`` (sentence-transformers)."""
    import torch

    model: Any = reranker.model
    start = time.perf_counter()
    if not (onnx := hasattr(model, "session")) and not isinstance(model, SimilarityPairModel):
        model.model.predict(pairs, batch_size=batch_size, show_progress_bar=False)
        return time.perf_counter() - start
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        enc = model.tokenizer([q for q, _ in chunk], [p for _, p in chunk], padding=True, truncation=True,
                              max_length=model.max_length, return_tensors="np" if onnx else "pt")
        if onnx:
            model.session.run(None, {n: enc[n].astype(np.int64) for n in model._inputs})
        else:
            with torch.inference_mode():
                model.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    return time.perf_counter() - start


def run_backend(name: str, args: argparse.Namespace, work: list[tuple[str, list[Hit]]]) -> dict[str, Any]:
    backend, quantize = BACKENDS[name]
    spec = CrossEncoderSpec(model=args.model, backend=backend, quantize=quantize,  # type: ignore[arg-type]
                            max_length=args.max_length, batch_size=args.batch_size)
    start = time.perf_counter()
    reranker = CrossEncoderReranker(spec)
    load_s = time.perf_counter() - start
    reranker.rerank(work[0][0], work[0][1][:8])  # warm-up
    latencies, pairs = [], 0
    for query, hits in work:
        start = time.perf_counter()
        reranker.rerank(query, hits)
        latencies.append((time.perf_counter() - start) * 1000)
        pairs += len(hits)
    all_pairs = [(q, passage(h)) for q, hits in work for h in hits]
    raw_s = raw_call(reranker, all_pairs, args.batch_size)
    lat = sorted(latencies)
    return {
        "backend": name, "load_s": round(load_s, 1), "queries": len(work), "candidates": args.depth,
        "p50_ms": round(statistics.median(lat), 1), "p95_ms": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
        "pairs_per_s": round(pairs / (sum(latencies) / 1000), 1), "raw_pairs_per_s": round(len(all_pairs) / raw_s, 1),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = candidates(args)
    rows = [run_backend(name, args, work) for name in args.backends]
    header = f"{'backend':<12}{'p50 ms':>10}{'p95 ms':>10}{'pairs/s':>10}{'raw pairs/s':>13}{'load s':>8}"
    print(f"{len(work)} queries x {args.depth} candidates, max_length {args.max_length}, "
          f"{os.cpu_count()} CPUs")
    print(header)
    for r in rows:
        print(f"{r['backend']:<12}{r['p50_ms']:>10}{r['p95_ms']:>10}{r['pairs_per_s']:>10}{r['raw_pairs_per_s']:>13}"
              f"{r['load_s']:>8}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2)
                        + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
