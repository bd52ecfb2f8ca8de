"""A request's filter, evaluated once into the documents it allows: the collection's metadata table is built on the
first filtered request (from the doc store, off the event loop) and each filter's ``AllowedDocs`` is kept in a small
LRU keyed by (collection version, filter), so repeated filters reuse their rows, FAISS selectors and Lucene queries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor

from indexers.collection import Collection
from indexers.docstore import metadata_json
from indexers.filters import AllowedDocs, Filter, MetadataTable
from indexers.segments.delta import Snapshot
from kernel.errors import InvalidInput
from service.retrieval import Trace, run_blocking

CACHED_FILTERS = 32  # distinct filters kept per collection: each holds per index a row mask (1 byte per row),
# its allowed rows (8 bytes each), a FAISS bitmap (1 bit per row), a Lucene id query; ~20 MB per filter at 1M docs


class Filters:
    """Filter evaluation for one collection; safe to share across concurrent requests."""

    def __init__(self, collection: Collection, executor: Executor, size: int = CACHED_FILTERS) -> None:
        self.collection = collection
        self._executor = executor
        self._size = size
        self._table: tuple[str, MetadataTable] | None = None
        self._allowed: OrderedDict[tuple[str, str], AllowedDocs] = OrderedDict()
        self._lock = threading.Lock()

    def _version(self) -> str:
        """The base's version: live writes do not touch the base (their delta docs are evaluated per request)."""
        return f"{self.collection.docs.version}"

    def table(self) -> MetadataTable:
        """The metadata table of the collection's current version (built on first use)."""
        version = self._version()
        with self._lock:
            if self._table is None or self._table[0] != version:
                self._table = (version, MetadataTable(self.collection.docs.iter_metadata()))
            return self._table[1]

    def allowed_now(self, node: Filter) -> AllowedDocs:
        """``node``'s documents (blocking; cached per collection version and filter)."""
        key = (self._version(), node.key())
        with self._lock:
            hit = self._allowed.get(key)
            if hit is not None:
                self._allowed.move_to_end(key)
                return hit
        allowed = self.table().allowed(node)
        with self._lock:
            self._allowed[key] = allowed
            while len(self._allowed) > self._size:
                self._allowed.popitem(last=False)
        return allowed

    async def allowed(self, node: Filter | None, trace: Trace) -> AllowedDocs | None:
        """None without a filter; else its documents, with ``filter`` timed and ``filter.allowed`` counted."""
        if node is None:
            return None
        start = time.perf_counter()
        allowed = await run_blocking(self._executor, lambda: self.allowed_now(node))
        if trace.snapshot is not None and not trace.snapshot.empty:
            trace.delta_allowed = delta_allowed(trace.snapshot, node)
        trace.since("filter", start)
        trace.counts["filter.allowed"] = len(allowed)
        return allowed


def delta_allowed(snap: Snapshot, node: Filter) -> frozenset[str]:
    """The live delta docs (live writes since the base) that ``node`` lets through: a small table per request."""
    table = MetadataTable((doc.id, metadata_json(doc.metadata)) for _, doc in snap.docs.values())
    return table.allowed(node).ids


class Unfiltered(Filters):
    """Where filters are not evaluated (``what``: e.g. sharded collections): a filtered request is a 422, never a
    silently unfiltered answer."""

    def __init__(self, what: str) -> None:
        self.what = what

    async def allowed(self, node: Filter | None, trace: Trace) -> AllowedDocs | None:
        if node is not None:
            raise InvalidInput(f"metadata filters are not served on {self.what} yet")
        return None
