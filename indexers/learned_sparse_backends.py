"""Learned sparse backend name -> spec, builder and reader: the one place that knows which backends exist.

The backend of an index folder is ``manifest.build["backend"]``; the serving side opens any of them with
``open_learned_sparse_index`` and calls ``index.search(query_vectors, k, options)`` with that backend's options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, TypeAdapter

from indexers.filters import AllowedDocs
from indexers.impact.build import ImpactIndexSpec
from indexers.impact.index import ImpactSearchOptions
from indexers.learned_sparse.exact import ExactIndexSpec, ExactSearchOptions
from indexers.learned_sparse.spec import KIND
from indexers.learned_sparse.store import ForwardStore, Writer, build_learned_sparse
from indexers.manifest import IndexManifest
from indexers.seismic.spec import SeismicIndexSpec, SeismicSearchOptions
from indexers.sparse_encoders import SparseEncoder, SparseEncoderSpec, SparseVectors
from kernel.errors import IndexUnavailable, InvalidInput
from kernel.types import Doc

LearnedSparseSpec = Annotated[ImpactIndexSpec | SeismicIndexSpec | ExactIndexSpec, Field(discriminator="backend")]
SPEC_ADAPTER: TypeAdapter[Any] = TypeAdapter(LearnedSparseSpec)


class LearnedSparseIndex(Protocol):
    """What every learned sparse reader offers."""

    backend: str
    folder: Path
    manifest: IndexManifest
    docids: list[str]

    def search(self, queries: SparseVectors, k: int, options: Any = None,
               allowed: AllowedDocs | None = None) -> list[list[tuple[str, float]]]: ...


@dataclass(frozen=True)
class Backend:
    """How to build, open and parametrise one learned sparse backend (imports deferred to first use)."""

    spec: type[BaseModel]
    options: type[BaseModel]
    writer: Callable[[], Writer]  # the backend's own structures beside the forward store (imported on first use)
    open: Callable[[Path], LearnedSparseIndex]


def _impact_writer() -> Writer:
    from indexers.impact.build import write_impact

    return write_impact


def _open_impact(folder: Path) -> LearnedSparseIndex:
    from indexers.impact.index import ImpactIndex

    return ImpactIndex(folder)


def _seismic_writer() -> Writer:
    from indexers.seismic.build import write_seismic

    return write_seismic


def _open_seismic(folder: Path) -> LearnedSparseIndex:
    from indexers.seismic.index import SeismicSparseIndex

    return SeismicSparseIndex(folder)


def _exact_writer() -> Writer:
    from indexers.learned_sparse.exact import write_exact

    return write_exact


def _open_exact(folder: Path) -> LearnedSparseIndex:
    from indexers.learned_sparse.exact import ExactSparseIndex

    return ExactSparseIndex(folder)


BACKENDS: dict[str, Backend] = {
    "lucene_impact": Backend(ImpactIndexSpec, ImpactSearchOptions, _impact_writer, _open_impact),
    "seismic": Backend(SeismicIndexSpec, SeismicSearchOptions, _seismic_writer, _open_seismic),
    "exact": Backend(ExactIndexSpec, ExactSearchOptions, _exact_writer, _open_exact),
}


def backend_of(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise InvalidInput(f"unknown learned sparse backend {name!r}; choose one of {sorted(BACKENDS)}") from None


def build_learned_sparse_index(
    docs: Iterable[Doc] | None,
    count: int,
    encoder: SparseEncoder | None,
    out_dir: Path,
    spec: BaseModel,
    *,
    reuse_vectors: Path | None = None,
    store: ForwardStore | None = None,
    docstore_version: str | None = None,
) -> IndexManifest:
    """Build the index ``spec`` describes: encode ``docs`` (or reuse another index's vectors, or take ``store``),
    then the writer of the backend its ``backend`` field names; see ``build_learned_sparse``."""
    backend = backend_of(str(getattr(spec, "backend", "")))
    return build_learned_sparse(docs, count, encoder, out_dir, spec, backend.writer(), reuse_vectors=reuse_vectors,
                                store=store, docstore_version=docstore_version)


def open_learned_sparse_index(folder: Path) -> LearnedSparseIndex:
    """Open a learned sparse index folder with the reader its manifest names."""
    manifest = IndexManifest.read(folder)
    if manifest.kind != KIND:
        raise IndexUnavailable(f"{folder} is a {manifest.kind} index, not {KIND}")
    return backend_of(str(manifest.build.get("backend"))).open(folder)


def search_options(backend: str, values: dict[str, Any] | None = None) -> BaseModel:
    """Validate per-request query parameters for ``backend`` (an InvalidInput naming the valid ones if bad)."""
    options = backend_of(backend).options
    try:
        return options(**(values or {}))
    except ValueError as exc:
        raise InvalidInput(f"bad {backend} search options: {exc}; valid: {sorted(options.model_fields)}") from None


def encoder_spec(manifest: IndexManifest) -> SparseEncoderSpec:
    """The encoder an index was built with: the query side must use the same model family and vocabulary."""
    return SparseEncoderSpec(**manifest.build["sparse"]["encoder"])
