"""ADORE query encoders against unchanged dense indexes: test nDCG@10 of each collection's base query encoder and of
every registered query encoder, in its own collection and held out on the others (same run).

A query encoder is a model folder registered under ``<collection>/query_encoders/<name>/`` by ``sieve train
query-encoder``; here each one encodes the test queries of every collection and searches that collection's dense
index directly (the service serves it only on the index version it was trained against). The document vectors are
checked unchanged (sha256 of ``vectors.npy`` against ``--reference-root``, the index as built), so the table's
"documents re-encoded" is measured, not assumed.

    python -m benchmarks.bench_query_encoder --index-root indexes --reference-root /work/idx \
        --data-dir /work/shared/datasets --collections scifact,cranfield
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from evaluation.metrics import evaluate
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex, query_encoders
from indexers.encoders import EncoderSpec, build_encoder


def ndcg(index: DenseIndex, spec: EncoderSpec, data: BeirDataset, split: str = "test") -> float:
    queries, qrels = data.queries(split), data.qrels(split)
    ids = [q for q in queries if q in qrels]
    vectors = build_encoder(spec).encode_queries([queries[q] for q in ids])
    rows = index.search(np.ascontiguousarray(vectors), 100)
    return round(evaluate(qrels, {q: {d: float(s) for d, s in row} for q, row in zip(ids, rows, strict=True)})
                 ["ndcg@10"], 4)


def ms_per_query(spec: EncoderSpec, texts: list[str]) -> float:
    """Mean ms to encode one query per call, on one torch thread."""
    encoder = build_encoder(spec)
    encoder.encode_queries(texts[:5])
    start = time.perf_counter()
    for text in texts:
        encoder.encode_queries([text])
    return round((time.perf_counter() - start) * 1000 / len(texts), 2)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-root", type=Path, default=Path("indexes"))
    parser.add_argument("--reference-root", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--collections", default="scifact,cranfield")
    parser.add_argument("--index", default="dense")
    parser.add_argument("--timing-queries", type=int, default=100)
    parser.add_argument("--split", default="test", help="judged split scored (train: for choosing a recipe)")
    parser.add_argument("--only", default=None, help="comma-separated query encoder names to measure [all]")
    parser.add_argument("--out", type=Path, default=Path("results/bench_query_encoder.json"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    names = args.collections.split(",")
    indexes = {c: DenseIndex(args.index_root / c / "indexes" / args.index) for c in names}
    data = {c: BeirDataset.open(args.data_dir / c) for c in names}
    tuned: dict[str, tuple[str, EncoderSpec, query_encoders.QueryEncoderManifest]] = {}
    for c in names:
        for path in sorted((args.index_root / c / query_encoders.FOLDER).glob(f"*/{query_encoders.MANIFEST_FILE}")):
            if args.only is not None and path.parent.name not in args.only.split(","):
                continue
            manifest = query_encoders.read(args.index_root / c, path.parent.name)
            spec = query_encoders.model_spec(args.index_root / c, manifest)
            tuned[f"{c}/{manifest.name}"] = (c, spec, manifest)
    report: dict[str, dict[str, object]] = {}
    for c in names:
        index = indexes[c]
        row: dict[str, object] = {"base": ndcg(index, EncoderSpec.model_validate(index.manifest.build["encoder"]),
                                               data[c], args.split)}
        if args.reference_root is not None:
            row["vectors_unchanged"] = sha(index.folder / "vectors.npy") == sha(
                args.reference_root / c / "indexes" / args.index / "vectors.npy")
        for label, (home, spec, _) in tuned.items():
            row[label] = ndcg(index, spec, data[c], args.split)
            row[f"{label} role"] = "in-domain" if home == c else "held out"
        report[c] = row
    print(f"{'collection':<12}{'encoder':<28}{'role':<11}{'nDCG@10':>9}{'vs base':>9}")
    for c, row in report.items():
        print(f"{c:<12}{'base (index encoder)':<28}{'':<11}{row['base']:>9.4f}{'':>9}")
        for label in tuned:
            print(f"{c:<12}{label:<28}{row[f'{label} role']!s:<11}{row[label]:>9.4f}"
                  f"{float(row[label]) - float(row['base']):>+9.4f}")  # type: ignore[arg-type]
        if "vectors_unchanged" in row:
            print(f"{c:<12}document vectors unchanged vs the index as built: {row['vectors_unchanged']} "
                  "(documents re-encoded: 0)")
    texts = list(data[names[0]].queries(args.split).values())[: args.timing_queries]
    base_spec = EncoderSpec.model_validate(indexes[names[0]].manifest.build["encoder"])
    timing = {"base": ms_per_query(base_spec, texts), **{label: ms_per_query(spec, texts)
                                                         for label, (_, spec, _) in tuned.items()}}
    print(f"query encoding, {names[0]} {args.split}, one query per call, 1 thread (ms/query): {timing}")
    report["ms_per_query"] = timing
    report["encoders"] = {label: m.model_dump(exclude={"encoder"}) for label, (_, _, m) in tuned.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
