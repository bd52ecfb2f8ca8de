"""``sieve``: a thin command line over the importable build, serve and evaluation functions."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from indexers.corpus import Fields, OnError
from service.config import Settings

app = typer.Typer(help="Sieve: dense/sparse retrieval and reranking.", no_args_is_help=True)
index_app = typer.Typer(help="Build and inspect indexes.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate pipelines.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
train_app = typer.Typer(help="Train models on a collection's own data.", no_args_is_help=True)
app.add_typer(train_app, name="train")

DEFAULT_DENSE = ["dense:torch:Flat"]
IndexRoot = Annotated[Path | None, typer.Option(help="where collections live [env SIEVE_INDEX_ROOT]")]


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(index_root: Path | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"index_root": index_root}) if index_root else settings


def parse_dense(value: str):  # type: ignore[no-untyped-def]
    """``NAME:BACKEND:FACTORY[:MODEL]`` -> a DenseIndexSpec (e.g. ``dense-hnsw:torch:HNSW32``)."""
    from indexers.dense import DenseIndexSpec
    from indexers.encoders import EncoderSpec

    parts = value.split(":", 3)
    if len(parts) < 3:
        raise typer.BadParameter(f"{value!r}: expected NAME:BACKEND:FACTORY[:MODEL], e.g. dense:torch:Flat")
    encoder = EncoderSpec(backend=parts[1], **({"model": parts[3]} if len(parts) == 4 else {}))  # type: ignore[arg-type]
    return DenseIndexSpec(name=parts[0], encoder=encoder, factory=parts[2])


@index_app.command("build")
def index_build(
    collection: Annotated[str, typer.Option(help="collection name (folder under the index root)")] = "scifact",
    source: Annotated[Path | None, typer.Option(help="BEIR folder or JSONL [default: <data_dir>/<collection>]")] = None,
    dense: Annotated[list[str], typer.Option(help="NAME:BACKEND:FACTORY[:MODEL]; repeat for several")] = DEFAULT_DENSE,
    sparse: Annotated[bool, typer.Option(help="build the BM25 index")] = True,
    no_dense: Annotated[bool, typer.Option("--no-dense", help="skip dense indexes")] = False,
    id_field: str = "_id",
    text_field: str = "text",
    title_field: str = "title",
    on_error: Annotated[OnError, typer.Option(help="bad records: skip (counted) or stop")] = OnError.skip,
    limit: Annotated[int | None, typer.Option(help="index only the first N docs")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if an index with the same spec exists")] = False,
    index_root: IndexRoot = None,
) -> None:
    """Build the doc store, a BM25 index and dense FAISS indexes for one collection."""
    from indexers.collection import BuildPlan, build_collection
    from indexers.lucene import LuceneIndexSpec

    _setup_logging()
    settings = _settings(index_root)
    plan = BuildPlan(
        name=collection,
        source=source or settings.data_dir / collection,
        fields=Fields(id=id_field, text=text_field, title=title_field or None),
        on_error=on_error,
        limit=limit,
        sparse=(LuceneIndexSpec(),) if sparse else (),
        dense=() if no_dense else tuple(parse_dense(d) for d in dense),
        force=force,
    )
    built = build_collection(plan, settings.index_root)
    for name, manifest in built.items():
        typer.echo(f"{collection}/{name}: {manifest.kind}, {manifest.doc_count} docs, built in "
                   f"{manifest.build_seconds}s ({manifest.build.get('docs_per_second')} docs/s)")


def _change_collection(collection: str, url: str | None, index_root: Path | None, route: str, body: dict,
                       **changes: object) -> None:
    """Send a change to a running server (which swaps it in live), or apply it on disk."""
    if url:
        import httpx

        resp = httpx.post(f"{url}/v1/collections/{collection}/{route}", json=body, timeout=3600)
        typer.echo(json.dumps(resp.json(), indent=2))
        raise typer.Exit(0 if resp.is_success else 1)
    from indexers.encoders import build_encoder
    from indexers.updates import apply_changes

    _setup_logging()
    report = apply_changes(_settings(index_root).index_root, collection, encoder_for=build_encoder, **changes)  # type: ignore[arg-type]
    typer.echo(json.dumps(vars(report), indent=2))


ServerUrl = Annotated[str | None, typer.Option(help="a running server to change live (default: change on disk)")]


@index_app.command("upsert")
def index_upsert(
    collection: Annotated[str, typer.Option()],
    source: Annotated[Path, typer.Option(help="JSONL of documents to add or replace")],
    id_field: str = "_id",
    text_field: str = "text",
    title_field: str = "title",
    url: ServerUrl = None,
    index_root: IndexRoot = None,
) -> None:
    """Add or replace documents (same id = replace) and rebuild every index of the collection."""
    from indexers.corpus import OnError, read_jsonl

    docs = list(read_jsonl(source, Fields(id=id_field, text=text_field, title=title_field or None), OnError.stop))
    body = {"documents": [{"id": d.id, "title": d.title, "text": d.text} for d in docs]}
    _change_collection(collection, url, index_root, "documents", body, upserts=docs)


@index_app.command("delete")
def index_delete(
    collection: Annotated[str, typer.Option()],
    ids: Annotated[str, typer.Option(help="comma-separated document ids")],
    url: ServerUrl = None,
    index_root: IndexRoot = None,
) -> None:
    """Delete documents by id and rebuild every index of the collection."""
    id_list = [i.strip() for i in ids.split(",") if i.strip()]
    _change_collection(collection, url, index_root, "documents/delete", {"ids": id_list}, deletes=id_list)


@index_app.command("rebuild")
def index_rebuild(
    collection: Annotated[str, typer.Option()], url: ServerUrl = None, index_root: IndexRoot = None
) -> None:
    """Rebuild every index of the collection from its doc store (new versions, same specs)."""
    _change_collection(collection, url, index_root, "rebuild", {})


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
    from indexers.matryoshka.build import add_matryoshka
    from indexers.matryoshka.spec import MatryoshkaSpec

    _setup_logging()
    settings = _settings(index_root)
    folder = settings.index_root / collection / "indexes" / index
    spec = MatryoshkaSpec(transform=transform, dims=tuple(int(d) for d in dims.split(",")),  # type: ignore[arg-type]
                          codes=tuple(codes.split(",")), funnel=parse_funnel(funnel), adaptor_steps=steps)
    supervision = None
    if supervise:
        from indexers.corpus import BeirDataset
        from indexers.dense import DenseIndex
        from indexers.encoders import EncoderSpec, build_encoder
        from indexers.matryoshka.supervision import supervision_from_beir

        dense = DenseIndex(folder)
        encoder = build_encoder(EncoderSpec.model_validate(dense.manifest.build["encoder"]))
        dataset = BeirDataset.open(data or settings.data_dir / collection)
        supervision = supervision_from_beir(dataset, supervise, encoder, dense)
    manifest = add_matryoshka(folder, spec, supervision)
    info = manifest.build["matryoshka"]
    typer.echo(f"{collection}/{index}: {transform} prefixes {list(spec.dims)} x {list(spec.codes)}, "
               f"{info['trained_on']}, {info['fit_seconds']}s")


def parse_funnel(value: str):  # type: ignore[no-untyped-def]
    """``DIMS:CODE:SHORTLIST`` -> FunnelSpec (e.g. ``64:sq8:200``)."""
    from indexers.matryoshka.spec import FunnelSpec

    parts = value.split(":")
    if len(parts) != 3:
        raise typer.BadParameter(f"{value!r}: expected DIMS:CODE:SHORTLIST, e.g. 64:sq8:200")
    return FunnelSpec(dims=int(parts[0]), code=parts[1], shortlist=int(parts[2]))  # type: ignore[arg-type]


@train_app.command("embedder")
def train_embedder_cmd(
    data: Annotated[Path, typer.Option(help="BEIR folder with a train split")],
    out: Annotated[Path, typer.Option(help="where the fine-tuned model is saved (load it by this path)")],
    split: str = "train",
    collection: Annotated[str | None, typer.Option(help="built collection to mine negatives from")] = None,
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2",
    matryoshka_dims: Annotated[str, typer.Option(help="comma-separated prefix dims")] = "384,256,128,64,32",
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    index_root: IndexRoot = None,
) -> None:
    """Matryoshka fine-tuning (MatryoshkaLoss over in-batch + BM25 hard negatives) on a BEIR train split."""
    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from indexers.training.embedder import EmbedderTrainSpec, train_embedder
    from indexers.training.pairs import mine_triples

    _setup_logging()
    settings = _settings(index_root)
    dataset = BeirDataset.open(data)
    triples = mine_triples(dataset, split, open_collection(settings.index_root / (collection or data.name)))
    spec = EmbedderTrainSpec(base_model=base_model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                             matryoshka_dims=tuple(int(d) for d in matryoshka_dims.split(",")))
    info = train_embedder(triples, spec, out)
    typer.echo(f"saved {out} ({info['triples']} triples, {info['seconds']}s on {info['device']})")


@train_app.command("cross-encoder")
def train_cross_encoder_cmd(
    data: Annotated[Path, typer.Option(help="BEIR folder with a train split")],
    out: Annotated[Path, typer.Option(help="where the reranker is saved (load it by this path)")],
    split: str = "train",
    collection: Annotated[str | None, typer.Option(help="built collection to mine negatives from")] = None,
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2",
    loss: Annotated[str, typer.Option(help="listnet | lambda")] = "listnet",
    negatives: Annotated[int, typer.Option(help="hard negatives per query")] = 4,
    teacher_weight: Annotated[float, typer.Option(help="weight of the hybrid fused score in labels; 0: none")] = 4.0,
    epochs: int = 2,
    learning_rate: float = 1e-4,
    max_length: int = 96,
    queries_per_batch: int = 2,
    freeze_layers: Annotated[int, typer.Option(help="keep embeddings + this many lowest layers fixed")] = 4,
    max_train_queries: Annotated[int | None, typer.Option(help="train on at most N queries")] = None,
    head_learning_rate: Annotated[float, typer.Option(help="learning rate of the (zero-initialised) head")] = 2e-3,
    dev_queries: Annotated[int, typer.Option(help="train queries held out for per-epoch nDCG@10")] = 20,
    dev_depth: Annotated[int, typer.Option(help="BM25 candidates each dev query reranks")] = 10,
    index_root: IndexRoot = None,
) -> None:
    """Listwise cross-encoder fine-tuning over BM25 + dense hard negatives, distilling the hybrid fused scores."""
    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from indexers.training.cross_encoder import CrossEncoderTrainSpec, train_cross_encoder
    from indexers.training.rank_lists import MiningSpec, first_stage_texts, mine_rank_lists

    _setup_logging()
    settings = _settings(index_root)
    dataset = BeirDataset.open(data)
    col = open_collection(settings.index_root / (collection or data.name))
    mining = MiningSpec(negatives=negatives, teacher_weight=teacher_weight)
    spec = CrossEncoderTrainSpec(base_model=base_model, loss=loss, epochs=epochs,  # type: ignore[arg-type]
                                 learning_rate=learning_rate, max_length=max_length, dev_queries=dev_queries,
                                 dev_depth=dev_depth, queries_per_batch=queries_per_batch,
                                 freeze_layers=freeze_layers, max_train_queries=max_train_queries,
                                 head_learning_rate=head_learning_rate)
    lists = mine_rank_lists(dataset, split, col, mining)
    dev = first_stage_texts(dataset, split, col, spec.dev_depth) if dev_queries else None
    info = train_cross_encoder(lists, spec, out, dev_rankings=dev)
    typer.echo(f"saved {out} ({info['train_queries']} queries, {info['train_pairs']} pairs, {info['seconds']}s on "
               f"{info['device']}); dev nDCG@10 before {info['dev_before']}, per epoch {info['dev_per_epoch']}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    index_root: IndexRoot = None,
) -> None:
    """Serve every collection under the index root over HTTP."""
    import uvicorn

    from service.logs import configure_logging
    from service.main import create_app

    settings = _settings(index_root)
    configure_logging(settings.log_level, settings.log_format)  # JSON lines with request ids (SIEVE_LOG_FORMAT)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_config=None, access_log=False)


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="the query")],
    collection: str = "scifact",
    retriever: str = "hybrid",
    k: int = 5,
    url: Annotated[str | None, typer.Option(help="a running server; default: search in-process")] = None,
    index_root: IndexRoot = None,
) -> None:
    """Search one collection and print the hits as JSON."""
    import httpx

    body = {"collection": collection, "query": text, "k": k, "retriever": retriever}
    if url:
        resp = httpx.post(f"{url}/v1/search", json=body, timeout=60)
        typer.echo(json.dumps(resp.json(), indent=2))
        raise typer.Exit(0 if resp.is_success else 1)
    from asgi_lifespan import LifespanManager

    from service.main import create_app

    async def run() -> httpx.Response:
        app_ = create_app(_settings(index_root))
        async with LifespanManager(app_) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sieve") as client:
                return await client.post("/v1/search", json=body)

    resp = asyncio.run(run())
    typer.echo(json.dumps(resp.json(), indent=2))
    raise typer.Exit(0 if resp.is_success else 1)


@eval_app.command("beir")
def eval_beir(
    data: Annotated[Path, typer.Option(help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")],
    pipeline: Annotated[list[str], typer.Option(help="bm25 | dense | hybrid | hybrid-convex; repeatable")] = ["bm25"],  # noqa: B006
    split: str = "test",
    k: Annotated[int, typer.Option(help="hits per query (Recall@100 needs >= 100)")] = 100,
    collection: Annotated[str | None, typer.Option(help="default: the folder's name")] = None,
    url: Annotated[str | None, typer.Option(help="evaluate a running server instead of in-process")] = None,
    out: Annotated[Path, typer.Option(help="run files and JSON summaries go here")] = Path("runs"),
    dense_index: Annotated[str | None, typer.Option(help="which dense index (default: the first)")] = None,
    dims: Annotated[int | None, typer.Option(help="Matryoshka: dense search at this prefix dimension")] = None,
    funnel: Annotated[str | None, typer.Option(help="Matryoshka funnel DIMS:CODE:SHORTLIST")] = None,
    build: Annotated[bool, typer.Option(help="build the collection first if it is missing")] = True,
    reranker: Annotated[str | None, typer.Option(help="cross-encoder (path or HF id) for NAME+ce pipelines")] = None,
    rerank_depth: Annotated[int, typer.Option(help="first-stage candidates the reranker rescores")] = 100,
    rerank_max_length: Annotated[int, typer.Option(help="tokens per (query, passage) pair")] = 512,
    blend: Annotated[list[float], typer.Option(help="first-stage weight(s) to blend in; repeatable")] = [0.0],  # noqa: B006
    max_queries: Annotated[int | None, typer.Option(help="only the split's first N queries")] = None,
    index_root: IndexRoot = None,
) -> None:
    """Score pipelines on a BEIR split with pytrec_eval (nDCG@10, Recall@100, MRR@10) like BEIR does.

    ``--pipeline bm25+ce --reranker PATH`` also reports the first stage at ``--rerank-depth`` and the reranked run
    (one row per ``--blend``) with rerank latency per query."""
    from evaluation.beir_eval import evaluate_pipelines
    from rankers.specs import RerankerSpec

    _setup_logging()
    settings = _settings(index_root)
    summaries = evaluate_pipelines(
        data=data, pipelines=pipeline, split=split, k=k, collection=collection or data.name, url=url, out=out,
        dense_index=dense_index, build=build, settings=settings, dims=dims,
        funnel=parse_funnel(funnel) if funnel else None,
        reranker=RerankerSpec(model=reranker, max_length=rerank_max_length) if reranker else None,
        rerank_depth=rerank_depth, blends=tuple(blend), max_queries=max_queries,
    )
    typer.echo(f"{'pipeline':<24}{'nDCG@10':>9}{'R@100':>9}{'MRR@10':>9}{'p50 ms':>9}")
    for s in summaries:
        m, lat = s["metrics"], s["latency_ms"]
        stage = f"  ({s['latency_stage']} only)" if "latency_stage" in s else ""
        typer.echo(f"{s['pipeline']:<24}{m['ndcg@10']:>9.4f}{m['recall@100']:>9.4f}{m['mrr@10']:>9.4f}"
                   f"{lat['p50']:>9.1f}{stage}")


@app.command()
def demo(
    collection: str = "scifact",
    query_text: Annotated[str, typer.Option("--query")] = "Vitamin D deficiency increases the risk of cancer",
    exit_after: Annotated[bool, typer.Option("--exit", help="stop after the sample query")] = False,
    index_root: IndexRoot = None,
) -> None:
    """The main job: build a default collection (if needed), serve it, answer a sample query, keep serving."""
    from sieve.demo import run_demo

    _setup_logging()
    settings = _settings(index_root)
    run_demo(settings, collection, query_text, exit_after=exit_after, echo=typer.echo)


@app.command()
def report(
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="JSON files or folders, searched recursively [default: runs/ and results/ where they exist]")] = None,
    out: Annotated[Path, typer.Option(help="where report.md, report.html and the PNG plots go")] = Path("reports"),
) -> None:
    """Eval summaries (`sieve eval beir`) and benchmark results as one Markdown and one HTML page with plots."""
    from evaluation.report import build_report
    from evaluation.report_data import ReportInputError

    _setup_logging()
    paths = inputs or [p for p in (Path("runs"), Path("results")) if p.is_dir()]
    try:
        files = build_report(paths, out)
    except ReportInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="INPUTS") from exc
    typer.echo(f"wrote {files.markdown}, {files.html} and {len(files.plots)} plots")
