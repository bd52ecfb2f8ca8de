"""Add Matryoshka structure to a built dense index: fit the transform, write one prefix index per (dims, code).

The index folder is rewritten atomically (existing files hard-linked, new ones added, a new manifest version), so a
running service keeps reading the old version until the new one is complete.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexers.layout import VECTORS_FILE
from indexers.manifest import MANIFEST, IndexManifest, atomic_folder, new_version
from indexers.matryoshka.adaptor import Supervision, train_adaptor
from indexers.matryoshka.codes import build_code_index, bytes_per_vector, write_code_index
from indexers.matryoshka.spec import MatryoshkaSpec
from indexers.matryoshka.transform import PrefixTransform, fit_pca
from kernel.errors import InvalidInput

log = logging.getLogger(__name__)


def prefix_file(dims: int, code: str) -> str:
    return f"prefix-{dims}-{code}.faiss"


def fit_transform(
    vectors: np.ndarray, spec: MatryoshkaSpec, supervision: Supervision | None
) -> tuple[PrefixTransform, dict[str, object]]:
    """The transform ``spec.transform`` names, with a record of how it was made."""
    if spec.transform == "none":
        return PrefixTransform("none"), {"trained_on": "nothing (plain truncation)"}
    pca = fit_pca(vectors)
    if spec.transform == "pca":
        return pca, {"trained_on": "corpus embeddings (PCA)"}
    return train_adaptor(vectors, spec.dims, pca, supervision=supervision, steps=spec.adaptor_steps,
                         seed=spec.adaptor_seed)


def add_matryoshka(
    folder: Path,
    spec: MatryoshkaSpec,
    supervision: Supervision | None = None,
    *,
    transform: PrefixTransform | None = None,
    transform_info: dict[str, object] | None = None,
) -> IndexManifest:
    """Fit ``spec``'s transform on the index's own vectors (or reuse ``transform``) and build its prefix indexes.

    Raises:
        InvalidInput: a requested dim is larger than the index's, or the funnel's (dims, code) is not built.
    """
    manifest = IndexManifest.read(folder)
    full = int(manifest.dims or 0)
    if max(spec.dims) > full:
        raise InvalidInput(f"dims {max(spec.dims)} > the index's {full}")
    if spec.funnel.dims not in spec.dims or spec.funnel.code not in spec.codes:
        raise InvalidInput(f"the funnel's {spec.funnel.dims}-dim {spec.funnel.code} index is not among dims "
                           f"{spec.dims} x codes {spec.codes}")
    started = time.perf_counter()
    vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
    if transform is None:
        transform, info = fit_transform(vectors, spec, supervision)
    else:
        info = {**(transform_info or {}), "reused_transform": True}
    sizes: dict[str, int] = {}
    with atomic_folder(folder) as tmp:
        for item in folder.iterdir():  # keep the dense index's own files (no copy: hard links)
            if item.is_file() and item.name != MANIFEST and not item.name.startswith("prefix-"):
                os.link(item, tmp / item.name)
        transform.save(tmp)
        for dims in spec.dims:
            prefixes = np.vstack([transform.prefix(vectors[i : i + 65536], dims)
                                  for i in range(0, len(vectors), 65536)])
            for code in spec.codes:
                write_code_index(build_code_index(prefixes, code), code, str(tmp / prefix_file(dims, code)))
                sizes[f"{dims}-{code}"] = bytes_per_vector(dims, code) * len(vectors)
        info = {**spec.model_dump(mode="json"), **info, "full_dims": full, "resident_bytes": sizes,
                "fit_seconds": round(time.perf_counter() - started, 1)}
        new = replace(manifest, build={**manifest.build, "matryoshka": info},
                      version=new_version())
        new.write(tmp)
    log.info("matryoshka %s on %s: %s", spec.transform, folder, sizes)
    return new
