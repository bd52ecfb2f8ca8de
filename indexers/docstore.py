"""Document text by id (SQLite): the one copy of the corpus that later stages read titles and texts from."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kernel.types import Doc

FILENAME = "docs.sqlite"


def metadata_json(metadata: Mapping[str, Any] | None) -> str | None:
    """A document's metadata as stored (compact JSON, keys sorted), None when it has none."""
    return json.dumps(metadata, separators=(",", ":"), sort_keys=True) if metadata else None


def _doc(row: tuple[str, str, str, str | None]) -> Doc:
    return Doc(id=row[0], title=row[1], text=row[2], metadata=json.loads(row[3]) if row[3] else None)


def write_docstore(docs: Iterable[Doc], path: Path, *, batch: int = 2000, version: str | None = None) -> int:
    """Write ``docs`` (already validated and de-duplicated) in corpus order; returns the count.

    ``version`` (stored in the same file, so it changes with the docs atomically) is what every index built over
    this doc store records; an index that names another is stale. ``metadata`` is a JSON column (NULL: none).
    """
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, metadata TEXT)")
    if version is not None:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('version', ?)", (version,))
    count = 0
    rows: list[tuple[str, str, str, str | None]] = []
    for doc in docs:
        rows.append((doc.id, doc.title, doc.text, metadata_json(doc.metadata)))
        if len(rows) >= batch:
            con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", rows)
            count += len(rows)
            rows.clear()
    con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", rows)
    count += len(rows)
    con.commit()
    con.close()
    return count


class DocStore:
    """Read-only access from any thread (one SQLite connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.count = self._con().execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        has_meta = self._con().execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        row = self._con().execute("SELECT value FROM meta WHERE key = 'version'").fetchone() if has_meta else None
        self.version: str | None = row[0] if row else None  # None: written before doc stores had versions
        columns = {r[1] for r in self._con().execute("PRAGMA table_info(docs)")}
        # Doc stores written before metadata existed have no column: every document reads as having none.
        self.has_metadata = "metadata" in columns
        self._columns = "id, title, text, " + ("metadata" if self.has_metadata else "NULL")

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.con = con
        return con

    def get_many(self, ids: Sequence[str]) -> dict[str, Doc]:
        """Docs for ``ids`` that exist (missing ids are simply absent)."""
        out: dict[str, Doc] = {}
        con = self._con()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in con.execute(f"SELECT {self._columns} FROM docs WHERE id IN ({marks})", chunk):
                out[row[0]] = _doc(row)
        return out

    def iter_docs(self, batch: int = 1000) -> Iterator[Doc]:
        """Every doc in corpus order, streamed."""
        cur = self._con().execute(f"SELECT {self._columns} FROM docs ORDER BY rowid")
        while rows := cur.fetchmany(batch):
            yield from (_doc(r) for r in rows)

    def iter_metadata(self, batch: int = 5000) -> Iterator[tuple[str, str | None]]:
        """``(id, metadata JSON or None)`` of every doc in corpus order (what filters are evaluated over)."""
        cur = self._con().execute(f"SELECT id, {self._columns.rsplit(', ', 1)[1]} FROM docs ORDER BY rowid")
        while rows := cur.fetchmany(batch):
            yield from rows
