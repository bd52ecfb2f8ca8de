"""Seismic build and query parameters (the names and defaults of ``pyseismic-lsr``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from indexers.learned_sparse.spec import SparseBuildSpec
from kernel.errors import MissingExtra


class SeismicSearchOptions(BaseModel):
    """Per-query knobs: ``query_cut`` (query terms used, heaviest first) and ``heap_factor`` (how hard block summaries
    prune against the k-th best score so far: higher skips more blocks, faster and less exact; measured at 1M
    documents, docs/results.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query_cut: int = Field(20, ge=1, le=1024)
    heap_factor: float = Field(0.8, gt=0, le=1)
    n_knn: int = Field(0, ge=0)
    sorted: bool = True


class SeismicIndexSpec(BaseModel):
    """A Seismic index: each term's posting list is cut to its ``n_postings * max_fraction`` heaviest entries,
    split into clusters (``centroid_fraction`` of the list become centroids), and each block gets a summary
    keeping ``summary_energy`` of its mass; ``doc_cut`` terms per document steer clustering. ``search`` holds
    the default query options written to the manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["seismic"] = "seismic"
    name: str = "splade-seismic"
    sparse: SparseBuildSpec = Field(default_factory=SparseBuildSpec)
    n_postings: int = Field(3500, ge=1)
    centroid_fraction: float = Field(0.1, gt=0, le=1)
    min_cluster_size: int = Field(2, ge=1)
    summary_energy: float = Field(0.4, gt=0, le=1)
    max_fraction: float = Field(1.5, ge=1)
    doc_cut: int = Field(15, ge=1)
    nknn: int = Field(0, ge=0)
    threads: int = Field(0, ge=0)  # 0: Rayon's default (all cores)
    search: SeismicSearchOptions = Field(default_factory=SeismicSearchOptions)


def import_seismic() -> object:
    """The ``seismic`` module, or an error naming the pip extra."""
    try:
        import seismic
    except ImportError:
        raise MissingExtra("the Seismic backend needs pyseismic-lsr: pip install 'sieve[seismic]'") from None
    return seismic
