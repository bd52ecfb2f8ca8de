"""The write-ahead log of one collection: every acknowledged change, fsynced before the write returns.

    <root>/.wal/<name>.sqlite      changes(seq, docs, deletes, vectors): one row per acknowledged change

SQLite in WAL journal mode with ``synchronous=FULL``, not a hand-rolled append-only file: a commit fsyncs the log
before it returns, a change of 100 documents is one transaction (a crash mid-append leaves none of it: no torn record
to detect and cut off), truncation up to a sequence number is one ``DELETE``, and the CLI and the server can append
to the same log (SQLite's own lock serialises them). Each row holds the upserted documents (every field of
``kernel.types.Doc``, ``codec.py``), the deleted ids and the vectors encoded for every index, so opening a collection
replays its log without encoding anything. ``seq`` is ``AUTOINCREMENT``: never reused, even after truncation, so the
``wal_seq`` a base records (the last change folded into it) stays comparable. The log lives outside the collection
folder because a merge swaps that whole folder while writers keep appending.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from indexers.durable import fault_point, fsync_dir
from indexers.layout import INFO_FILE  # the base records ``wal_seq`` there
from indexers.segments.codec import Change, decode_doc, encode_doc, pack_vectors, unpack_vectors

WAL_DIR = ".wal"


def wal_path(root: Path, name: str) -> Path:
    return root / WAL_DIR / f"{name}.sqlite"


def folded_seq(folder: Path) -> int:
    """The last log sequence number folded into the base in ``folder`` (0: none)."""
    try:
        return int(json.loads((folder / INFO_FILE).read_text()).get("wal_seq") or 0)
    except (OSError, ValueError):
        return 0


class WriteAheadLog:
    """One collection's log; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fresh = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")  # fsync the log at every commit: durable before the 200
        self._con.execute("CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                          "docs TEXT NOT NULL, deletes TEXT NOT NULL, vectors BLOB NOT NULL, at REAL NOT NULL)")
        if fresh:
            fsync_dir(path.parent)

    @classmethod
    def open_existing(cls, root: Path, name: str) -> WriteAheadLog | None:
        path = wal_path(root, name)
        return cls(path) if path.is_file() else None

    def append(self, change: Change) -> int:
        """Log ``change`` durably (fsync) and return its sequence number."""
        docs = json.dumps([encode_doc(d) for d in change.upserts], ensure_ascii=False)
        blob = pack_vectors(change.dense, change.sparse)
        fault_point("wal.before-append")
        with self._lock:
            cur = self._con.execute("INSERT INTO changes (docs, deletes, vectors, at) VALUES (?, ?, ?, ?)",
                                    (docs, json.dumps(list(change.deletes)), blob, time.time()))
            seq = int(cur.lastrowid or 0)
        fault_point("wal.after-append")
        return seq

    def read(self, after: int = 0) -> list[Change]:
        """Changes with ``seq > after`` in order."""
        with self._lock:
            rows = self._con.execute(
                "SELECT seq, docs, deletes, vectors FROM changes WHERE seq > ? ORDER BY seq", (after,)).fetchall()
        out = []
        for seq, docs, deletes, blob in rows:
            dense, sparse = unpack_vectors(blob)
            out.append(Change(tuple(decode_doc(d) for d in json.loads(docs)), tuple(json.loads(deletes)),
                              dense, sparse, seq=int(seq)))
        return out

    def last_seq(self) -> int:
        """The highest sequence number ever given (0 for a new log), truncated ones included."""
        with self._lock:
            row = self._con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return int(row[0]) if row else 0

    def pending(self, after: int) -> int:
        with self._lock:
            return int(self._con.execute("SELECT COUNT(*) FROM changes WHERE seq > ?", (after,)).fetchone()[0])

    def truncate(self, upto: int) -> int:
        """Drop changes with ``seq <= upto`` (folded into a base that records ``upto``); returns how many."""
        with self._lock:
            dropped = self._con.execute("DELETE FROM changes WHERE seq <= ?", (upto,)).rowcount
            if dropped:
                self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(dropped)

    def close(self) -> None:
        with self._lock:
            self._con.close()


def remove_log(root: Path, name: str) -> None:
    """Delete a collection's log (the collection is gone); a crash half-way leaves seqs a later base outnumbers."""
    path = wal_path(root, name)
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    fsync_dir(path.parent) if path.parent.is_dir() else None


def last_logged_seq(root: Path, name: str) -> int:
    """The log's last sequence number (0 without a log): what a base built from scratch records as folded."""
    log = WriteAheadLog.open_existing(root, name)
    if log is None:
        return 0
    try:
        return log.last_seq()
    finally:
        log.close()


def has_pending_log(root: Path, name: str) -> bool:
    """True when the log holds changes the base of ``root/name`` has not folded in."""
    log = WriteAheadLog.open_existing(root, name)
    if log is None:
        return False
    try:
        return log.pending(folded_seq(root / name)) > 0
    finally:
        log.close()


def truncate_folded(root: Path, name: str) -> list[str]:
    """Recovery: drop log changes the base already holds (a crash between a merge's swap and its truncation)."""
    log = WriteAheadLog.open_existing(root, name) if (root / name).is_dir() else None
    if log is None:
        return []
    try:
        dropped = log.truncate(folded_seq(root / name))
    finally:
        log.close()
    return [f"dropped {dropped} log changes the base already holds"] if dropped else []
