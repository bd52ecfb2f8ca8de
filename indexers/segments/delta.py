"""The delta segment: what the write-ahead log holds on top of the base collection, as one immutable snapshot.

A snapshot is the state after change ``seq``: live delta docs (id -> (seq, doc)), tombstones (``dead``: base ids
deleted or replaced, hidden at search time) and one segment per index with a row per upserted doc version (a row
is current while its doc's live seq equals the row's seq). A change makes a new snapshot (the writer swaps one
reference), so a request that took a snapshot reads one consistent version however many writes land meanwhile.
No encoding happens here: vectors come with the change (from the request, or from the log on replay).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.bm25.analyzer import analyze
from indexers.bm25.build import lucene_length
from indexers.matryoshka.transform import PrefixTransform
from indexers.segments.codec import Change, DenseRows
from indexers.sparse_encoders import SparseVectors
from kernel.types import Doc

InBase = Callable[[list[str]], set[str]]  # which of these ids the base doc store holds


@dataclass(frozen=True, eq=False)
class Rows:
    """Which doc version each row of a segment belongs to."""

    owners: tuple[str, ...] = ()
    seqs: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def valid(self, live: Mapping[str, tuple[int, Doc]]) -> NDArray[np.bool_]:
        """Rows of the current version of a live delta doc."""
        return np.fromiter(((live.get(o, (-1,))[0] == s) for o, s in zip(self.owners, self.seqs.tolist(),
                                                                          strict=True)),
                           dtype=bool, count=len(self.owners))

    def plus(self, owners: list[str], seq: int) -> Rows:
        return Rows(self.owners + tuple(owners), np.concatenate([self.seqs, np.full(len(owners), seq, np.int64)]))


def cat(a: NDArray[Any] | None, b: NDArray[Any]) -> NDArray[Any]:
    return b if a is None else np.concatenate([a, b])


@dataclass(frozen=True, eq=False)
class DenseSegment:
    """Delta rows of one dense index; ``applied`` = the base's Matryoshka transform of them (prefix searches)."""

    dim: int
    rows: Rows = field(default_factory=Rows)
    vectors: NDArray[np.float32] | None = None
    applied: NDArray[np.float32] | None = None
    spans: NDArray[np.int64] | None = None
    cache: dict[Any, Any] = field(default_factory=dict)  # search matrices/indexes per mode, built on first use

    def plus(self, add: DenseRows, ids: list[str], seq: int, transform: PrefixTransform | None) -> DenseSegment:
        vecs = np.asarray(add.vectors, np.float32).reshape(-1, self.dim)
        applied = None if transform is None else cat(self.applied, transform.apply(vecs))
        spans = None if add.spans is None else cat(self.spans, np.asarray(add.spans, np.int64).reshape(-1, 2))
        return DenseSegment(self.dim, self.rows.plus([ids[int(i)] for i in add.owners], seq), cat(self.vectors, vecs),
                            applied, spans)


@dataclass(frozen=True, eq=False)
class TextSegment:
    """Delta rows for BM25 (native and Lucene alike: one analyzer): postings term -> (rows, tfs), Lucene lengths."""

    rows: Rows = field(default_factory=Rows)
    lengths: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    postings: Mapping[str, tuple[tuple[int, ...], tuple[float, ...]]] = field(default_factory=dict)

    def plus(self, docs: Iterable[Doc], seq: int) -> TextSegment:
        postings = dict(self.postings)
        lengths, owners, row = [], [], len(self.rows.owners)
        for doc in docs:
            terms = analyze(doc.contents)
            for term, tf in Counter(terms).items():
                rows, tfs = postings.get(term, ((), ()))
                postings[term] = (rows + (row,), tfs + (float(tf),))
            lengths.append(lucene_length(len(terms)))
            owners.append(doc.id)
            row += 1
        return TextSegment(self.rows.plus(owners, seq),
                           np.concatenate([self.lengths, np.asarray(lengths, np.float32)]), postings)


@dataclass(frozen=True, eq=False)
class SparseSegment:
    """Delta rows of one learned sparse index (one row per upserted doc version)."""

    dim: int
    rows: Rows = field(default_factory=Rows)
    vectors: SparseVectors | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    def plus(self, add: SparseVectors, ids: list[str], seq: int) -> SparseSegment:
        vectors = add if self.vectors is None else SparseVectors.concat([self.vectors, add], self.dim)
        return SparseSegment(self.dim, self.rows.plus(ids, seq), vectors)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The collection as of change ``seq``: the base minus ``dead`` plus the live delta ``docs``."""

    seq: int
    base_count: int
    docs: Mapping[str, tuple[int, Doc]] = field(default_factory=dict)
    dead: frozenset[str] = frozenset()
    text: TextSegment = field(default_factory=TextSegment)
    dense: Mapping[str, DenseSegment] = field(default_factory=dict)
    sparse: Mapping[str, SparseSegment] = field(default_factory=dict)
    rows: int = 0  # delta rows written since the base, superseded ones included
    changes: int = 0

    @property
    def count(self) -> int:
        """Documents in the collection at this version."""
        return self.base_count - len(self.dead) + len(self.docs)

    @property
    def pending(self) -> int:
        """How far the delta has grown (rows + tombstones): what the merge threshold compares."""
        return self.rows + len(self.dead)

    @property
    def empty(self) -> bool:
        return self.changes == 0

    def hidden(self, doc_id: str) -> bool:
        """True when the base's copy of ``doc_id`` is deleted or replaced at this version."""
        return doc_id in self.dead

    def apply(self, change: Change, in_base: InBase, transforms: Mapping[str, PrefixTransform | None]) -> Snapshot:
        """The snapshot after ``change`` (already logged: ``change.seq`` set)."""
        touched = [d.id for d in change.upserts] + list(change.deletes)
        present = in_base(touched) if touched else set()
        docs = dict(self.docs)
        for doc_id in change.deletes:
            docs.pop(doc_id, None)
        for doc in change.upserts:
            docs[doc.id] = (change.seq, doc)
        ids = [d.id for d in change.upserts]
        dense = dict(self.dense)
        for name, add in change.dense.items():
            seg = dense.get(name) or DenseSegment(int(np.asarray(add.vectors).shape[1]))
            dense[name] = seg.plus(add, ids, change.seq, transforms.get(name))
        sparse = dict(self.sparse)
        for name, vecs in change.sparse.items():
            sparse[name] = (sparse.get(name) or SparseSegment(vecs.dim)).plus(vecs, ids, change.seq)
        return replace(self, seq=change.seq, docs=docs, dead=self.dead | (present & set(touched)),
                       text=self.text.plus(change.upserts, change.seq) if change.upserts else self.text,
                       dense=dense, sparse=sparse, rows=self.rows + len(change.upserts), changes=self.changes + 1)

    def doc(self, doc_id: str) -> Doc | None:
        entry = self.docs.get(doc_id)
        return entry[1] if entry else None
