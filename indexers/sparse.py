"""Sparse (BM25) index backends: Lucene through Pyserini (the Anserini-exact reference, RM3) and native (numpy,
in-process, faster). The manifest's ``build.backend`` says which built an index; this registry opens and rebuilds it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import Field

from indexers.bm25 import Bm25Index, Bm25IndexSpec, build_bm25_index
from indexers.filters import AllowedDocs
from indexers.lucene import Bm25Params, LuceneIndex, LuceneIndexSpec, build_lucene_index
from indexers.manifest import IndexManifest
from kernel.errors import IndexUnavailable
from kernel.types import Doc

SparseIndexSpec = Annotated[LuceneIndexSpec | Bm25IndexSpec, Field(discriminator="backend")]
# What `sieve index build` and `make run` build: native BM25 as "bm25", which a request without ``sparse_index`` gets
# (the service takes the first name in sorted order), and Lucene beside it as the Anserini-exact reference and for
# RM3. Native ranks the same (nDCG@10 equal on SciFact and Cranfield) at many times the speed: docs/results.md.
DEFAULT_SPARSE: tuple[LuceneIndexSpec | Bm25IndexSpec, ...] = (Bm25IndexSpec(name="bm25"),
                                                               LuceneIndexSpec(name="bm25-lucene"))


class SparseIndex(Protocol):
    """What the service and evaluation need of a BM25 index, whichever backend built it."""

    manifest: IndexManifest

    def search(self, query: str, k: int, params: Bm25Params | None = None,
               allowed: AllowedDocs | None = None) -> list[tuple[str, float]]: ...

    def batch_search(self, queries: dict[str, str], k: int, params: Bm25Params | None = None,
                     threads: int = 2, allowed: AllowedDocs | None = None) -> dict[str, list[tuple[str, float]]]: ...

    def term_idf(self, term: str) -> float: ...  # collection statistics: the delta segment scores with them

    @property
    def avgdl(self) -> float: ...


@dataclass(frozen=True)
class SparseBackend:
    spec: type[LuceneIndexSpec] | type[Bm25IndexSpec]
    build: Callable[..., IndexManifest]  # (docs, count, out_dir, spec, *, docstore_version)
    reader: Callable[[Path], SparseIndex]


SPARSE_BACKENDS: dict[str, SparseBackend] = {
    "lucene": SparseBackend(LuceneIndexSpec, build_lucene_index, LuceneIndex),
    "native": SparseBackend(Bm25IndexSpec, build_bm25_index, Bm25Index),
}


def backend_of(manifest: IndexManifest) -> SparseBackend:
    """The backend that built ``manifest``'s index (indexes from before backends existed are Lucene)."""
    name = manifest.build.get("backend", "lucene")
    if name not in SPARSE_BACKENDS:
        raise IndexUnavailable(f"sparse index {manifest.name!r} has backend {name!r}; this Sieve reads "
                               f"{sorted(SPARSE_BACKENDS)}")
    return SPARSE_BACKENDS[name]


def build_sparse_index(docs: Iterable[Doc], count: int, out_dir: Path, spec: LuceneIndexSpec | Bm25IndexSpec, *,
                       docstore_version: str | None = None) -> IndexManifest:
    """Build ``spec``'s index with its backend; ``docstore_version`` is recorded in the manifest."""
    return SPARSE_BACKENDS[spec.backend].build(docs, count, out_dir, spec, docstore_version=docstore_version)


def open_sparse_index(folder: Path) -> SparseIndex:
    """Open a built sparse index with the reader of the backend its manifest names."""
    return backend_of(IndexManifest.read(folder)).reader(folder)


def spec_of(manifest: IndexManifest) -> LuceneIndexSpec | Bm25IndexSpec:
    """The spec a sparse index was built with, from its manifest (for rebuilds)."""
    model = backend_of(manifest).spec
    return model.model_validate({k: v for k, v in manifest.build.items() if k in model.model_fields})
