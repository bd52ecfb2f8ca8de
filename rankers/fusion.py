"""Fusing ranked lists from several retrievers into one: reciprocal-rank fusion and normalised convex combination.

RRF: Cormack, Clarke & Buettcher, "Reciprocal Rank Fusion outperforms Condorcet and individual rank learning
methods", SIGIR 2009. Convex combination of normalised scores: Bruch, Gai & Ingber, "An Analysis of Fusion
Functions for Hybrid Retrieval", TOIS 2023.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kernel.types import Hit

Normalization = Literal["minmax", "zscore"]


class FusionSpec(BaseModel):
    """How a hybrid pipeline fuses its runs. ``weights`` follow the retriever order (``hybrid``: sparse, dense; else
    the request's ``retrievers``) and apply to both methods: RRF adds ``w / (rrf_k + rank)``; None weighs all
    runs equally."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["rrf", "convex"] = "rrf"
    rrf_k: int = Field(60, ge=1, le=10_000)
    normalization: Normalization = "minmax"
    weights: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _weights_valid(self) -> FusionSpec:
        if self.weights is not None and (any(w < 0 for w in self.weights) or sum(self.weights) <= 0):
            raise ValueError("fusion weights must be non-negative and not all zero")
        return self


def _merge(runs: Sequence[Sequence[Hit]]) -> dict[str, Hit]:
    """First-seen hit per id, with every run's stage scores merged in."""
    merged: dict[str, Hit] = {}
    for run in runs:
        for hit in run:
            prior = merged.get(hit.id)
            if prior is None:
                merged[hit.id] = hit
            else:
                merged[hit.id] = Hit(prior.id, prior.score, prior.title or hit.title, prior.text or hit.text,
                                     {**prior.stage_scores, **hit.stage_scores}, prior.passage or hit.passage)
    return merged


def _ranked(merged: dict[str, Hit], fused: dict[str, float], stage: str, top_k: int | None) -> list[Hit]:
    order = sorted(fused, key=lambda i: (-fused[i], i))
    return [merged[i].with_score(fused[i], stage) for i in order[:top_k]]


def _weights(weights: Sequence[float] | None, runs: Sequence[Sequence[Hit]], equal: float) -> list[float]:
    if weights is None:
        return [equal] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} fusion weights for {len(runs)} runs")
    return list(weights)


def rrf(runs: Sequence[Sequence[Hit]], *, k: int = 60, weights: Sequence[float] | None = None,
        top_k: int | None = None) -> list[Hit]:
    """Reciprocal-rank fusion: ``sum w / (k + rank)`` over the runs a doc appears in (rank from 1; ``w`` the
    run's weight; 1 each when ``weights`` is None: plain RRF)."""
    fused: dict[str, float] = {}
    for run, weight in zip(runs, _weights(weights, runs, 1.0), strict=True):
        for rank, hit in enumerate(run, start=1):
            fused[hit.id] = fused.get(hit.id, 0.0) + weight / (k + rank)
    return _ranked(_merge(runs), fused, "fusion", top_k)


def normalize(scores: Sequence[float], method: Normalization) -> np.ndarray:
    """Min-max to [0, 1], or z-score; a constant list maps to all zeros."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.size == 0:
        return arr
    if method == "minmax":
        span = arr.max() - arr.min()
        return (arr - arr.min()) / span if span > 0 else np.zeros_like(arr)
    std = arr.std()
    return (arr - arr.mean()) / std if std > 0 else np.zeros_like(arr)


def convex(
    runs: Sequence[Sequence[Hit]],
    *,
    weights: Sequence[float] | None = None,
    normalization: Normalization = "minmax",
    top_k: int | None = None,
) -> list[Hit]:
    """Weighted sum of per-run normalised scores. A doc missing from a run gets that run's lowest value."""
    weights = _weights(weights, runs, 1.0 / max(len(runs), 1))
    merged = _merge(runs)
    fused = dict.fromkeys(merged, 0.0)
    for run, weight in zip(runs, weights, strict=True):
        norm = normalize([h.score for h in run], normalization)
        floor = float(norm.min()) if norm.size else 0.0
        seen = {hit.id: float(v) for hit, v in zip(run, norm, strict=True)}
        for doc_id in fused:
            fused[doc_id] += weight * seen.get(doc_id, floor)
    return _ranked(merged, fused, "fusion", top_k)


def fuse(runs: Sequence[Sequence[Hit]], spec: FusionSpec, top_k: int | None = None) -> list[Hit]:
    """Apply the fusion ``spec`` names."""
    if spec.method == "rrf":
        return rrf(runs, k=spec.rrf_k, weights=spec.weights, top_k=top_k)
    return convex(runs, weights=spec.weights, normalization=spec.normalization, top_k=top_k)
