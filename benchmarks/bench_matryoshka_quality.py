"""Matryoshka quality on a BEIR collection: nDCG@10 against dims for each prefix transform, and the funnel.

For each variant the collection's dense index is hard-linked into a scratch root, given Matryoshka structure with
``add_matryoshka`` and evaluated through the same pipeline the service runs (``evaluate_pipelines``).

    python -m benchmarks.bench_matryoshka_quality --collection scifact [--finetuned dense-mrl]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from evaluation.beir_eval import evaluate_pipelines
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex
from indexers.encoders import EncoderSpec, build_encoder
from indexers.matryoshka import FunnelSpec, MatryoshkaSpec
from indexers.matryoshka.build import add_matryoshka
from service.config import Settings
from training.matryoshka_supervision import supervision_from_beir

DIMS = (384, 256, 128, 64, 32)


def scratch_collection(index_root: Path, collection: str, index: str, scratch: Path) -> Path:
    """A scratch root holding the collection with only ``index`` (files hard-linked, nothing copied)."""
    src = index_root / collection
    dst = scratch / collection
    (dst / "indexes").mkdir(parents=True)
    for name in ("docs.sqlite", "collection.json"):
        os.link(src / name, dst / name)
    shutil.copytree(src / "indexes" / index, dst / "indexes" / index, copy_function=os.link)
    return scratch


def ndcg(root: Path, data: Path, collection: str, **kwargs: object) -> float:
    summary = evaluate_pipelines(data=data, pipelines=["dense"], split="test", k=100, collection=collection,
                                 url=None, out=None, dense_index=None, build=False,
                                 settings=Settings(index_root=root), **kwargs)[0]
    return round(summary["metrics"]["ndcg@10"], 4)  # type: ignore[index]


def run_variant(args: argparse.Namespace, name: str, index: str, spec: MatryoshkaSpec, supervise: bool) -> dict:
    data = args.data_dir / args.collection
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        root = scratch_collection(args.index_root, args.collection, index, Path(tmp))
        folder = root / args.collection / "indexes" / index
        supervision = None
        if supervise:
            dense = DenseIndex(folder)
            encoder = build_encoder(EncoderSpec.model_validate(dense.manifest.build["encoder"]))
            supervision = supervision_from_beir(BeirDataset.open(data), "train", encoder, dense)
        started = time.perf_counter()
        manifest = add_matryoshka(folder, spec, supervision)
        fit_s = round(time.perf_counter() - started, 1)
        info = manifest.build["matryoshka"]
        row = {"variant": name, "index": index, "trained_on": info["trained_on"], "fit_seconds": fit_s,
               "ndcg@10": {d: ndcg(root, data, args.collection, dims=d) for d in spec.dims}}
        if args.funnels and name in args.funnel_variants:
            row["funnel"] = {}
            for dims, code, shortlist in args.funnels:
                if dims in spec.dims and code in spec.codes:
                    key = f"{dims}-{code}-{shortlist}"
                    row["funnel"][key] = {
                        "ndcg@10": ndcg(root, data, args.collection,
                                        funnel=FunnelSpec(dims=dims, code=code, shortlist=shortlist)),
                        "resident_bytes": info["resident_bytes"][f"{dims}-{code}"],
                        "full_fp32_bytes": manifest.doc_count * info["full_dims"] * 4,
                    }
    print(f"{name:<22}" + "".join(f"{row['ndcg@10'][d]:>9.4f}" for d in spec.dims), flush=True)
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        dims = sorted(int(d) for d in row["ndcg@10"])
        ax.plot(dims, [row["ndcg@10"][d] for d in dims], marker="o", label=row["variant"])
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(DIMS), [str(d) for d in DIMS])
    ax.set_xlabel("dimensions")
    ax.set_ylabel("nDCG@10")
    ax.set_title("Matryoshka: quality against dimensions")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--index-root", type=Path, default=Path("indexes"))
    parser.add_argument("--data-dir", type=Path, default=Settings().data_dir)
    parser.add_argument("--index", default="dense", help="the plain dense index to give Matryoshka structure")
    parser.add_argument("--finetuned", default=None, help="a dense index built with a Matryoshka fine-tuned model")
    parser.add_argument("--steps", type=int, default=300, help="adaptor training steps")
    parser.add_argument("--scratch", default=None, help="folder for scratch roots (same filesystem as the index)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_matryoshka_quality.json"))
    args = parser.parse_args()
    args.scratch = args.scratch or str(args.index_root)
    args.funnels = [(64, "sq8", 200), (64, "fp32", 200), (32, "sq8", 200), (256, "binary", 200), (384, "binary", 200)]
    args.funnel_variants = {"pca", "adaptor (supervised)", "MRL fine-tune"}
    codes = ("fp32", "sq8", "binary")
    variants = [
        ("truncation", args.index, MatryoshkaSpec(transform="none", dims=DIMS, codes=codes), False),
        ("pca", args.index, MatryoshkaSpec(transform="pca", dims=DIMS, codes=codes), False),
        ("adaptor (unsupervised)", args.index, MatryoshkaSpec(transform="adaptor", dims=DIMS, codes=codes,
                                                              adaptor_steps=args.steps), False),
        ("adaptor (supervised)", args.index, MatryoshkaSpec(transform="adaptor", dims=DIMS, codes=codes,
                                                            adaptor_steps=args.steps), True),
    ]
    if args.finetuned:
        variants.append(("MRL fine-tune", args.finetuned, MatryoshkaSpec(transform="none", dims=DIMS, codes=codes),
                         False))
    print(f"{'variant':<22}" + "".join(f"{d:>9}" for d in DIMS))
    rows = [run_variant(args, *v) for v in variants]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"collection": args.collection, "metric": "ndcg@10", "dims": list(DIMS), "variants": rows}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    print("\nfunnel (shortlist -> rescore at full dim)")
    for row in rows:
        for key, cell in row.get("funnel", {}).items():
            ratio = cell["full_fp32_bytes"] / cell["resident_bytes"]
            print(f"{row['variant']:<22} {key:<16} nDCG@10 {cell['ndcg@10']:.4f}  resident {ratio:5.1f}x smaller")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
