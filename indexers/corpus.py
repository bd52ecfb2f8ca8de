"""Streaming corpus readers: BEIR folders and plain JSONL, with bad records reported by line number."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from kernel.errors import CorpusError, NotFound
from kernel.types import Doc

log = logging.getLogger(__name__)


class OnError(StrEnum):
    """What a build does with a bad record."""

    skip = "skip"
    stop = "stop"


@dataclass(frozen=True)
class Fields:
    """Which JSON keys hold the id, body, (optional) title and (optional) metadata object. BEIR uses
    ``_id``/``text``/``title``/``metadata``."""

    id: str = "_id"
    text: str = "text"
    title: str | None = "title"
    metadata: str | None = "metadata"


@dataclass
class ReadReport:
    """What a read saw: records read, and each skipped record as ``(line, reason)``."""

    read: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        head = ", ".join(f"line {n}: {why}" for n, why in self.skipped[:5])
        more = f" (+{len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
        return f"{self.read} records read, {len(self.skipped)} skipped" + (f": {head}{more}" if head else "")


def _parse(line: str, fields: Fields) -> Doc:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"broken JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise CorpusError("record is not a JSON object")
    doc_id = record.get(fields.id)
    if doc_id is None or str(doc_id).strip() == "":
        raise CorpusError(f"no id (field {fields.id!r})")
    text = record.get(fields.text) or ""
    title = (record.get(fields.title) or "") if fields.title else ""
    if not str(text).strip() and not str(title).strip():
        raise CorpusError(f"empty text (fields {fields.text!r}/{fields.title!r})")
    metadata = record.get(fields.metadata) if fields.metadata else None
    if metadata is not None and not isinstance(metadata, dict):
        raise CorpusError(f"metadata (field {fields.metadata!r}) is not a JSON object")
    return Doc(id=str(doc_id), text=str(text), title=str(title), metadata=metadata or None)


def read_jsonl(
    path: str | Path,
    fields: Fields = Fields(),
    on_error: OnError = OnError.skip,
    report: ReadReport | None = None,
    limit: int | None = None,
) -> Iterator[Doc]:
    """Yield documents from a JSONL file one at a time, so the corpus never has to fit in memory.

    Args:
        path: the JSONL file.
        fields: which keys hold id, text and title.
        on_error: ``skip`` counts bad records in ``report``; ``stop`` raises on the first one.
        report: filled in while reading (pass one in to see the counts afterwards).
        limit: stop after this many good records.

    Raises:
        CorpusError: a bad record with ``on_error=stop``; the message carries the line number.
    """
    report = report if report is not None else ReadReport()
    seen: set[str] = set()
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"corpus file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = _parse(line, fields)
                if doc.id in seen:
                    raise CorpusError(f"duplicate id {doc.id!r}")
            except CorpusError as exc:
                if on_error is OnError.stop:
                    raise CorpusError(f"{path}:{lineno}: {exc}") from None
                report.skipped.append((lineno, str(exc)))
                continue
            seen.add(doc.id)
            report.read += 1
            yield doc
            if limit is not None and report.read >= limit:
                return
    if report.skipped:
        log.warning("%s: %s", path, report.summary())


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR-format folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

    root: Path

    @classmethod
    def open(cls, root: str | Path) -> BeirDataset:
        path = Path(root)
        if not (path / "corpus.jsonl").is_file():
            raise NotFound(f"{path} is not a BEIR folder: corpus.jsonl missing")
        return cls(path)

    @property
    def name(self) -> str:
        return self.root.name

    def corpus(self, *, fields: Fields = Fields(), on_error: OnError = OnError.skip, report: ReadReport | None = None,
               limit: int | None = None) -> Iterator[Doc]:
        """``corpus.jsonl``'s documents (the arguments are ``read_jsonl``'s)."""
        return read_jsonl(self.root / "corpus.jsonl", fields, on_error, report, limit)

    def qrels(self, split: str = "test") -> dict[str, dict[str, int]]:
        """``{query_id: {doc_id: grade}}`` from ``qrels/<split>.tsv`` (header line skipped)."""
        path = self.root / "qrels" / f"{split}.tsv"
        if not path.is_file():
            splits = sorted(p.stem for p in (self.root / "qrels").glob("*.tsv"))
            raise NotFound(f"no qrels for split {split!r} in {self.root}; splits: {splits}")
        qrels: dict[str, dict[str, int]] = {}
        with path.open(encoding="utf-8") as fh:
            rows = csv.reader(fh, delimiter="\t")
            next(rows, None)
            for row in rows:
                if len(row) >= 3:
                    qrels.setdefault(row[0], {})[row[1]] = int(row[2])
        return qrels

    def queries(self, split: str | None = "test") -> dict[str, str]:
        """Queries by id; with a split, only those that have judgements in it (as BEIR's loader does)."""
        wanted = set(self.qrels(split)) if split else None
        out: dict[str, str] = {}
        for doc in read_jsonl(self.root / "queries.jsonl", Fields(title=None)):
            if wanted is None or doc.id in wanted:
                out[doc.id] = doc.text
        return out
