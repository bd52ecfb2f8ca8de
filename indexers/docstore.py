"""Document text by id (SQLite): the one copy of the corpus that later stages read titles and texts from."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from kernel.types import Doc

FILENAME = "docs.sqlite"


def write_docstore(docs: Iterable[Doc], path: Path, *, batch: int = 2000, version: str | None = None) -> int:
    """Write ``docs`` (already validated and de-duplicated) in corpus order; returns the count.

    ``version`` (stored in the same file, so it changes with the docs atomically) is what every index built over
    this doc store records; an index that names another is stale.
    """
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL)")
    if version is not None:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('version', ?)", (version,))
    count = 0
    rows: list[tuple[str, str, str]] = []
    for doc in docs:
        rows.append((doc.id, doc.title, doc.text))
        if len(rows) >= batch:
            con.executemany("INSERT INTO docs VALUES (?, ?, ?)", rows)
            count += len(rows)
            rows.clear()
    con.executemany("INSERT INTO docs VALUES (?, ?, ?)", rows)
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
            for row in con.execute(f"SELECT id, title, text FROM docs WHERE id IN ({marks})", chunk):
                out[row[0]] = Doc(id=row[0], title=row[1], text=row[2])
        return out

    def iter_docs(self, batch: int = 1000) -> Iterator[Doc]:
        """Every doc in corpus order, streamed."""
        cur = self._con().execute("SELECT id, title, text FROM docs ORDER BY rowid")
        while rows := cur.fetchmany(batch):
            yield from (Doc(id=r[0], title=r[1], text=r[2]) for r in rows)
