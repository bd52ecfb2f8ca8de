"""One writer per collection across processes: an exclusive ``flock`` on ``<root>/.locks/<name>.lock``.

The server's admin changes and the CLI's offline writes take the same lock, so they never interleave. The lock file
lives outside the collection folder because a change swaps that whole folder. Re-entrant within one thread.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
LOCKS_DIR = ".locks"
_held: dict[str, tuple[int, int]] = {}  # lock path -> (owning thread, depth)
_guard = threading.Lock()


def lock_path(root: Path, name: str) -> Path:
    return root / LOCKS_DIR / f"{name}.lock"


def _reenter(path: str) -> bool:
    with _guard:
        owner = _held.get(path)
        if owner is not None and owner[0] == threading.get_ident():
            _held[path] = (owner[0], owner[1] + 1)
            return True
    return False


def _leave(path: str) -> bool:
    """Drop one level; True when this was the outermost one (the caller then unlocks)."""
    with _guard:
        thread, depth = _held[path]
        if depth > 1:
            _held[path] = (thread, depth - 1)
            return False
        del _held[path]
        return True


@contextmanager
def collection_lock(root: Path, name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the write lock of collection ``name`` under ``root``; yields whether it is held.

    Args:
        wait: block until the lock is free (writers). ``False``: yield ``False`` at once when another writer
            holds it (start-up repair, which must not touch a folder someone is writing).
    """
    path = lock_path(root, name)
    key = str(path.absolute())
    if _reenter(key):
        try:
            yield True
        finally:
            _leave(key)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            log.info("waiting for the write lock of collection %s (another writer holds it)", name)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with _guard:
            _held[key] = (threading.get_ident(), 1)
        try:
            yield True
        finally:
            if _leave(key):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
