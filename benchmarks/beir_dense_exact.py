"""BEIR's own ``EvaluateRetrieval`` + ``DenseRetrievalExactSearch`` driving Sieve's encoder (no Sieve index).

    python -m benchmarks.beir_dense_exact --data ../shared/datasets/scifact

Its nDCG@10 should equal ``sieve eval beir --pipeline dense`` on the same collection (the encoder is the only shared
part: BEIR does its own exact search and scoring). Prints and writes ``results/beir_dense_exact_<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from beir.datasets.data_loader import GenericDataLoader
from beir.retrieval.evaluation import EvaluateRetrieval
from beir.retrieval.search.dense import DenseRetrievalExactSearch

from evaluation.beir_models import SieveBeirModel
from indexers.encoders import EncoderSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/scifact"))
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    corpus, queries, qrels = GenericDataLoader(str(args.data)).load(split="test")
    started = time.perf_counter()
    model = SieveBeirModel(EncoderSpec(backend=args.backend))
    retriever = EvaluateRetrieval(DenseRetrievalExactSearch(model, batch_size=64), score_function="cos_sim",
                                  k_values=[10, 100])
    results = retriever.retrieve(corpus, queries)
    ndcg, _map, recall, _p = retriever.evaluate(qrels, results, retriever.k_values)
    out = {"dataset": args.data.name, "backend": args.backend, "ndcg@10": ndcg["NDCG@10"],
           "recall@100": recall["Recall@100"], "docs": len(corpus), "queries": len(queries),
           "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(out))
    path = args.out or Path("results") / f"beir_dense_exact_{args.data.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
