"""Model upgrades run by the server (``POST /v1/collections/{name}/indexes/{index}/upgrade``): one at a time per
collection, on a background thread; searches keep running and see each phase's result through ``Registry``'s
pipeline swaps (the mapped query encoder once fitted, B's own index after the swap)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from indexers.dense import query_encoders
from indexers.upgrade import UpgradeRequest, UpgradeStatus, mapped_name, run_upgrade
from kernel.errors import NotFound, SieveError
from service.encoders import AsyncEncoders, EncoderCache
from service.errors import Conflict
from service.learned_sparse import SparseEncoders

log = logging.getLogger(__name__)
T = TypeVar("T")


class Host(Protocol):
    """What an upgrade needs of the server (``service.registry.Registry``, which owns the ``Upgrades``)."""

    index_root: Path
    encoders: EncoderCache
    async_encoders: AsyncEncoders
    sparse_encoders: SparseEncoders

    def reload(self, name: str) -> None: ...

    def swap_in(self, name: str, change: Callable[[], T]) -> T: ...


class Upgrades:
    """The latest upgrade of each collection (running or finished) and the threads that run them."""

    def __init__(self) -> None:
        self._status: dict[str, UpgradeStatus] = {}
        self._lock = threading.Lock()

    def status(self, name: str, index: str) -> UpgradeStatus:
        with self._lock:
            found = self._status.get(name)
        if found is None or found.index != index:
            raise NotFound(f"no upgrade of index {index!r} of collection {name!r} since this server started")
        return found

    def _set(self, status: UpgradeStatus) -> None:
        with self._lock:
            self._status[status.collection] = status

    def start(self, registry: Host, name: str, request: UpgradeRequest) -> UpgradeStatus:
        """Start the upgrade on a thread of its own; Conflict when one of this collection is still running."""
        status = UpgradeStatus(collection=name, index=request.index, model=request.model)
        with self._lock:
            running = self._status.get(name)
            if running is not None and running.running:
                raise Conflict(f"collection {name!r} is already being upgraded (index {running.index!r} to "
                               f"{running.model!r}, phase {running.phase}); wait for it to finish")
            self._status[name] = status
        thread = threading.Thread(target=self._run, args=(registry, name, request), daemon=True,
                                  name=f"sieve-upgrade-{name}")
        thread.start()
        return status

    def _run(self, registry: Host, name: str, request: UpgradeRequest) -> None:
        def after_map() -> None:  # load B's mapped query encoder before any search needs it, then serve it
            folder = registry.index_root / name
            manifest = query_encoders.read(folder, mapped_name(request.index))
            registry.async_encoders.get(query_encoders.model_spec(folder, manifest))
            registry.reload(name)

        try:
            run_upgrade(registry.index_root, name, request, encoder_for=registry.encoders.get,
                        sparse_encoder_for=registry.sparse_encoders.get, report=self._set, after_map=after_map,
                        around_swap=lambda swap: registry.swap_in(name, swap))
        except Exception as exc:  # the status says why; the index serves whatever phase it reached
            log.exception("collection %s: upgrade of index %s to %s failed", name, request.index, request.model)
            reason = str(exc) if isinstance(exc, SieveError) else f"internal error ({type(exc).__name__})"
            with self._lock:
                current = self._status[name]
                self._status[name] = current.model_copy(update={"phase": "failed", "error": reason})
