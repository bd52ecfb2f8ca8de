"""Early-exit compatibility maps: a query encoded with the first ``L`` layers, mapped into the space of the
full-depth document vectors a dense index stores.

One affine map per depth, fitted in closed form from pseudo-queries (corpus texts: titles, sentences) encoded at
every depth to a target in the index's space (``doc``: the stored vector of the document the text came from;
``self``: the text's own full-depth vector), so no document is re-encoded. ``affine`` is ridge least squares
(``W, b = argmin |XW + b - Y|^2 + lambda |W|^2``, ``lambda`` = ``ridge`` x the mean eigenvalue of the centred
``X'X``); ``procrustes`` a scaled rotation between the centred clouds plus the mean shift (it keeps the geometry of
the early-exit space). Stored as ``early_exit.npz`` in the index folder, recorded
in the manifest's ``build.early_exit`` (depths, default, how fitted); the folder is rewritten atomically with a new
manifest version, like ``add_matryoshka``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from indexers.encoders.base import l2_normalize
from indexers.manifest import MANIFEST, IndexManifest, atomic_folder, new_version, rewrite_build
from kernel.errors import InvalidInput

MAPS_FILE = "early_exit.npz"
MapKind = Literal["affine", "procrustes"]


def fit_map(x: NDArray[np.float32], y: NDArray[np.float32], kind: MapKind = "affine",
            ridge: float = 1e-2) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(W, b)`` with ``x @ W + b ≈ y`` (rows are paired samples)."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    mx, my = x64.mean(axis=0), y64.mean(axis=0)
    xc, yc = x64 - mx, y64 - my
    if kind == "procrustes":  # rotation between the centred clouds, scaled to the target's spread
        u, sv, vt = np.linalg.svd(xc.T @ yc)
        w = (u @ vt) * (sv.sum() / max(np.sum(xc * xc), 1e-12))
        return w.astype(np.float32), (my - mx @ w).astype(np.float32)
    gram = xc.T @ xc
    w = np.linalg.solve(gram + ridge * np.trace(gram) / len(gram) * np.eye(len(gram)), xc.T @ yc)
    return w.astype(np.float32), (my - mx @ w).astype(np.float32)


def apply_map(queries: NDArray[np.float32], w: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Mapped query rows, renormalised to unit length."""
    return l2_normalize(np.asarray(queries, dtype=np.float32) @ w + b)


class EarlyExitMaps:
    """The maps an index folder holds: ``depths`` served, the per-index ``default`` depth (None: full depth)."""

    def __init__(self, folder: Path, info: dict[str, Any]) -> None:
        data = np.load(folder / MAPS_FILE)
        self.depths: list[int] = sorted(int(d) for d in info["layers"])
        self.num_layers = int(info["num_layers"])
        self.default: int | None = info.get("default")
        self._maps = {d: (data[f"w{d}"], data[f"b{d}"]) for d in self.depths}

    def apply(self, queries: NDArray[np.float32], layers: int) -> NDArray[np.float32]:
        """Queries encoded with ``layers`` layers, mapped into the index's space (full depth: unchanged)."""
        if layers >= self.num_layers:
            return queries
        if layers not in self._maps:
            raise InvalidInput(f"this dense index has early-exit maps for layers {self.depths} (and full depth "
                               f"{self.num_layers}), not {layers}; fit it with `sieve index early-exit`")
        return apply_map(queries, *self._maps[layers])


def add_early_exit(folder: Path, depth_vectors: NDArray[np.float32], targets: NDArray[np.float32],
                   layers: list[int], *, kind: MapKind = "affine", ridge: float = 1e-2,
                   default: int | None = None, info: dict[str, Any] | None = None) -> IndexManifest:
    """Fit one map per depth in ``layers`` from ``depth_vectors[L-1]`` (``[num_layers, n, dim]``) to ``targets``
    (``[n, dim]``, in the index's space) and write them into the index folder with a new manifest version.

    Raises:
        InvalidInput: a depth outside 1..num_layers-1, a default not among them, or vectors of another dimension.
    """
    manifest = IndexManifest.read(folder)
    num_layers = depth_vectors.shape[0]
    bad = [d for d in layers if not 1 <= d < num_layers]
    if bad or not layers:
        raise InvalidInput(f"early-exit layers must be in 1..{num_layers - 1}, got {layers}")
    if default is not None and default not in layers and default != num_layers:
        raise InvalidInput(f"default layers {default} is neither full depth nor among the fitted {layers}")
    if depth_vectors.shape[2] != manifest.dims or targets.shape != depth_vectors.shape[1:]:
        raise InvalidInput(f"vectors of {depth_vectors.shape[2]} dims for a {manifest.dims}-dim index")
    started = time.perf_counter()
    arrays: dict[str, NDArray[np.float32]] = {}
    for depth in sorted(set(layers)):
        arrays[f"w{depth}"], arrays[f"b{depth}"] = fit_map(depth_vectors[depth - 1], targets, kind, ridge)
    with atomic_folder(folder) as tmp:
        for item in folder.iterdir():  # the index's own files, hard-linked
            if item.is_file() and item.name not in (MANIFEST, MAPS_FILE):
                os.link(item, tmp / item.name)
        np.savez(tmp / MAPS_FILE, **arrays)  # type: ignore[arg-type]
        record = {"layers": sorted(set(layers)), "num_layers": num_layers, "default": default, "map": kind,
                  "ridge": ridge, "samples": int(targets.shape[0]), **(info or {}),
                  "fit_seconds": round(time.perf_counter() - started, 2)}
        new = replace(manifest, build={**manifest.build, "early_exit": record},
                      version=new_version())
        new.write(tmp)
    return new


def carry_over(old: Path, new: Path) -> IndexManifest | None:
    """Give the rebuilt index ``new`` the early-exit maps of ``old`` (live changes: the maps are query-side and the
    document vectors of unchanged documents are the same); None when ``old`` had none."""
    record = IndexManifest.read(old).build.get("early_exit")
    if record is None:
        return None
    shutil.copyfile(old / MAPS_FILE, new / MAPS_FILE)
    return _rewrite(new, record)


def set_default(folder: Path, default: int | None) -> IndexManifest:
    """Change only the index's default early-exit depth (a new manifest version; the maps stay)."""
    manifest = IndexManifest.read(folder)
    record = manifest.build.get("early_exit")
    if record is None:
        raise InvalidInput(f"index {folder.name!r} has no early-exit maps; fit them with `sieve index early-exit`")
    if default is not None and default not in record["layers"] and default != record["num_layers"]:
        raise InvalidInput(f"default layers {default} is neither full depth nor among the fitted {record['layers']}")
    return _rewrite(folder, {**record, "default": default})


def _rewrite(folder: Path, record: dict[str, Any]) -> IndexManifest:
    """The index folder again (files hard-linked) with ``record`` as its early-exit entry and a new version."""
    return rewrite_build(folder, {"early_exit": record})
