"""Durable writes (fsync of files, folders and renames) and the fault points tests use to kill a write mid-way."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

FAULT_ENV = "SIEVE_FAULT_AT"
_hits: Counter[str] = Counter()


def fsync_dir(folder: Path) -> None:
    """Make renames and creations inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file under ``folder``, then every folder bottom-up (a finished build, before it is renamed in)."""
    for dirpath, _, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def write_text_durably(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: a temp file, fsynced, renamed over it, the folder fsynced."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fault_point(step: str, target: str | None = None) -> None:
    """Kill this process (SIGKILL: no clean-up runs) when ``SIEVE_FAULT_AT`` names this step; tests only.

    ``SIEVE_FAULT_AT`` is ``STEP``, ``STEP:TARGET`` (only where the step acts on ``target``, e.g. the folder a swap
    replaces) or either with ``@N`` (the N-th time it is reached). Unset (always, outside tests): nothing happens.
    """
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point not in (step, f"{step}:{target}"):
        return
    _hits[point] += 1
    if _hits[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
