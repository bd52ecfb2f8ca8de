"""Build a Seismic index (``pyseismic-lsr``) from the forward store, addressing terms by vocabulary id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexers.learned_sparse.store import ForwardStore
from indexers.seismic.spec import SeismicIndexSpec, import_seismic

SEISMIC_PREFIX = "seismic"  # pyseismic appends ".index.seismic"
SEISMIC_FILE = SEISMIC_PREFIX + ".index.seismic"


def write_seismic(tmp: Path, store: ForwardStore, spec: SeismicIndexSpec) -> dict[str, Any]:
    seismic: Any = import_seismic()
    vectors = store.vectors
    dataset = seismic.SeismicDataset(dim=vectors.dim)
    # Ids are strictly increasing within a row (the encoder emits them sorted); rows without terms are skipped.
    added = dataset.add_documents_by_id(
        store.docids, vectors.indices.astype(np.int64), vectors.values.astype(np.float32, copy=False),
        vectors.indptr.astype(np.int64, copy=False),
    )
    kwargs = {"n_postings": spec.n_postings, "centroid_fraction": spec.centroid_fraction,
              "min_cluster_size": spec.min_cluster_size, "summary_energy": spec.summary_energy,
              "max_fraction": spec.max_fraction, "doc_cut": spec.doc_cut, "nknn": spec.nknn}
    if spec.threads:
        kwargs["num_threads"] = spec.threads
    index = seismic.SeismicIndex.build_from_dataset(dataset, **kwargs)
    index.save(str(tmp / SEISMIC_PREFIX))
    return {"seismic": {"version": _version(), "indexed_docs": int(added), "nnz": int(index.nnz),
                        "bytes": (tmp / SEISMIC_FILE).stat().st_size}}


def _version() -> str:
    from importlib.metadata import version

    return version("pyseismic-lsr")
