"""Which of the full model's layers should a shallow (distilled) query encoder start from? For every subset of
``--layers`` layers of the dense index's encoder, the mean cosine between the subset model's unit vectors of held-out
corpus pseudo-queries and the full model's, plain and after the affine early-exit map fitted on the other
pseudo-queries (``indexers/dense/early_exit.fit_map``, ridge 1e-3). No query or judgement is read.

    python -m benchmarks.bench_source_layers --index-root indexes --collection scifact --layers 3
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from indexers.collection import open_collection
from indexers.dense.early_exit import fit_map
from indexers.encoders import EncoderSpec
from kernel.model_resolver import resolve_model
from training.distil import mapped_cosine, student_model, vectors_of
from training.early_exit import pseudo_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-root", type=Path, default=Path("indexes"))
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--index", default="dense")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("results/bench_source_layers.json"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    col = open_collection(args.index_root / args.collection)
    index = col.dense[args.index]
    texts, _ = pseudo_queries(col, args.texts)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    held, fit = order[: args.held_out], order[args.held_out:]
    from transformers import AutoConfig

    encoder = EncoderSpec.model_validate(index.manifest.build["encoder"])
    total = int(AutoConfig.from_pretrained(str(resolve_model(encoder.model).path)).num_hidden_layers)
    rows = []
    teacher = None
    for subset in [tuple(range(total))] + list(itertools.combinations(range(total), args.layers)):
        model, _ = student_model(index, len(subset), args.max_length, subset)
        vectors = vectors_of(model, texts)
        if teacher is None:
            teacher = vectors
            continue
        plain = float((vectors[held] * teacher[held]).sum(axis=1).mean())
        w, b = fit_map(vectors[fit], teacher[fit], "affine", ridge=1e-3)
        rows.append({"layers": list(subset), "plain": round(plain, 4),
                     "mapped": round(mapped_cosine(vectors[held], w, b, teacher[held]), 4)})
        print(f"{subset!s:<16}{rows[-1]['plain']:>8.4f}{rows[-1]['mapped']:>8.4f}", flush=True)
    col.close()
    rows.sort(key=lambda r: -float(r["mapped"]))  # type: ignore[arg-type]
    print(f"{args.collection}: {len(texts)} pseudo-queries ({args.held_out} held out); best {rows[0]}, first "
          f"{next(r for r in rows if r['layers'] == list(range(args.layers)))}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"collection": args.collection, "layers": args.layers, "texts": len(texts),
                                    "held_out": args.held_out, "subsets": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
