"""Upsert and delete on a sharded collection: each document goes to the shard its id hashes to, where the
single-collection updater (``indexers/updates.py`` ``apply_changes``) rebuilds that shard copy-on-write; then the
collection-wide BM25 statistics are recollected from every shard's index (the changed shards' new df, the others'
unchanged) and the top-level manifest gets the new counts and a new version.

How the statistics stay current: they are a file (``stats/<index>.json``) that every change rewrites after its shards
changed, and that every shard server reads when it (re)opens; the router reloads all shards after a change
(``ShardRouter.reload``), since N, avgdl and the df of changed terms move every shard's weights. A crash between a
shard's swap and the statistics' rewrite leaves statistics one change old until the next change or
``recollect_stats``; a shard opened over statistics that miss its own terms refuses them (``Bm25Index.use_stats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore
from indexers.locks import collection_lock
from indexers.segments.codec import ChangeReport
from indexers.segments.encode import EncoderFor
from indexers.segments.merge import apply_changes
from indexers.sharding.layout import SHARDS_DIR, STATS_DIR, ShardedManifest, shard_of
from indexers.sharding.stats import collect
from kernel.errors import InvalidInput
from kernel.types import Doc


@dataclass
class ShardedChangeReport:
    name: str
    doc_count: int
    shards: dict[int, ChangeReport] = field(default_factory=dict)  # only the shards the change touched


def recollect_stats(folder: Path, manifest: ShardedManifest) -> ShardedManifest:
    """Rewrite every BM25 index's collection-wide statistics from the shards; the manifest with the new counts."""
    bm25 = {}
    for name, kind in manifest.indexes.items():
        if kind == "sparse":
            stats = collect([manifest.shard_folder(folder, i) / "indexes" / name for i in range(manifest.shards)])
            stats.write(folder / STATS_DIR / f"{name}.json")
            bm25[name] = {"N": float(stats.docs), "avgdl": stats.avgdl}
    counts = tuple(DocStore(manifest.shard_folder(folder, i) / DOCSTORE_FILE).count for i in range(manifest.shards))
    return ShardedManifest.model_validate({**manifest.model_dump(exclude={"version", "created_at"}), "bm25": bm25,
                                           "doc_counts": counts, "doc_count": sum(counts)})


def apply_sharded_changes(root: Path, name: str, *, encoder_for: EncoderFor, upserts: Sequence[Doc] = (),
                          deletes: Sequence[str] = ()) -> ShardedChangeReport:
    """Route ``upserts`` and ``deletes`` to their shards, change those, recollect the statistics; holds the
    collection's write lock (each shard's own lock too, inside ``apply_changes``)."""
    folder = root / name
    ids = [d.id for d in upserts]
    if len(set(ids)) != len(ids):
        raise InvalidInput("duplicate ids among the documents to upsert")
    with collection_lock(root, name):
        manifest = ShardedManifest.read(folder)
        work: dict[int, tuple[list[Doc], list[str]]] = {}
        for doc in upserts:
            work.setdefault(shard_of(doc.id, manifest.shards), ([], []))[0].append(doc)
        for doc_id in deletes:
            work.setdefault(shard_of(doc_id, manifest.shards), ([], []))[1].append(doc_id)
        report = ShardedChangeReport(name, manifest.doc_count)
        for shard, (ups, dels) in sorted(work.items()):
            report.shards[shard] = apply_changes(folder / SHARDS_DIR, manifest.shard_folders[shard],
                                                 encoder_for=encoder_for, upserts=ups, deletes=dels)
        new = recollect_stats(folder, manifest)
        new.write(folder)
        report.doc_count = new.doc_count
    return report
