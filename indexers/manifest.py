"""Index manifests and atomic folders: a build writes to a temporary folder, fsyncs it and renames it into place.

Swap protocol (``indexers/recovery.py`` finishes or undoes one a crash interrupted): ``final`` -> ``.old-<final>-T``
(the commit point: the complete ``.tmp-<final>-T`` now wins), ``.tmp-<final>-T`` -> ``final``, delete the old one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from indexers.durable import fault_point, fsync_dir, fsync_tree, write_text_durably
from kernel.errors import IndexUnavailable

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def new_version() -> str:
    """A fresh manifest version."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class IndexManifest:
    """What an index holds and how it was built; written last, so its presence marks a complete index."""

    kind: str  # "sparse" | "dense"
    name: str
    doc_count: int
    build: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    model_revision: str | None = None
    dims: int | None = None
    metric: str | None = None
    build_seconds: float = 0.0
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    format_version: int = FORMAT_VERSION
    version: str = field(default_factory=lambda: new_version())
    docstore_version: str | None = None  # the doc store it was built over; another one there: the index is stale

    def write(self, folder: Path) -> None:
        """Write (durably, all at once) the manifest, the last file of a build."""
        fault_point("manifest.before-write", self.name)
        write_text_durably(folder / MANIFEST, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> IndexManifest:
        """Raises IndexUnavailable (naming the index, not its path) when missing, unreadable or of another format."""
        path = folder / MANIFEST
        if not path.is_file():
            raise IndexUnavailable(f"index {folder.name!r} has no {MANIFEST}: not a complete index")
        try:
            data = json.loads(path.read_text())
            if data.get("format_version") != FORMAT_VERSION:
                raise IndexUnavailable(f"index {folder.name!r}: format {data.get('format_version')} but this Sieve "
                                       f"reads {FORMAT_VERSION}; rebuild")
            return cls(**data)
        except (ValueError, TypeError, AttributeError) as exc:  # bad JSON, not an object, unknown or missing keys
            raise IndexUnavailable(f"index {folder.name!r}: corrupt manifest ({type(exc).__name__})") from exc


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success swap it in for ``final``, on failure delete it.

    A crash mid-build leaves only a ``.tmp-*`` folder, which loaders ignore and recovery deletes, never a half-written
    ``final``; a crash between the two renames leaves both, which recovery completes. The caller holds the
    collection's write lock (``indexers/locks.py``), so recovery never races a live swap.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp, old = swap_paths(final, token)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_tree(tmp)
    fault_point("swap.before-renames", final.name)
    if final.exists():
        final.rename(old)
        fault_point("swap.between-renames", final.name)
    tmp.rename(final)
    fsync_dir(final.parent)
    fault_point("swap.after-renames", final.name)
    shutil.rmtree(old, ignore_errors=True)


def swap_paths(final: Path, token: str) -> tuple[Path, Path]:
    """The temporary and the old folder of one swap of ``final`` (same token: they belong together)."""
    return final.parent / f".tmp-{final.name}-{token}", final.parent / f".old-{final.name}-{token}"


def rewrite_build(folder: Path, changes: dict[str, Any], *, version: str | None = None) -> IndexManifest:
    """The index folder again, its files and folders hard-linked, with ``changes`` merged into the manifest's
    ``build`` (a None value drops that key) and a new manifest version (``version`` when given), swapped in
    atomically: query-side additions (early-exit maps' records, the serving default query encoder) that leave the
    index's own files as they are."""
    manifest = IndexManifest.read(folder)
    build = {k: v for k, v in {**manifest.build, **changes}.items() if v is not None}
    with atomic_folder(folder) as tmp:
        for item in folder.iterdir():
            if item.name == MANIFEST:
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name, copy_function=os.link)
            else:
                os.link(item, tmp / item.name)
        new = replace(manifest, build=build, version=version or new_version())
        new.write(tmp)
    return new
