"""Start-up recovery: bring every collection folder back to one complete version after a crash at any step.

A swap (``indexers/manifest.py``) killed before its first rename leaves a ``.tmp-*`` folder: deleted. Killed between
the renames (the complete new folder and the old one both aside, no ``final``): the swap is completed. Killed after:
the stale ``.old-*`` is deleted. Half-deleted collections and temporary files go too. Writers call
``recover_collection`` under the collection's write lock before they write; readers call ``repair`` (it skips a
collection whose writer is running). Then the write-ahead log (``indexers/segments/wal.py``) drops what the base
already folded in; its tail is replayed when the collection opens (``indexers/segments/live.py``).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections import defaultdict
from pathlib import Path

from indexers.durable import fsync_dir
from indexers.locks import LOCKS_DIR, collection_lock
from indexers.segments.wal import WAL_DIR, truncate_folded

log = logging.getLogger(__name__)
SWAP = re.compile(r"^\.(?P<part>tmp|old)-(?P<final>.+)-(?P<token>[0-9a-f]{8})$")
DELETED = re.compile(r"^\.deleted-(?P<final>.+)-\d+-\d+$")
TEMP_FILE = re.compile(r"^\..+\.\d+\.tmp$")  # indexers.durable.write_text_durably's


def _swaps(parent: Path, only: str | None = None) -> dict[str, dict[str, dict[str, Path]]]:
    """Leftover swap folders in ``parent``: final name -> token -> {"tmp"|"old": path}."""
    found: dict[str, dict[str, dict[str, Path]]] = defaultdict(lambda: defaultdict(dict))
    if parent.is_dir():
        for path in parent.iterdir():
            m = SWAP.match(path.name)
            if m and path.is_dir() and only in (None, m["final"]):
                found[m["final"]][m["token"]][m["part"]] = path
    return found


def _finish_swaps(parent: Path, only: str | None = None) -> list[str]:
    """Complete or clean every interrupted swap in ``parent``; returns what was done (for the log)."""
    done: list[str] = []
    for name, swaps in _swaps(parent, only).items():
        final = parent / name
        for parts in sorted(swaps.values(), key=lambda ps: -max(p.stat().st_mtime for p in ps.values())):
            tmp, old = parts.get("tmp"), parts.get("old")
            if not final.exists() and old is not None:
                # killed between the renames: the first rename was the commit point and the new folder is complete
                (tmp or old).rename(final)
                fsync_dir(parent)
                done.append(f"{name}: {'completed the swap' if tmp else 'restored the old version'}")
            for leftover in (tmp, old):
                if leftover is not None and leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)
                    done.append(f"{name}: removed {leftover.name}")
    return done


def _remove_temp_files(folder: Path) -> list[str]:
    done = []
    for path in folder.glob(".*.tmp") if folder.is_dir() else ():
        if TEMP_FILE.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            done.append(f"removed {path.name}")
    return done


def recover_collection(root: Path, name: str) -> list[str]:
    """Repair collection ``name`` under ``root``; the caller holds its write lock. Returns what was done."""
    folder = root / name
    done = _finish_swaps(root, only=name)
    if folder.is_dir():
        if (folder / ".docstore").is_dir():  # an older build's staging folder
            shutil.rmtree(folder / ".docstore", ignore_errors=True)
            done.append("removed .docstore")
        done += _finish_swaps(folder / "indexes") + _remove_temp_files(folder)
        for index in (folder / "indexes").iterdir() if (folder / "indexes").is_dir() else ():
            done += _remove_temp_files(index)
        done += truncate_folded(root, name)  # the log's replay itself happens when the collection opens
    for line in done:
        log.warning("recovery of collection %s: %s", name, line)
    return done


def _needs_repair(root: Path, name: str) -> bool:
    folder = root / name
    return bool(_swaps(root, name) or _swaps(folder / "indexes") or (folder / ".docstore").is_dir()
                or any(TEMP_FILE.match(p.name) for p in folder.glob(".*.tmp")))


def repair(root: Path, name: str) -> list[str]:
    """Recover ``name`` if it needs it and no writer holds its lock (a running writer's folders are left alone)."""
    if not _needs_repair(root, name):
        return []
    try:
        with collection_lock(root, name, wait=False) as held:
            if not held:
                log.info("collection %s: a writer is running; its folders are left as they are", name)
                return []
            return recover_collection(root, name)
    except OSError as exc:  # a read-only index root: serve what is there
        log.warning("collection %s needs recovery but cannot be locked: %s", name, exc)
        return []


def repair_root(root: Path) -> list[str]:
    """Recover every collection under ``root`` that needs it; delete half-deleted ones."""
    if not root.is_dir():
        return []
    done: list[str] = []
    names = set(_swaps(root))
    for path in root.iterdir():
        if DELETED.match(path.name):
            shutil.rmtree(path, ignore_errors=True)
        elif not path.name.startswith(".") and path.is_dir() and path.name not in (LOCKS_DIR, WAL_DIR):
            names.add(path.name)
    for name in sorted(names):
        done += repair(root, name)
    return done
