"""Filters evaluated over an in-memory columnar copy of a collection's metadata, once per (collection version,
filter): the result is an ``AllowedDocs`` that every retriever turns into its own rows (``RowMap``).

Each metadata path is one column of entries ``(doc number, value)``; a list value gives one entry per element, so
"any element matches" is the same vector test. Strings, numbers, booleans and ISO dates are told apart by kind, so
``eq: 1`` never matches ``true`` nor ``"1"``. (``benchmarks/bench_filters.py`` compares this with SQLite's
``json_extract`` over the doc store: docs/results.md.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from indexers.filters.grammar import Filter, parse_time

T = TypeVar("T")
STR, NUM, BOOL = 0, 1, 2


@dataclass(frozen=True)
class _Column:
    docs: NDArray[np.int32]  # doc number per entry
    kinds: NDArray[np.int8]  # STR, NUM or BOOL per entry
    values: NDArray[Any]  # the JSON scalar (object array)
    nums: NDArray[np.float64]  # numbers (NaN: not a number; booleans are not numbers)
    times: NDArray[np.float64]  # ISO dates as POSIX seconds (NaN: not a date)


def _kind(value: object) -> int:
    return BOOL if isinstance(value, bool) else NUM if isinstance(value, int | float) else STR


def _flatten(prefix: str, value: Any, out: dict[str, list[Any]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        for inner in value:
            _flatten(prefix, inner, out)
    elif value is not None:
        out.setdefault(prefix, []).append(value)


class MetadataTable:
    """Every document's metadata as columns, in doc store order (``ids``)."""

    def __init__(self, records: Iterable[tuple[str, str | None]]) -> None:
        self.ids: list[str] = []
        entries: dict[str, tuple[list[int], list[Any]]] = {}
        for number, (doc_id, raw) in enumerate(records):
            self.ids.append(doc_id)
            if not raw:
                continue
            flat: dict[str, list[Any]] = {}
            _flatten("", json.loads(raw), flat)
            for path, values in flat.items():
                docs, vals = entries.setdefault(path, ([], []))
                docs.extend([number] * len(values))
                vals.extend(values)
        self.columns = {path: self._column(docs, vals) for path, (docs, vals) in entries.items()}

    @staticmethod
    def _column(docs: list[int], vals: list[Any]) -> _Column:
        kinds = np.fromiter((_kind(v) for v in vals), dtype=np.int8, count=len(vals))
        values = np.empty(len(vals), dtype=object)
        values[:] = [v if isinstance(v, str | int | float) else json.dumps(v) for v in vals]
        nums = np.full(len(vals), np.nan)
        nums[kinds == NUM] = [float(v) for v, k in zip(vals, kinds, strict=True) if k == NUM]
        times = np.full(len(vals), np.nan)
        for i in np.flatnonzero(kinds == STR):
            t = parse_time(vals[i])
            if t is not None:
                times[i] = t
        return _Column(np.asarray(docs, dtype=np.int32), kinds, values, nums, times)

    def __len__(self) -> int:
        return len(self.ids)

    def evaluate(self, node: Filter) -> NDArray[np.bool_]:
        """A mask over the documents (doc store order): True where ``node`` matches."""
        if node.and_ is not None:
            masks = [self.evaluate(c) for c in node.and_]
            return np.logical_and.reduce(masks) if len(masks) > 1 else masks[0]
        if node.or_ is not None:
            masks = [self.evaluate(c) for c in node.or_]
            return np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]
        if node.not_ is not None:
            return ~self.evaluate(node.not_)
        mask = np.zeros(len(self.ids), dtype=bool)
        path = node.field or ""
        if node.exists is not None:  # an object-valued field exists where any path under it does
            for name, col in self.columns.items():
                if name == path or name.startswith(path + "."):
                    mask[col.docs] = True
            return mask if node.exists else ~mask
        column = self.columns.get(path)
        if column is None:
            return mask
        mask[column.docs[self._entries(column, node)]] = True
        return mask

    @staticmethod
    def _entries(column: _Column, node: Filter) -> NDArray[np.bool_]:
        if node.eq is not None or node.in_ is not None:
            wanted = (node.eq,) if node.eq is not None else node.in_ or ()
            hit = np.zeros(len(column.docs), dtype=bool)
            for kind in (BOOL, STR, NUM):
                group = [v for v in wanted if _kind(v) == kind]
                if group:  # compared within one kind (sorting a mix of strings and numbers would fail)
                    rows = np.flatnonzero(column.kinds == kind)
                    data = (column.nums if kind == NUM else column.values)[rows]
                    hit[rows] = np.isin(data, np.asarray(group, dtype=data.dtype))
            return hit
        bounds = {n: getattr(node, n) for n in ("gt", "gte", "lt", "lte") if getattr(node, n) is not None}
        dates = any(isinstance(b, str) for b in bounds.values())
        data = column.times if dates else column.nums
        hit = ~np.isnan(data)
        for name, bound in bounds.items():
            b = parse_time(bound) if isinstance(bound, str) else float(bound)
            assert b is not None  # the grammar refused bounds that are neither numbers nor ISO dates
            hit &= {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal}[name](data, b)
        return hit

    def allowed(self, node: Filter) -> AllowedDocs:
        mask = self.evaluate(node)
        return AllowedDocs(frozenset(self.ids[i] for i in np.flatnonzero(mask).tolist()), len(self.ids),
                           universe=self.ids)


@dataclass(eq=False)
class AllowedDocs:
    """The documents a request's filter lets through, and what each index derived from them (rows, selectors),
    memoised: one ``AllowedDocs`` is shared by every request with the same filter on the same collection version."""

    ids: frozenset[str]
    total: int  # documents in the collection
    universe: Sequence[str] | None = None  # every document id, when known (an index may filter by the complement)
    _derived: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def selectivity(self) -> float:
        return len(self.ids) / self.total if self.total else 0.0

    def refused(self) -> list[str] | None:
        """The documents the filter refuses (memoised), None when the universe is unknown."""
        universe = self.universe
        if universe is None:
            return None
        return self.derived("refused", lambda: [d for d in universe if d not in self.ids])

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, computed once per ``key`` (e.g. an index's row mask or its FAISS selector)."""
        if key in self._derived:
            value: T = self._derived[key]
            return value
        value = make()
        with self._lock:
            self._derived.setdefault(key, value)
        return value


class RowMap:
    """An index's rows by document: one row per document, or several (a passage index's passages)."""

    def __init__(self, row_ids: Sequence[str]) -> None:
        self._number: dict[str, int] = {}
        numbers = [self._number.setdefault(doc_id, len(self._number)) for doc_id in row_ids]
        self._doc_of_row = np.asarray(numbers, dtype=np.int64)

    def mask(self, allowed: AllowedDocs) -> NDArray[np.bool_]:
        """True on each row whose document is allowed (memoised in ``allowed``)."""
        def make() -> NDArray[np.bool_]:
            docs = np.zeros(len(self._number), dtype=bool)
            docs[[n for d in allowed.ids if (n := self._number.get(d)) is not None]] = True
            mask: NDArray[np.bool_] = docs[self._doc_of_row]
            return mask
        return allowed.derived((self, "mask"), make)

    def rows(self, allowed: AllowedDocs) -> NDArray[np.int64]:
        """The allowed rows, ascending (memoised in ``allowed``)."""
        return allowed.derived((self, "rows"), lambda: np.flatnonzero(self.mask(allowed)).astype(np.int64))
