"""The live side of one opened collection: its write-ahead log and the current delta snapshot over the base.

``LiveSegments.write`` validates a change against the current version, encodes it for every index, logs it (fsync)
and only then swaps in the snapshot with it, all under the writer lock (writes to one collection are serialised;
other collections have their own). Opening replays the log after the base's ``wal_seq``; ``catch_up`` also picks up
changes other processes (the CLI) logged meanwhile. The base folder is never touched here: a merge
(``indexers/segments/merge.py``) folds the log into a new base.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore
from indexers.locks import collection_lock
from indexers.matryoshka.transform import PrefixTransform
from indexers.recovery import recover_collection
from indexers.segments.codec import Change, ChangeReport
from indexers.segments.delta import Snapshot
from indexers.segments.encode import EncoderFor, SparseEncoderFor, current_indexes, encode_change
from indexers.segments.wal import WriteAheadLog, folded_seq, wal_path
from indexers.sparse_encoders import build_sparse_encoder
from kernel.errors import InvalidInput, NotFound
from kernel.types import Doc


class LiveSegments:
    """The log and delta of the collection ``root/name`` over its base doc store ``docs``.

    Args:
        transforms: each dense index's Matryoshka transform (None: none), for the delta's prefix searches.
    """

    def __init__(self, root: Path, name: str, docs: DocStore,
                 transforms: Mapping[str, PrefixTransform | None] | None = None) -> None:
        self.root, self.name, self.docs = root, name, docs
        self.folder = root / name
        self.base_seq = folded_seq(self.folder)
        self.transforms = dict(transforms or {})
        # the base's indexes, read once: a merge may swap the folder while this (then old) version still takes writes
        self.indexes = current_indexes(self.folder, docs.version)
        self.lock = threading.RLock()  # the writer lock: one change (or a merge's swap) at a time
        self.current = Snapshot(seq=self.base_seq, base_count=docs.count)
        self._log = WriteAheadLog.open_existing(root, name)
        self.catch_up()

    def in_base(self, ids: list[str]) -> set[str]:
        return set(self.docs.get_many(ids))

    def catch_up(self) -> int:
        """Apply what the log holds after the current snapshot (replay at open; other processes' writes)."""
        if self._log is None:
            if not wal_path(self.root, self.name).is_file():
                return 0
            self._log = WriteAheadLog(wal_path(self.root, self.name))
        with self.lock:
            changes = self._log.read(after=self.current.seq)
            self.current = self.current.apply_many(changes, self.in_base, self.transforms)
        return len(changes)

    def visible(self, ids: Sequence[str], snap: Snapshot | None = None) -> set[str]:
        """Which ``ids`` the collection holds at ``snap`` (default: now)."""
        snap = snap or self.current
        in_delta = {i for i in ids if i in snap.docs}
        rest = [i for i in ids if i not in snap.docs and not snap.hidden(i)]
        return in_delta | self.in_base(rest)

    def get_many(self, ids: Sequence[str], snap: Snapshot | None = None) -> dict[str, Doc]:
        """Docs for ``ids`` at ``snap``: the delta's version, else the base's unless deleted or replaced."""
        snap = snap or self.current
        out = {i: d for i in ids if (d := snap.doc(i)) is not None}
        rest = [i for i in ids if i not in out and not snap.hidden(i)]
        return {**self.docs.get_many(rest), **out} if rest else out

    def write(self, upserts: Sequence[Doc] = (), deletes: Sequence[str] = (), *, encoder_for: EncoderFor,
              sparse_encoder_for: SparseEncoderFor | None = None) -> ChangeReport:
        """Log and apply one change; returns when it is durable and searchable.

        Raises:
            InvalidInput: duplicate ids among ``upserts``, or the change would leave the collection empty.
        """
        started = time.perf_counter()
        ids = [d.id for d in upserts]
        if len(set(ids)) != len(ids):
            raise InvalidInput("duplicate ids among the documents to upsert")
        with self.lock:
            self.catch_up()
            snap = self.current
            present = self.visible([*ids, *deletes], snap)
            added = [i for i in ids if i not in present]
            gone = [i for i in dict.fromkeys(deletes) if i in present and i not in set(ids)]
            if snap.count + len(added) - len(gone) <= 0:
                raise InvalidInput("the change would leave the collection empty; delete the collection instead")
            marks = [time.perf_counter()]
            change = encode_change(self.indexes, upserts, deletes, encoder_for=encoder_for,
                                   sparse_encoder_for=sparse_encoder_for or build_sparse_encoder)
            marks.append(time.perf_counter())
            if self._log is None:
                self._log = WriteAheadLog(wal_path(self.root, self.name))
            seq = self._log.append(change)  # durable from here on
            marks.append(time.perf_counter())
            if seq == snap.seq + 1:
                self.current = snap.apply(replace(change, seq=seq), self.in_base, self.transforms)
            else:  # another process logged changes in between: take them (and ours) from the log, in order
                self.catch_up()
            count = self.current.count
            marks.append(time.perf_counter())
        stages = dict(zip(("encode", "log", "apply"), (round((b - a) * 1000, 2) for a, b in itertools.pairwise(marks)),
                          strict=True))
        versions = {p.name: m.version for p, m in self.indexes}
        return ChangeReport(self.name, count, added=len(added), replaced=len(ids) - len(added),
                            deleted=len([i for i in deletes if i in present]),
                            not_found=[i for i in deletes if i not in present],
                            seconds=round(time.perf_counter() - started, 4), versions=versions, seq=self.current.seq,
                            timings_ms=stages)

    def pending_changes(self) -> list[Change]:
        """The logged changes not folded into the base yet (what a merge folds)."""
        return self._log.read(after=self.base_seq) if self._log is not None else []

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def write_offline(root: Path, name: str, upserts: Sequence[Doc] = (), deletes: Sequence[str] = (), *,
                  encoder_for: EncoderFor, sparse_encoder_for: SparseEncoderFor | None = None
                  ) -> tuple[ChangeReport, int]:
    """The CLI's write (no server): log the change like the server does, under the collection's file lock. Returns
    the report and the delta's size (rows + tombstones), which the caller compares with the merge threshold.

    Raises:
        NotFound: no such collection.
    """
    with collection_lock(root, name):  # offline: waits for a merge or rebuild running elsewhere
        recover_collection(root, name)
        if not (root / name / DOCSTORE_FILE).is_file():
            raise NotFound(f"unknown collection {name!r}")
        live = LiveSegments(root, name, DocStore(root / name / DOCSTORE_FILE))
        try:
            report = live.write(upserts, deletes, encoder_for=encoder_for, sparse_encoder_for=sparse_encoder_for)
            return report, live.current.pending
        finally:
            live.close()
