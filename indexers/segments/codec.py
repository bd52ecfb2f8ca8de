"""What one logged change holds, and how it is written: documents as JSON (every field of ``Doc``), vectors as npz."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.sparse_encoders import SparseVectors
from kernel.types import Doc

_DOC_FIELDS = {f.name for f in dataclasses.fields(Doc)}


@dataclass(frozen=True)
class DenseRows:
    """The vectors one change adds to one dense index: one row per upserted doc, or per passage on a passage index
    (``owners[i]``: position of the row's doc in the change's upserts; ``spans``: the passage's character span)."""

    vectors: NDArray[np.float32]
    owners: NDArray[np.int64]
    spans: NDArray[np.int64] | None = None


@dataclass(frozen=True)
class Change:
    """Upserts (new ids added, existing ids replaced) and deletes, with the vectors of the upserts for every index
    (dense by index name; learned sparse by index name, one row per upsert); ``seq`` once logged."""

    upserts: tuple[Doc, ...] = ()
    deletes: tuple[str, ...] = ()
    dense: dict[str, DenseRows] = field(default_factory=dict)
    sparse: dict[str, SparseVectors] = field(default_factory=dict)
    seq: int = 0


@dataclass(frozen=True)
class ChangeReport:
    """What one change did to a collection."""

    name: str
    doc_count: int
    added: int = 0
    replaced: int = 0
    deleted: int = 0
    not_found: list[str] = field(default_factory=list)
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)
    seq: int = 0  # the write-ahead log's sequence number of the change (a rebuild: the last one it folded)
    timings_ms: dict[str, float] = field(default_factory=dict)  # a logged write: encode, log (fsync), apply


def encode_doc(doc: Doc) -> dict[str, Any]:
    """Every field of ``doc`` (whatever ``Doc`` carries: ``dataclasses.asdict``), JSON-ready."""
    return dataclasses.asdict(doc)


def decode_doc(row: dict[str, Any]) -> Doc:
    """The ``Doc`` ``encode_doc`` wrote (fields a newer writer added that this ``Doc`` lacks are dropped)."""
    return Doc(**{k: v for k, v in row.items() if k in _DOC_FIELDS})


def pack_vectors(dense: dict[str, DenseRows], sparse: dict[str, SparseVectors]) -> bytes:
    arrays: dict[str, NDArray[Any]] = {}
    for name, rows in dense.items():
        arrays[f"d/{name}/vectors"] = np.asarray(rows.vectors, dtype=np.float32)
        arrays[f"d/{name}/owners"] = np.asarray(rows.owners, dtype=np.int64)
        if rows.spans is not None:
            arrays[f"d/{name}/spans"] = np.asarray(rows.spans, dtype=np.int64)
    for name, vecs in sparse.items():
        arrays[f"s/{name}/indptr"], arrays[f"s/{name}/indices"] = vecs.indptr, vecs.indices
        arrays[f"s/{name}/values"], arrays[f"s/{name}/dim"] = vecs.values, np.asarray(vecs.dim)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def unpack_vectors(blob: bytes) -> tuple[dict[str, DenseRows], dict[str, SparseVectors]]:
    dense: dict[str, DenseRows] = {}
    sparse: dict[str, SparseVectors] = {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        names = {(k.split("/")[0], k.split("/")[1]) for k in data.files}
        for kind, name in sorted(names):
            p = f"{kind}/{name}/"
            if kind == "d":
                spans = data[p + "spans"] if p + "spans" in data.files else None
                dense[name] = DenseRows(data[p + "vectors"], data[p + "owners"], spans)
            else:
                sparse[name] = SparseVectors(data[p + "indptr"], data[p + "indices"], data[p + "values"],
                                             int(data[p + "dim"]))
    return dense, sparse
