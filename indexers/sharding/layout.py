"""A sharded collection on disk and the stable document -> shard hash.

    <root>/<name>/sharded.json            the top-level manifest: shard folders, counts, hash, BM25 statistics
    <root>/<name>/stats/<bm25 index>.json collection-wide BM25 statistics (N, length sum, df per term)
    <root>/<name>/shards/s000/ ...        each shard a normal collection folder (doc store, indexes, manifests)

A document's shard is ``blake2b(id, digest_size=8)`` read as a big-endian unsigned integer, modulo the shard count:
independent of the corpus order, the machine and Python's per-process hash seed, so a rebuild, an upsert and the
router all agree on where a document lives.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from indexers.durable import write_text_durably
from kernel.errors import IndexUnavailable, MissingExtra

SHARDED_FILE = "sharded.json"
SHARDS_DIR = "shards"
STATS_DIR = "stats"
HASH = "blake2b-64 (big-endian) mod shards"


def shard_of(doc_id: str, shards: int) -> int:
    """The shard that holds ``doc_id`` (stable across processes and machines)."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def shard_name(i: int) -> str:
    return f"s{i:03d}"


def require_ray() -> ModuleType:
    """``import ray``, or MissingExtra naming the pip extra.

    Ray's C++ core installs a failure signal handler (SIGSEGV and others) in every process that calls ``ray.init``;
    in a process that also runs the JVM (Lucene) it takes the JVM's intentional faults (safepoint polls, implicit null
    checks) for crashes and kills the process (exit 139). Ray's own switch turns it off; it is read when ``ray`` is
    first imported, so it is set here, the one place Sieve imports Ray (an explicit setting is kept)."""
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError:
        raise MissingExtra("sharded builds and serving need Ray: pip install 'sieve[ray]'") from None
    return ray


def is_sharded(folder: Path) -> bool:
    return (folder / SHARDED_FILE).is_file()


class ShardedManifest(BaseModel):
    """What a sharded collection holds; written last, so its presence marks a complete build."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "sharded"
    name: str
    shards: int = Field(ge=1)
    hash: str = HASH
    shard_folders: tuple[str, ...]
    doc_count: int
    doc_counts: tuple[int, ...]
    indexes: dict[str, str]  # index name -> kind (sparse | dense | learned_sparse)
    bm25: dict[str, dict[str, float]] = Field(default_factory=dict)  # index -> {"N", "avgdl"} at build time
    encoder_workers: int | None = None
    build: dict[str, Any] = Field(default_factory=dict)  # source, limit, timings, docs/s
    created_at: str = Field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    version: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])

    def write(self, folder: Path) -> None:
        write_text_durably(folder / SHARDED_FILE, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> ShardedManifest:
        try:
            return cls.model_validate(json.loads((folder / SHARDED_FILE).read_text()))
        except (OSError, ValueError) as exc:
            raise IndexUnavailable(f"sharded collection {folder.name!r}: no readable {SHARDED_FILE} "
                                   f"({type(exc).__name__})") from exc

    def shard_folder(self, root: Path, i: int) -> Path:
        return root / SHARDS_DIR / self.shard_folders[i]
