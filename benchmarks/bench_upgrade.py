"""Model upgrades without re-indexing: model B's queries mapped into model A's unchanged dense index.

For each collection and each new model B (same run): nDCG@10 on the test queries of
- A -> A: the index as built (A's queries, A's stored vectors),
- B -> B: B fully re-indexed (the corpus encoded with B; exact inner products),
- B -> A through a map fitted on a calibration sample of the corpus (B's encoding of a document's text -> A's
  stored vector of it; no query and no judgement is read): the plain least-squares linear map (``lstsq``, what the
  ``aecp`` package fits) and the affine lambda-orthogonality map (``orthogonal``) at each ``--lams``;
- retention = (B -> A) / (B -> B), and the compatibility criterion (B -> A) >= (A -> A).

lambda is chosen per model on ``--tune`` (a collection's train split; never the reported test queries), then the
test figures of every lambda are printed too. A model ``NAME=PATH:DIMS`` is B truncated to its first DIMS
dimensions (a Matryoshka model at another dimension). Search is exact (numpy), so only the query side differs.

    python -m benchmarks.bench_upgrade --index-root /work/idx --data-dir ../shared/datasets \
        --collections scifact,cranfield --model mrl=/work/models/b1-mrl --model mrl256=/work/models/b1-mrl:256
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from evaluation.metrics import evaluate
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex
from indexers.dense.query_map import QueryMap, fit_query_map
from indexers.encoders import EncoderSpec, build_encoder
from indexers.encoders.base import l2_normalize

Matrix = NDArray[np.float32]


def search_ndcg(queries: Matrix, docs: Matrix, docids: list[str], qids: list[str],
                qrels: dict[str, dict[str, int]], k: int = 100) -> float:
    scores = queries @ docs.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    run = {q: {docids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}
    return round(evaluate(qrels, run)["ndcg@10"], 4)


class Model:
    """B (or A) by path, optionally truncated; corpus encodings cached under ``cache``."""

    def __init__(self, label: str, spec: EncoderSpec, dims: int | None, cache: Path) -> None:
        self.label, self.spec, self.dims, self.cache = label, spec, dims, cache
        self._encoder = None

    def _enc(self):  # type: ignore[no-untyped-def]
        if self._encoder is None:
            self._encoder = build_encoder(self.spec)
        return self._encoder

    def _cut(self, m: Matrix) -> Matrix:
        return l2_normalize(np.ascontiguousarray(m[:, : self.dims])) if self.dims else m

    def queries(self, texts: list[str]) -> Matrix:
        return self._cut(self._enc().encode_queries(texts))

    def docs(self, key: str, texts: list[str]) -> Matrix:
        digest = hashlib.sha256(f"{self.spec.model}|{key}|{len(texts)}".encode()).hexdigest()[:16]
        path = self.cache / f"{digest}.npy"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            np.save(path, self._enc().encode_docs(texts))
            print(f"  encoded {len(texts)} {key} docs with {self.spec.model} in {time.perf_counter() - started:.0f} s")
        return self._cut(np.load(path))


def parse_model(text: str, cache: Path) -> Model:
    label, _, rest = text.partition("=")
    path, _, dims = rest.partition(":")
    return Model(label, EncoderSpec(model=path), int(dims) if dims else None, cache)


def fits(x: Matrix, y: Matrix, lams: list[float]) -> dict[str, QueryMap]:
    out = {"lstsq": fit_query_map(x, y, "lstsq")}
    for lam in lams:
        out[f"orthogonal@{lam:g}"] = fit_query_map(x, y, "orthogonal", lam)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-root", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--collections", default="scifact,cranfield")
    parser.add_argument("--index", default="dense")
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH[:DIMS]")
    parser.add_argument("--calibration", type=int, default=2000, help="corpus documents the map is fitted on")
    parser.add_argument("--lams", default="0.01,0.03,0.1,0.3,1")
    parser.add_argument("--tune", default="scifact:train", help="COLLECTION:SPLIT on which lambda is chosen")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench_upgrade_cache"))
    parser.add_argument("--out", type=Path, default=Path("results/bench_upgrade.json"))
    args = parser.parse_args()
    lams = [float(v) for v in args.lams.split(",")]
    models = [parse_model(m, args.cache) for m in args.model]
    tune_collection, _, tune_split = args.tune.partition(":")
    report: dict[str, object] = {"calibration": args.calibration, "lams": lams, "tune": args.tune}
    chosen: dict[str, str] = {}
    rows: list[tuple[str, ...]] = []
    order = [tune_collection] + [c for c in args.collections.split(",") if c != tune_collection]
    for name in order:
        index = DenseIndex(args.index_root / name / "indexes" / args.index)
        data = BeirDataset.open(args.data_dir / name)
        contents = {d.id: d.contents for d in data.corpus()}
        texts = [contents[d] for d in index.docids]
        a_docs = np.ascontiguousarray(index.vectors(), dtype=np.float32)
        a_model = Model("A", EncoderSpec.model_validate(index.manifest.build["encoder"]), None, args.cache)
        sample = np.random.default_rng(0).choice(len(texts), min(args.calibration, len(texts)), replace=False)
        splits = ([tune_split] if name == tune_collection else []) + ["test"]  # lambda is chosen before the test
        for split in splits:
            queries, qrels = data.queries(split), data.qrels(split)
            qids = [q for q in queries if q in qrels]
            qtexts = [queries[q] for q in qids]
            aa = search_ndcg(a_model.queries(qtexts), a_docs, index.docids, qids, qrels)
            for model in models:
                b_docs = model.docs(name, texts)
                b_queries = model.queries(qtexts)
                bb = search_ndcg(b_queries, b_docs, index.docids, qids, qrels)
                maps = fits(b_docs[sample], a_docs[sample], lams)
                mapped = {label: search_ndcg(m.apply(b_queries), a_docs, index.docids, qids, qrels)
                          for label, m in maps.items()}
                if split != "test":  # the tuning split: choose lambda, report nothing else
                    best = max((k for k in mapped if k != "lstsq"), key=lambda k: mapped[k])
                    chosen[model.label] = best
                    report[f"tune/{model.label}"] = {"A->A": aa, "B->B": bb, **mapped, "chosen": best}
                    continue
                entry = {"A->A": aa, "B->B": bb, **mapped, "chosen": chosen.get(model.label),
                         "dims": {"A": a_docs.shape[1], "B": b_docs.shape[1]}}
                report[f"{name}/{model.label}"] = entry
                for label, value in mapped.items():
                    star = "*" if label == chosen.get(model.label) else ""
                    rows.append((name, model.label, f"{label}{star}", f"{aa:.4f}", f"{bb:.4f}", f"{value:.4f}",
                                 f"{value / bb:.1%}", "yes" if value >= aa else "no"))
    header = ("collection", "B", "map", "A->A", "B->B", "B->map->A", "retention", "B->A >= A->A")
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(len(header))]
    for r in [header, *rows]:
        print("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"* = lambda chosen on {args.tune}; calibration: {args.calibration} corpus documents per collection")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
