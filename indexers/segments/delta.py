"""The delta segment: what the write-ahead log holds on top of the base collection, as one immutable snapshot.

A snapshot is the state after change ``seq``: live delta docs (id -> (seq, doc)), tombstones (``dead``: base ids
deleted or replaced, hidden at search time) and one segment per index with a row per upserted doc version (a row
is current while its doc's live seq equals the row's seq). A change makes a new snapshot (the writer swaps one
reference), so a request that took a snapshot reads one consistent version however many writes land meanwhile.
No encoding happens here: vectors come with the change (from the request, or from the log on replay).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
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

    def plus(self, owners: list[str], seqs: list[int]) -> Rows:
        return Rows(self.owners + tuple(owners), np.concatenate([self.seqs, np.asarray(seqs, np.int64)]))


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

    def plus(self, parts: list[tuple[DenseRows, list[str], int]], transform: PrefixTransform | None
             ) -> DenseSegment:
        """With the rows of ``parts`` (rows, the change's upserted ids, its seq) appended, in one copy."""
        vecs = np.concatenate([np.asarray(a.vectors, np.float32).reshape(-1, self.dim) for a, _, _ in parts])
        applied = None if transform is None else cat(self.applied, transform.apply(vecs))
        spans = None if parts[0][0].spans is None else cat(self.spans, np.concatenate(
            [np.asarray(a.spans, np.int64).reshape(-1, 2) for a, _, _ in parts]))
        owners = [ids[int(i)] for a, ids, _ in parts for i in a.owners]
        seqs = [seq for a, _, seq in parts for _ in a.owners]
        return DenseSegment(self.dim, self.rows.plus(owners, seqs), cat(self.vectors, vecs), applied, spans)


@dataclass(frozen=True, eq=False)
class TextSegment:
    """Delta rows for BM25 (native and Lucene alike: one analyzer): postings term -> (rows, tfs), Lucene lengths."""

    rows: Rows = field(default_factory=Rows)
    lengths: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    postings: Mapping[str, tuple[tuple[int, ...], tuple[float, ...]]] = field(default_factory=dict)

    def plus(self, items: Iterable[tuple[Doc, int]]) -> TextSegment:
        """With ``(doc, seq)`` rows appended: the postings dict copied once, each touched term's postings once."""
        postings = dict(self.postings)
        grown: dict[str, tuple[list[int], list[float]]] = {}
        lengths, owners, seqs, row = [], [], [], len(self.rows.owners)
        for doc, seq in items:
            terms = analyze(doc.contents)
            for term, tf in Counter(terms).items():
                add_rows, add_tfs = grown.setdefault(term, ([], []))
                add_rows.append(row)
                add_tfs.append(float(tf))
            lengths.append(lucene_length(len(terms)))
            owners.append(doc.id)
            seqs.append(seq)
            row += 1
        for term, (add_rows, add_tfs) in grown.items():
            rows, tfs = postings.get(term, ((), ()))
            postings[term] = (rows + tuple(add_rows), tfs + tuple(add_tfs))
        return TextSegment(self.rows.plus(owners, seqs),
                           np.concatenate([self.lengths, np.asarray(lengths, np.float32)]), postings)


@dataclass(frozen=True, eq=False)
class SparseSegment:
    """Delta rows of one learned sparse index (one row per upserted doc version)."""

    dim: int
    rows: Rows = field(default_factory=Rows)
    vectors: SparseVectors | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    def plus(self, parts: list[tuple[SparseVectors, list[str], int]]) -> SparseSegment:
        old = [] if self.vectors is None else [self.vectors]
        vectors = SparseVectors.concat([*old, *(v for v, _, _ in parts)], self.dim)
        return SparseSegment(self.dim, self.rows.plus([i for _, ids, _ in parts for i in ids],
                                                      [seq for _, ids, seq in parts for _ in ids]), vectors)


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
        return self.apply_many([change], in_base, transforms)

    def apply_many(self, changes: Sequence[Change], in_base: InBase,
                   transforms: Mapping[str, PrefixTransform | None]) -> Snapshot:
        """The snapshot after ``changes`` in order (a replay: one base lookup, each segment extended once)."""
        if not changes:
            return self
        touched = list(dict.fromkeys(i for c in changes for i in (*(d.id for d in c.upserts), *c.deletes)))
        present = in_base(touched) if touched else set()
        docs, dead = dict(self.docs), set(self.dead)
        text: list[tuple[Doc, int]] = []
        dense_parts: dict[str, list[tuple[DenseRows, list[str], int]]] = {}
        sparse_parts: dict[str, list[tuple[SparseVectors, list[str], int]]] = {}
        for change in changes:
            for doc_id in change.deletes:
                docs.pop(doc_id, None)
            for doc in change.upserts:
                docs[doc.id] = (change.seq, doc)
            dead |= present & {*(d.id for d in change.upserts), *change.deletes}
            ids = [d.id for d in change.upserts]
            text += [(d, change.seq) for d in change.upserts]
            for name, add in change.dense.items():
                dense_parts.setdefault(name, []).append((add, ids, change.seq))
            for name, vecs in change.sparse.items():
                sparse_parts.setdefault(name, []).append((vecs, ids, change.seq))
        dense = dict(self.dense)
        for name, parts in dense_parts.items():
            seg = dense.get(name) or DenseSegment(int(np.asarray(parts[0][0].vectors).shape[1]))
            dense[name] = seg.plus(parts, transforms.get(name))
        sparse = dict(self.sparse)
        for name, sparts in sparse_parts.items():
            sparse[name] = (sparse.get(name) or SparseSegment(sparts[0][0].dim)).plus(sparts)
        return replace(self, seq=changes[-1].seq, docs=docs, dead=frozenset(dead),
                       text=self.text.plus(text) if text else self.text, dense=dense, sparse=sparse,
                       rows=self.rows + len(text), changes=self.changes + len(changes))

    def doc(self, doc_id: str) -> Doc | None:
        entry = self.docs.get(doc_id)
        return entry[1] if entry else None
