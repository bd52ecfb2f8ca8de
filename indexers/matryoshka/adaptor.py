"""Train a Matryoshka-Adaptor: a residual map on top of the PCA rotation whose prefixes keep full-dim similarities.

Yoon et al., "Matryoshka-Adaptor: Unsupervised and Supervised Tuning for Smaller Embedding Dimensions", EMNLP 2024.
Unsupervised terms use corpus embeddings alone (pairwise and top-k neighbour similarity at every prefix length
should match full-dimension similarity; a reconstruction term keeps the map near the rotation). With supervision
(query vectors and their judged docs) a contrastive term at every prefix length (and full) is added.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from indexers.matryoshka.transform import PrefixTransform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Supervision:
    """Query vectors (encoder output) and ``(query_row, doc_position)`` pairs of judged-relevant docs."""

    queries: NDArray[np.float32]
    pairs: list[tuple[int, int]]
    source: str


def train_adaptor(
    docs: NDArray[np.float32],
    dims: tuple[int, ...],
    base: PrefixTransform,
    *,
    supervision: Supervision | None = None,
    steps: int = 300,
    seed: int = 0,
    hidden: int = 512,
) -> tuple[PrefixTransform, dict[str, object]]:
    """Fit the residual MLP; returns the transform and a record of how it was trained."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    started = time.perf_counter()
    z = torch.tensor(base.apply(docs), dtype=torch.float32)
    dim = z.shape[1]
    neighbours = torch.topk(F.normalize(z, dim=-1) @ F.normalize(z, dim=-1).T, 11, dim=1).indices[:, 1:]
    l1, l2 = torch.nn.Linear(dim, hidden), torch.nn.Linear(hidden, dim)
    torch.nn.init.zeros_(l2.weight)  # start as the identity on top of the rotation
    torch.nn.init.zeros_(l2.bias)

    def adapt(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + l2(torch.relu(l1(x)))
        return out

    opt = torch.optim.Adam([*l1.parameters(), *l2.parameters()], lr=1e-3)
    if supervision is not None:
        tq = torch.tensor(base.apply(supervision.queries), dtype=torch.float32)
        hard = torch.topk(F.normalize(tq, dim=-1) @ F.normalize(z, dim=-1).T, 30, dim=1).indices
        pairs = torch.tensor(supervision.pairs)
    for _ in tqdm(range(steps), desc="train adaptor", unit="step"):
        idx = torch.randint(0, len(z), (256,))
        x, nb = z[idx], z[neighbours[idx]]
        full = F.normalize(x, dim=-1)
        target, target_nb = full @ full.T, torch.einsum("bd,bkd->bk", full, F.normalize(nb, dim=-1))
        y, y_nb = adapt(x), adapt(nb)
        loss = 0.1 * ((y - x) ** 2).sum(-1).mean()
        for m in dims:
            ym, ynbm = F.normalize(y[:, :m], dim=-1), F.normalize(y_nb[..., :m], dim=-1)
            loss = loss + (ym @ ym.T - target).abs().mean()
            loss = loss + (torch.einsum("bd,bkd->bk", ym, ynbm) - target_nb).abs().mean()
        if supervision is not None:
            batch = pairs[torch.randint(0, len(pairs), (64,))]
            qy, py = adapt(tq[batch[:, 0]]), adapt(z[batch[:, 1]])
            ny = adapt(z[hard[batch[:, 0], torch.randint(0, 30, (64,))]])
            for m in (*dims, dim):
                qm = F.normalize(qy[:, :m], dim=-1)
                cand = torch.cat([F.normalize(py[:, :m], dim=-1), F.normalize(ny[:, :m], dim=-1)])
                loss = loss + F.cross_entropy(qm @ cand.T / 0.05, torch.arange(len(batch)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        weights = {
            "w1": l1.weight.T.numpy().copy(), "b1": l1.bias.numpy().copy(),
            "w2": l2.weight.T.numpy().copy(), "b2": l2.bias.numpy().copy(),
        }
    info = {
        "steps": steps, "hidden": hidden, "seed": seed, "seconds": round(time.perf_counter() - started, 1),
        "trained_on": "corpus embeddings" + (f" + {supervision.source}" if supervision else " only (unsupervised)"),
        "supervised_pairs": len(supervision.pairs) if supervision else 0,
    }
    log.info("adaptor trained: %s", info)
    return PrefixTransform("adaptor", rotation=base.rotation, **weights), info
