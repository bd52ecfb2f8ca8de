"""What every command group shares: logging set-up, settings with a CLI override, option types, spec parsers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.config import Settings

if TYPE_CHECKING:  # for annotations only; the parsers import these when called
    from indexers.bm25 import Bm25IndexSpec
    from indexers.dense import DenseIndexSpec
    from indexers.lucene import LuceneIndexSpec
    from indexers.matryoshka.spec import FunnelSpec

IndexRoot = Annotated[Path | None, typer.Option(help="where collections live [env SIEVE_INDEX_ROOT]")]


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def settings_for(index_root: Path | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"index_root": index_root}) if index_root else settings


def parse_dense(value: str) -> DenseIndexSpec:
    """``NAME:BACKEND:FACTORY[:MODEL]`` -> a DenseIndexSpec (e.g. ``dense-hnsw:torch:HNSW32``)."""
    from indexers.dense import DenseIndexSpec
    from indexers.encoders import EncoderSpec

    parts = value.split(":", 3)
    if len(parts) < 3:
        raise typer.BadParameter(f"{value!r}: expected NAME:BACKEND:FACTORY[:MODEL], e.g. dense:torch:Flat")
    encoder = EncoderSpec(backend=parts[1], **({"model": parts[3]} if len(parts) == 4 else {}))
    return DenseIndexSpec(name=parts[0], encoder=encoder, factory=parts[2])


def parse_learned_sparse(value: str):  # type: ignore[no-untyped-def]
    """``NAME:BACKEND[:MODEL]`` -> a learned sparse index spec (e.g. ``splade:lucene_impact``, ``splade-s:seismic``,
    ``splade-x:exact:naver/splade-v3``); BACKEND is one of the learned sparse backends."""
    from indexers.learned_sparse import SparseBuildSpec
    from indexers.learned_sparse_backends import BACKENDS
    from indexers.sparse_encoders import SparseEncoderSpec

    parts = value.split(":", 2)
    if len(parts) < 2 or parts[1] not in BACKENDS:
        raise typer.BadParameter(f"{value!r}: expected NAME:BACKEND[:MODEL] with BACKEND one of {sorted(BACKENDS)}, "
                                 "e.g. splade:lucene_impact")
    encoder = SparseEncoderSpec(model=parts[2]) if len(parts) == 3 else SparseEncoderSpec()
    return BACKENDS[parts[1]].spec(name=parts[0], sparse=SparseBuildSpec(encoder=encoder))


def parse_fusion(method: str | None, weights: str | None, rrf_k: int | None):  # type: ignore[no-untyped-def]
    """``--fusion rrf|convex``, ``--weights 0.2,0.3,0.5`` (one per fused retriever, in order) -> a FusionSpec, or
    None when neither is given (each pipeline keeps its own)."""
    from rankers.fusion import FusionSpec

    if method is None and weights is None and rrf_k is None:
        return None
    values = tuple(float(w) for w in weights.split(",")) if weights else None
    return FusionSpec(method=method or "rrf", weights=values, **({"rrf_k": rrf_k} if rrf_k else {}))


def parse_sparse(value: str) -> LuceneIndexSpec | Bm25IndexSpec:
    """``NAME:BACKEND`` -> a sparse index spec (e.g. ``bm25:native``, ``bm25-lucene:lucene``)."""
    from indexers.sparse import SPARSE_BACKENDS

    name, _, backend = value.partition(":")
    if not name or backend not in SPARSE_BACKENDS:
        raise typer.BadParameter(f"{value!r}: expected NAME:BACKEND with BACKEND one of {sorted(SPARSE_BACKENDS)}, "
                                 "e.g. bm25:native")
    return SPARSE_BACKENDS[backend].spec(name=name)


def parse_funnel(value: str) -> FunnelSpec:
    """``DIMS:CODE:SHORTLIST`` -> FunnelSpec (e.g. ``64:sq8:200``)."""
    from indexers.matryoshka.spec import FunnelSpec

    parts = value.split(":")
    if len(parts) != 3:
        raise typer.BadParameter(f"{value!r}: expected DIMS:CODE:SHORTLIST, e.g. 64:sq8:200")
    return FunnelSpec(dims=int(parts[0]), code=parts[1], shortlist=int(parts[2]))
