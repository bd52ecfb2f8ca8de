"""Index manifests and atomic index folders: a build writes to a temporary folder and renames it into place."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kernel.errors import IndexUnavailable

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


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
    version: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> IndexManifest:
        path = folder / MANIFEST
        if not path.is_file():
            raise IndexUnavailable(f"{folder} has no {MANIFEST}: not a complete index")
        data = json.loads(path.read_text())
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexUnavailable(
                f"{folder}: index format {data.get('format_version')} but this Sieve reads {FORMAT_VERSION}; rebuild"
            )
        return cls(**data)


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success swap it in for ``final``, on failure delete it.

    A crash mid-build leaves only a ``.tmp-*`` folder, which loaders ignore, never a half-written ``final``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
