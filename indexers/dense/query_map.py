"""Maps from a new model's query space into an old dense index's space (``sieve index upgrade``), so model B's
queries search model A's stored document vectors before (and without) re-encoding the corpus.

Fitted from calibration pairs: corpus texts (or pseudo-queries) encoded by B, paired with their vectors in A's space
(a document's stored vector, or A's encoding of the text). Two fits, both closed over the same centred second
moments, so they cost the same whatever the sample size:

- ``lstsq``: the plain linear least-squares map ``W = argmin |XW - Y|^2`` (what the ``aecp`` package fits; no bias).
- ``orthogonal``: affine ``XW + b`` with the lambda-orthogonality regulariser of Ricci et al. ("lambda-Orthogonality
  Regularization for Compatible Representation Learning", NeurIPS 2025): ``|XcW - Yc|^2 / n + lam |W'W - I|^2``
  (``WW'`` when B has fewer dimensions than A). An orthogonal ``W`` keeps B's angles, so B's own ranking survives
  the map; ``lam`` trades that against fitting A's space. Minimised by Adam from the least-squares solution; the bias
  is then the mean shift ``mean(Y) - mean(X) W``.

Stored as ``query_map.npz`` (``W``, ``b``) beside the query encoder's model; numpy only on the serving path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from indexers.encoders.base import l2_normalize

MAP_FILE = "query_map.npz"
MapMethod = Literal["lstsq", "orthogonal"]
DEFAULT_LAMBDA = 0.1


@dataclass(frozen=True)
class QueryMap:
    """``apply(B query vectors)`` -> unit vectors in the index's space."""

    weight: NDArray[np.float32]  # [dim of B, dim of the index]
    bias: NDArray[np.float32]  # [dim of the index]

    @property
    def dims(self) -> tuple[int, int]:
        return int(self.weight.shape[0]), int(self.weight.shape[1])

    def apply(self, queries: NDArray[np.float32]) -> NDArray[np.float32]:
        return l2_normalize(np.asarray(queries, dtype=np.float32) @ self.weight + self.bias)

    def save(self, folder: Path) -> Path:
        path = folder / MAP_FILE
        np.savez(path, W=self.weight, b=self.bias)
        return path

    @classmethod
    def load(cls, folder: Path) -> QueryMap:
        with np.load(folder / MAP_FILE) as data:
            return cls(np.ascontiguousarray(data["W"], dtype=np.float32), np.asarray(data["b"], dtype=np.float32))


def _moments(x: NDArray[np.float32], y: NDArray[np.float32]) -> tuple[NDArray[np.float64], ...]:
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"calibration needs paired rows: {len(x)} source vs {len(y)} target")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    mx, my = x64.mean(axis=0), y64.mean(axis=0)
    xc, yc = x64 - mx, y64 - my
    return xc.T @ xc / len(x), xc.T @ yc / len(x), mx, my


def fit_lstsq(x: NDArray[np.float32], y: NDArray[np.float32], ridge: float = 1e-6) -> QueryMap:
    """The plain linear map (no bias), ``ridge`` only for conditioning (times the mean eigenvalue of ``X'X``)."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    gram = x64.T @ x64
    w = np.linalg.solve(gram + ridge * np.trace(gram) / len(gram) * np.eye(len(gram)), x64.T @ y64)
    return QueryMap(w.astype(np.float32), np.zeros(y.shape[1], dtype=np.float32))


def fit_orthogonal(x: NDArray[np.float32], y: NDArray[np.float32], lam: float = DEFAULT_LAMBDA,
                   steps: int = 600, lr: float = 2e-3) -> QueryMap:
    """The affine map with the lambda-orthogonality regulariser (module docstring)."""
    sxx, sxy, mx, my = _moments(x, y)
    d_in, d_out = sxy.shape
    w = np.linalg.solve(sxx + 1e-6 * np.trace(sxx) / d_in * np.eye(d_in), sxy)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        grad = 2 * (sxx @ w - sxy)
        if d_in >= d_out:
            grad += 4 * lam * w @ (w.T @ w - np.eye(d_out))
        else:
            grad += 4 * lam * (w @ w.T - np.eye(d_in)) @ w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-12)
    return QueryMap(w.astype(np.float32), (my - mx @ w).astype(np.float32))


def fit_query_map(x: NDArray[np.float32], y: NDArray[np.float32], method: MapMethod = "orthogonal",
                  lam: float = DEFAULT_LAMBDA) -> QueryMap:
    """Fit the map from B's vectors ``x`` to the index-space vectors ``y`` (rows paired)."""
    return fit_lstsq(x, y) if method == "lstsq" else fit_orthogonal(x, y, lam)
