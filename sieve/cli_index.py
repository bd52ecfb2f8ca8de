"""``sieve index``: build collections, change them (upsert, delete, rebuild) and add Matryoshka prefixes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from indexers.corpus import Fields, OnError
from indexers.sparse import DEFAULT_SPARSE as SPARSE_SPECS
from sieve.cli_common import (
    IndexRoot,
    parse_dense,
    parse_funnel,
    parse_learned_sparse,
    parse_sparse,
    settings_for,
    setup_logging,
)
from sieve.cli_scaleout import (
    RayAddressOption,
    RayOption,
    ReuseOption,
    ShardsOption,
    WorkersOption,
    build_sharded_cli,
    sharded_change,
)

index_app = typer.Typer(help="Build and inspect indexes.", no_args_is_help=True)
DEFAULT_DENSE = ["dense:torch:Flat"]
DEFAULT_SPARSE = [f"{s.name}:{s.backend}" for s in SPARSE_SPECS]  # native "bm25", Lucene "bm25-lucene"


@index_app.command("build")
def index_build(
    collection: Annotated[str, typer.Option(help="collection name (folder under the index root)")] = "scifact",
    source: Annotated[Path | None, typer.Option(help="BEIR folder or JSONL [default: <data_dir>/<collection>]")] = None,
    dense: Annotated[list[str], typer.Option(help="NAME:BACKEND:FACTORY[:MODEL]; repeat for several")] = DEFAULT_DENSE,
    sparse: Annotated[list[str], typer.Option(help="NAME:BACKEND (native|lucene); repeatable")] = DEFAULT_SPARSE,
    no_sparse: Annotated[bool, typer.Option("--no-sparse", help="skip BM25 indexes")] = False,
    no_dense: Annotated[bool, typer.Option("--no-dense", help="skip dense indexes")] = False,
    learned_sparse: Annotated[list[str] | None, typer.Option(
        help="NAME:BACKEND[:MODEL] learned sparse (SPLADE) index, BACKEND lucene_impact | seismic | exact "
             "(e.g. splade:lucene_impact); repeat for several (one encoding of the corpus is shared)")] = None,
    id_field: str = "_id",
    text_field: str = "text",
    title_field: str = "title",
    on_error: Annotated[OnError, typer.Option(help="bad records: skip (counted) or stop")] = OnError.skip,
    limit: Annotated[int | None, typer.Option(help="index only the first N docs")] = None,
    chunk: Annotated[str | None, typer.Option(
        help="WINDOW:OVERLAP[:max|sum]: index token windows of each document (the encoder's tokenizer), search "
             "returns documents with their best passage's offsets [whole documents, cut at the encoder's window]")
    ] = None,
    prefixes: Annotated[bool, typer.Option(help="add PCA Matryoshka prefixes (dimensions, funnel) to dense "
                                                "indexes")] = True,
    force: Annotated[bool, typer.Option(help="rebuild even if an index with the same spec exists")] = False,
    index_root: IndexRoot = None,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    shards: ShardsOption = 1,
    encoder_workers: WorkersOption = 1,
    reuse_vectors: ReuseOption = None,
) -> None:
    """Build the doc store, BM25 indexes (native "bm25", Lucene "bm25-lucene"), dense FAISS indexes and learned
    sparse (SPLADE) indexes; with --ray, a sharded collection built on Ray (docs/scale-out.md)."""
    from indexers.collection import BuildPlan, build_collection
    from indexers.dense.passages import ChunkSpec

    setup_logging()
    settings = settings_for(index_root)
    changes: dict[str, object] = {"passages": ChunkSpec.parse(chunk) if chunk else None}
    if not prefixes:
        changes["prefixes"] = None
    if ray or ray_address:
        if chunk:
            raise typer.BadParameter("--ray builds indexes of whole documents only (no --chunk)")
        build_sharded_cli(
            collection=collection, source=source or settings.data_dir / collection, index_root=settings.index_root,
            address=ray_address, shards=shards, encoder_workers=encoder_workers, limit=limit,
            reuse=reuse_vectors,
            sparse=() if no_sparse else tuple(parse_sparse(s) for s in sparse),
            dense=() if no_dense else tuple(parse_dense(d) for d in dense),
            learned_sparse=tuple(parse_learned_sparse(s) for s in learned_sparse or ()),
            fields=Fields(id=id_field, text=text_field, title=title_field or None), on_error=on_error)
        return
    plan = BuildPlan(
        name=collection,
        source=source or settings.data_dir / collection,
        fields=Fields(id=id_field, text=text_field, title=title_field or None),
        on_error=on_error,
        limit=limit,
        sparse=() if no_sparse else tuple(parse_sparse(s) for s in sparse),
        dense=() if no_dense else tuple(parse_dense(d).model_copy(update=changes) for d in dense),
        learned_sparse=tuple(parse_learned_sparse(s) for s in learned_sparse or ()),
        force=force,
    )
    built = build_collection(plan, settings.index_root)
    for name, manifest in built.items():
        passages = manifest.build.get("passage_count")
        typer.echo(f"{collection}/{name}: {manifest.kind}, {manifest.doc_count} docs"
                   f"{f' ({passages} passages)' if passages else ''}, built in "
                   f"{manifest.build_seconds}s ({manifest.build.get('docs_per_second')} docs/s)")
        cut = manifest.build.get("truncated")
        if cut:
            from indexers.dense.build import Truncation

            typer.echo(f"  truncation: {Truncation.model_validate(cut).message()}")
        if "matryoshka" in manifest.build:
            typer.echo(f"  matryoshka prefixes: dims {manifest.build['matryoshka']['dims']} (dimensions, funnel)")


def _change_collection(collection: str, url: str | None, api_key: str | None, index_root: Path | None, route: str,
                       body: dict[str, Any], **changes: object) -> None:
    """Send a change to a running server (which swaps it in live), or apply it on disk under the collection's write
    lock (the one the server's admin routes take); a server already running serves the new version after a restart
    or a change sent to it with ``--url``."""
    if url:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        resp = httpx.post(f"{url}/v1/collections/{collection}/{route}", json=body, headers=headers, timeout=3600)
        typer.echo(json.dumps(resp.json(), indent=2))
        raise typer.Exit(0 if resp.is_success else 1)
    from indexers.encoders import build_encoder
    from indexers.segments.live import write_offline
    from indexers.segments.merge import apply_changes

    setup_logging()
    settings = settings_for(index_root)
    if sharded_change(settings.index_root, collection, **changes):  # a sharded collection: each doc to its shard
        return
    if changes:  # logged like the server's writes; merged here once the delta reaches writes.merge_after
        report, pending = write_offline(settings.index_root, collection, encoder_for=build_encoder, **changes)  # type: ignore[arg-type]
        if pending >= settings.writes.merge_after:
            apply_changes(settings.index_root, collection, encoder_for=build_encoder)
    else:  # rebuild: the full compaction
        report = apply_changes(settings.index_root, collection, encoder_for=build_encoder)
    typer.echo(json.dumps(vars(report), indent=2))
    typer.echo("logged on disk: a server already running serves it after its next change, merge or restart "
               "(use --url to change a served collection live)", err=True)


ServerUrl = Annotated[str | None, typer.Option(help="a running server to change live (default: change on disk)")]
ApiKey = Annotated[str | None, typer.Option(envvar="SIEVE_API_KEY", show_default=False,
                                            help="admin API key sent with --url [env SIEVE_API_KEY]")]


@index_app.command("upsert")
def index_upsert(
    collection: Annotated[str, typer.Option()],
    source: Annotated[Path, typer.Option(help="JSONL of documents to add or replace")],
    id_field: str = "_id",
    text_field: str = "text",
    title_field: str = "title",
    url: ServerUrl = None,
    api_key: ApiKey = None,
    index_root: IndexRoot = None,
) -> None:
    """Add or replace documents (same id = replace): logged, searchable from the delta, merged in the background."""
    from indexers.corpus import OnError, read_jsonl

    docs = list(read_jsonl(source, Fields(id=id_field, text=text_field, title=title_field or None), OnError.stop))
    body = {"documents": [{"id": d.id, "title": d.title, "text": d.text} for d in docs]}
    _change_collection(collection, url, api_key, index_root, "documents", body, upserts=docs)


@index_app.command("delete")
def index_delete(
    collection: Annotated[str, typer.Option()],
    ids: Annotated[str, typer.Option(help="comma-separated document ids")],
    url: ServerUrl = None,
    api_key: ApiKey = None,
    index_root: IndexRoot = None,
) -> None:
    """Delete documents by id (tombstones until the next merge)."""
    id_list = [i.strip() for i in ids.split(",") if i.strip()]
    _change_collection(collection, url, api_key, index_root, "documents/delete", {"ids": id_list},
                       deletes=id_list)


@index_app.command("rebuild")
def index_rebuild(
    collection: Annotated[str, typer.Option()], url: ServerUrl = None, api_key: ApiKey = None,
    index_root: IndexRoot = None,
) -> None:
    """Rebuild every index of the collection from its doc store (new versions, same specs)."""
    _change_collection(collection, url, api_key, index_root, "rebuild", {})


@index_app.command("matryoshka")
def index_matryoshka(
    collection: Annotated[str, typer.Option()] = "scifact",
    index: Annotated[str, typer.Option(help="the dense index to extend")] = "dense",
    transform: Annotated[str, typer.Option(help="none | pca | adaptor")] = "pca",
    dims: Annotated[str, typer.Option(help="prefix dims, comma-separated")] = "256,128,64,32",
    codes: Annotated[str, typer.Option(help="fp32,sq8,binary (any subset)")] = "fp32,sq8,binary",
    funnel: Annotated[str, typer.Option(help="default funnel DIMS:CODE:SHORTLIST")] = "64:sq8:200",
    steps: Annotated[int, typer.Option(help="adaptor training steps")] = 300,
    supervise: Annotated[str | None, typer.Option(help="adaptor: BEIR split of --data to supervise with")] = None,
    data: Annotated[Path | None, typer.Option(help="BEIR folder [default: <data_dir>/<collection>]")] = None,
    index_root: IndexRoot = None,
) -> None:
    """Fit a prefix transform (PCA or a learned adaptor) and build low-dim prefix indexes for the funnel."""
    from indexers.locks import collection_lock
    from indexers.matryoshka.build import add_matryoshka
    from indexers.matryoshka.spec import MatryoshkaSpec
    from indexers.recovery import recover_collection

    setup_logging()
    settings = settings_for(index_root)
    folder = settings.index_root / collection / "indexes" / index
    spec = MatryoshkaSpec(transform=transform, dims=tuple(int(d) for d in dims.split(",")),
                          codes=tuple(codes.split(",")), funnel=parse_funnel(funnel), adaptor_steps=steps)
    supervision = None
    if supervise:
        from indexers.corpus import BeirDataset
        from indexers.dense import DenseIndex
        from indexers.encoders import EncoderSpec, build_encoder
        from training.matryoshka_supervision import supervision_from_beir

        dense = DenseIndex(folder)
        encoder = build_encoder(EncoderSpec.model_validate(dense.manifest.build["encoder"]))
        dataset = BeirDataset.open(data or settings.data_dir / collection)
        supervision = supervision_from_beir(dataset, supervise, encoder, dense)
    with collection_lock(settings.index_root, collection):  # the index folder is swapped: one writer at a time
        recover_collection(settings.index_root, collection)
        manifest = add_matryoshka(folder, spec, supervision)
    info = manifest.build["matryoshka"]
    typer.echo(f"{collection}/{index}: {transform} prefixes {list(spec.dims)} x {list(spec.codes)}, "
               f"{info['trained_on']}, {info['fit_seconds']}s")


@index_app.command("early-exit")
def index_early_exit(
    collection: Annotated[str, typer.Option()] = "scifact",
    index: Annotated[str, typer.Option(help="the dense index")] = "dense",
    layers: Annotated[str, typer.Option(help="depths to fit maps for: a range 1-5 or a list 2,3")] = "1-5",
    default: Annotated[int | None, typer.Option(help="the index's default query depth (requests may override)")
                       ] = None,
    samples: Annotated[int, typer.Option(help="pseudo-queries mined from the corpus")] = 4000,
    map_kind: Annotated[str, typer.Option("--map", help="affine (ridge least squares) | procrustes")] = "affine",
    target: Annotated[str, typer.Option(help="self (full-depth pseudo-query) | doc (stored doc vectors)")] = "self",
    ridge: Annotated[float, typer.Option(help="affine: ridge, relative to the mean eigenvalue")] = 1e-3,
    cache: Annotated[Path | None, typer.Option(help="folder caching the pseudo-queries' encodings")] = None,
    index_root: IndexRoot = None,
) -> None:
    """Fit early-exit compatibility maps (query encoded with the first L layers -> the index's full-depth space)
    from pseudo-queries mined from the corpus; documents are not re-encoded."""
    from indexers.collection import open_collection
    from indexers.locks import collection_lock
    from indexers.recovery import recover_collection
    from training.early_exit import fit_early_exit

    setup_logging()
    settings = settings_for(index_root)
    low, _, high = layers.partition("-")
    depths = list(range(int(low), int(high) + 1)) if high else [int(d) for d in layers.split(",")]
    with collection_lock(settings.index_root, collection):  # the index folder is swapped: one writer at a time
        recover_collection(settings.index_root, collection)
        col = open_collection(settings.index_root / collection)
        try:
            manifest = fit_early_exit(col, index, depths, samples=samples, kind=map_kind,  # type: ignore[arg-type]
                                      target=target, default=default, cache_dir=cache, ridge=ridge)  # type: ignore[arg-type]
        finally:
            col.close()
    info = manifest.build["early_exit"]
    typer.echo(f"{collection}/{index}: early-exit maps for layers {info['layers']} ({info['map']} to {info['target']},"
               f" {info['samples']} pseudo-queries, {info['fit_seconds']}s), default {info['default'] or 'full depth'}")
