"""Long documents: whole-document vectors (the encoder's first window) vs passage indexes, on the synthetic corpus of
``evaluation/long_docs.py`` (SciFact abstracts end to end, a needle paragraph past the first window).

    python -m benchmarks.bench_long_docs --needles 8 --distractors 4 --abstracts 8 --chunk 128:32 --chunk 200:50

Per index: needle document at rank 1 (and MRR@10), the share of rank-1 hits whose passage offsets contain the
needle, vectors, documents cut at build, build seconds. Prints a table and writes ``results/long_docs.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evaluation.long_docs import make_long_corpus
from indexers.dense import DenseIndex, DenseIndexSpec, build_dense_index
from indexers.dense.passages import ChunkSpec
from indexers.encoders import EncoderSpec, build_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/datasets/scifact/corpus.jsonl"))
    parser.add_argument("--needles", type=int, default=8)
    parser.add_argument("--distractors", type=int, default=4)
    parser.add_argument("--abstracts", type=int, default=8, help="SciFact abstracts per long document")
    parser.add_argument("--chunk", action="append", default=None, help="WINDOW:OVERLAP[:max|sum]; repeat")
    parser.add_argument("--out", type=Path, default=Path("results/long_docs.json"))
    args = parser.parse_args()
    corpus = make_long_corpus(args.corpus, needles=args.needles, distractors=args.distractors,
                              abstracts_per_doc=args.abstracts)
    encoder = build_encoder(EncoderSpec())
    texts = {d.id: d.text for d in corpus.docs}
    tokens = [len(o) for o in encoder.token_offsets(list(texts.values()))]
    ids = list(corpus.queries)
    queries = encoder.encode_queries([corpus.queries[q] for q in ids])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk in [None, *(args.chunk or ["128:32", "200:50"])]:
            name = chunk or "whole documents"
            spec = DenseIndexSpec(name="bench", prefixes=None, passages=ChunkSpec.parse(chunk) if chunk else None)
            started = time.perf_counter()
            manifest = build_dense_index(iter(corpus.docs), len(corpus.docs), encoder, Path(tmp) / name.replace(
                ":", "-"), spec)
            seconds = time.perf_counter() - started
            index = DenseIndex(Path(tmp) / name.replace(":", "-"))
            results = index.search(queries, 10)
            ranks = [next((i + 1 for i, r in enumerate(res) if r[0] == corpus.answer[q]), None)
                     for q, res in zip(ids, results, strict=True)]
            cited = [bool(res[0].passage) and corpus.needle[q] in texts[res[0][0]][res[0].passage[0]:res[0].passage[1]]
                     for q, res in zip(ids, results, strict=True)]
            cut = manifest.build["truncated"]
            rows.append({"index": name, "top1": sum(r == 1 for r in ranks) / len(ids),
                         "mrr@10": sum(1 / r for r in ranks if r) / len(ids),
                         "cited": sum(cited) / len(ids), "vectors": manifest.build["passage_count"] or len(texts),
                         "cut": f"{cut['truncated']}/{cut['texts']} {cut['unit']}", "build_s": round(seconds, 1)})
    print(f"{len(texts)} documents of {min(tokens)}-{max(tokens)} tokens, {len(ids)} needle queries, MiniLM-L6 "
          f"(reads {encoder.max_tokens} tokens)")
    print(f"{'index':<18}{'top1':>6}{'mrr@10':>8}{'cited':>7}{'vectors':>9}  {'cut at build':<20}{'build s':>8}")
    for r in rows:
        print(f"{r['index']:<18}{r['top1']:>6.2f}{r['mrr@10']:>8.3f}{r['cited']:>7.2f}{r['vectors']:>9}  "
              f"{r['cut']:<20}{r['build_s']:>8}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"docs": len(texts), "tokens": [min(tokens), max(tokens)], "queries": len(ids),
                                    "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
