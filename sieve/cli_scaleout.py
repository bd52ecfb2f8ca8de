"""The sharded (Ray) side of ``sieve index build --ray [ADDRESS] --shards N`` and ``sieve serve --ray [ADDRESS]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from indexers.bm25 import Bm25IndexSpec
    from indexers.dense import DenseIndexSpec
    from indexers.learned_sparse_backends import LearnedSparseSpec
    from indexers.lucene import LuceneIndexSpec

# Typer has no option with an optional value, so ``--ray [ADDRESS]`` is spelled ``--ray [--ray-address ADDRESS]``.
RayOption = Annotated[bool, typer.Option(
    "--ray", help="run on Ray: a local cluster (2 CPUs) for the command, or the one --ray-address names "
                  "[needs pip install 'sieve[ray]']")]
RayAddressOption = Annotated[str | None, typer.Option(
    help="an existing Ray cluster (ray://host:10001, auto); implies --ray")]
ShardsOption = Annotated[int, typer.Option(min=1, help="with --ray: shards (document -> shard by blake2b of its id)")]
WorkersOption = Annotated[int, typer.Option(min=1, help="with --ray: encoder actors (one model load each)")]
ReuseOption = Annotated[list[str] | None, typer.Option(
    help="with --ray: NAME=FOLDER, dense index NAME takes its vectors from a built single-node index folder "
         "(same encoder) instead of encoding; repeatable")]


def build_sharded_cli(*, collection: str, source: Path, index_root: Path, address: str | None, shards: int,
                      encoder_workers: int, sparse: tuple[LuceneIndexSpec | Bm25IndexSpec, ...],
                      dense: tuple[DenseIndexSpec, ...], learned_sparse: tuple[LearnedSparseSpec, ...],
                      reuse: list[str] | None, limit: int | None,
                      **read: object) -> None:
    """Build a sharded collection: native BM25 only (Lucene shards would score with their own statistics), dense
    indexes of whole documents without Matryoshka prefixes, learned sparse indexes (encoded per shard)."""
    from indexers.bm25 import Bm25IndexSpec
    from indexers.sharding.build import ShardedPlan, build_sharded

    native = tuple(s for s in sparse if isinstance(s, Bm25IndexSpec))
    for skipped in sorted({s.name for s in sparse} - {s.name for s in native}):
        typer.echo(f"{collection}/{skipped}: skipped (sharded BM25 is served by the native backend only, with "
                   "collection-wide statistics)", err=True)
    pairs = [r.partition("=") for r in reuse or ()]
    if any(not sep for _, sep, _ in pairs):
        raise typer.BadParameter("--reuse-vectors takes NAME=FOLDER")
    plan = ShardedPlan(name=collection, source=source, shards=shards, limit=limit, sparse=native,
                       dense=tuple(d.model_copy(update={"prefixes": None}) for d in dense),
                       learned_sparse=learned_sparse,
                       encoder_workers=encoder_workers, reuse_vectors={n: Path(f) for n, _, f in pairs},
                       **read)
    manifest = build_sharded(plan, index_root, address=address)
    build = manifest.build
    typer.echo(f"{collection}: {manifest.doc_count} docs in {manifest.shards} shards {list(manifest.doc_counts)}, "
               f"indexes {sorted(manifest.indexes)}, ids checked ({build['ids_checked']}), built in "
               f"{build['seconds']}s" + (f"; encoding {build['encode_docs_per_second']} docs/s with "
                                         f"{manifest.encoder_workers} encoder actors"
                                         if build.get("encode_seconds") else ""))


def sharded_change(root: Path, collection: str, **changes: Any) -> bool:
    """``sieve index upsert|delete|rebuild`` on disk for a sharded collection (each document to the shard its id
    hashes to, statistics recollected); False when ``collection`` is not sharded."""
    from indexers.encoders import build_encoder
    from indexers.sharding import is_sharded
    from indexers.sharding.updates import apply_sharded_changes

    if not is_sharded(root / collection):
        return False
    report = apply_sharded_changes(root, collection, encoder_for=build_encoder, **changes)
    typer.echo(json.dumps({"name": report.name, "doc_count": report.doc_count,
                           "shards": {s: vars(r) for s, r in report.shards.items()}}, indent=2))
    typer.echo("changed on disk: a running `sieve serve --ray` serves it after a restart", err=True)
    return True
