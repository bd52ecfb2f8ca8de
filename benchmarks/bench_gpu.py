"""GPU paths on a CUDA machine: corpus encoding (MiniLM dense, SPLADE-tiny learned sparse) by dtype and batch size,
query-encoding latency by batch size (what micro-batching buys on a GPU), and exact dense search on the GPU against
the CPU. Needs only torch, transformers and numpy, so it runs on a bare CUDA image without Sieve's own dependencies.

    python -m benchmarks.bench_gpu --minilm PATH --splade PATH --corpus corpus.jsonl[.gz] --out results/gpu.json

The encoders mirror Sieve's: MiniLM mean pooling + L2 normalisation (indexers/encoders/st.py via
sentence-transformers), SPLADE max-pooled log(1 + ReLU(logits)) over unpadded tokens.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import time
from pathlib import Path

import numpy as np


def read_corpus(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        rows = [json.loads(line) for line in fh if line.strip()]
    return [f"{r.get('title', '')} {r.get('text', '')}".strip() for r in rows]


def _sync(torch: object) -> None:
    if torch.cuda.is_available():  # type: ignore[attr-defined]
        torch.cuda.synchronize()  # type: ignore[attr-defined]


def encode(model: object, tok: object, texts: list[str], batch: int, device: str, kind: str, max_len: int) -> float:
    """Docs/s over ``texts`` (length-sorted batches, as Sieve's encoders do)."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    _sync(torch)
    start = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(order), batch):
            chunk = [texts[i] for i in order[lo:lo + batch]]
            enc = tok(chunk, padding=True, truncation=True, max_length=max_len, return_tensors="pt").to(device)
            out = model(**enc)
            mask = enc["attention_mask"].unsqueeze(-1).to(out[0].dtype)
            if kind == "dense":
                emb = (out[0] * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                emb = torch.nn.functional.normalize(emb.float(), dim=-1)
            else:
                emb = (torch.log1p(torch.relu(out.logits)) * mask).amax(dim=1)
            emb.cpu()
    _sync(torch)
    return len(texts) / (time.perf_counter() - start)


def query_latency(model: object, tok: object, texts: list[str], batch: int, device: str, reps: int = 30) -> float:
    """Median ms to encode one batch of ``batch`` short queries."""
    import torch

    times = []
    with torch.inference_mode():
        for r in range(reps + 3):
            chunk = texts[r * batch % len(texts):][:batch] or texts[:batch]
            _sync(torch)
            t = time.perf_counter()
            enc = tok(chunk, padding=True, truncation=True, max_length=64, return_tensors="pt").to(device)
            model(**enc)[0].cpu()
            _sync(torch)
            if r >= 3:
                times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def search_qps(n_docs: int, dim: int, n_queries: int, device: str) -> float:
    """Exact inner-product top-100 over ``n_docs`` random unit vectors, queries in batches of 64."""
    import torch

    g = torch.Generator(device="cpu").manual_seed(0)
    docs = torch.nn.functional.normalize(torch.randn(n_docs, dim, generator=g), dim=-1)
    queries = torch.nn.functional.normalize(torch.randn(n_queries, dim, generator=g), dim=-1)
    docs, queries = docs.to(device), queries.to(device)
    torch.topk(queries[:64] @ docs.T, 100, dim=1)
    _sync(torch)
    start = time.perf_counter()
    for lo in range(0, n_queries, 64):
        torch.topk(queries[lo:lo + 64] @ docs.T, 100, dim=1).indices.cpu()
    _sync(torch)
    return n_queries / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minilm", type=Path, required=True)
    ap.add_argument("--splade", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None, help="first N docs (CPU runs)")
    ap.add_argument("--out", type=Path, default=Path("results/gpu.json"))
    args = ap.parse_args()

    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    texts = read_corpus(args.corpus)[: args.limit]
    rows: list[dict[str, object]] = []
    info = {"device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "docs": len(texts), "cpu_threads": torch.get_num_threads()}
    for kind, path, loader in (("dense", args.minilm, AutoModel), ("splade", args.splade, AutoModelForMaskedLM)):
        tok = AutoTokenizer.from_pretrained(path)
        for dtype in (torch.float32, torch.float16, torch.bfloat16) if device == "cuda" else (torch.float32,):
            model = loader.from_pretrained(path, dtype=dtype).to(device).eval()
            for batch in (32, 128, 512) if device == "cuda" else (32,):
                dps = encode(model, tok, texts, batch, device, kind, 256 if kind == "dense" else 512)
                rows.append({"what": f"{kind} encode", "dtype": str(dtype).split(".")[-1], "batch": batch,
                             "docs_per_s": round(dps, 1)})
                print(rows[-1], flush=True)
            if kind == "dense" and dtype == torch.float16 or device == "cpu" and kind == "dense":
                queries = [t[:120] for t in texts[:2000]]
                for qb in (1, 8, 32, 128):
                    ms = query_latency(model, tok, queries, qb, device)
                    rows.append({"what": "query batch", "dtype": str(dtype).split(".")[-1], "batch": qb,
                                 "ms_per_batch": round(ms, 2), "queries_per_s": round(qb * 1000 / ms, 1)})
                    print(rows[-1], flush=True)
            del model
    for n in (100_000, 1_000_000) if device == "cuda" else (100_000,):
        for dev in ("cuda", "cpu") if device == "cuda" else ("cpu",):
            qps = search_qps(n, 384, 2048 if dev == "cuda" else 256, dev)
            rows.append({"what": "exact search top-100", "device": dev, "docs": n, "queries_per_s": round(qps, 1)})
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    print(json.dumps(info))
    for r in rows:
        print("  ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
