"""``sieve``: a thin command line over the importable build, serve and evaluation functions. Command groups live
in ``cli_index`` (index), ``cli_train`` (train) and ``cli_eval`` (eval); this module assembles them and holds the
top-level commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from sieve.cli_common import IndexRoot, settings_for, setup_logging
from sieve.cli_eval import eval_app
from sieve.cli_index import index_app
from sieve.cli_scaleout import RayAddressOption, RayOption
from sieve.cli_train import train_app
from sieve.cli_upgrade import index_upgrade

app = typer.Typer(help="Sieve: dense/sparse retrieval and reranking.", no_args_is_help=True)
index_app.command("upgrade")(index_upgrade)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.add_typer(train_app, name="train")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    index_root: IndexRoot = None,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
) -> None:
    """Serve every collection under the index root over HTTP (with --ray, sharded collections too, through shard
    actors on Ray)."""
    import uvicorn

    from service.config import InsecureSettings
    from service.logs import configure_logging
    from service.main import create_app

    settings = settings_for(index_root)
    settings = settings.model_copy(update={"host": host or settings.host, "port": port or settings.port})
    if ray or ray_address:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(
            update={"enabled": True, "address": ray_address or settings.ray.address})})
    configure_logging(settings.log_level, settings.log_format)  # JSON lines with request ids (SIEVE_LOG_FORMAT)
    try:
        app = create_app(settings)
    except InsecureSettings as exc:
        typer.echo(f"sieve serve: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="the query")],
    collection: str = "scifact",
    retriever: str = "hybrid",
    k: int = 5,
    url: Annotated[str | None, typer.Option(help="a running server; default: search in-process")] = None,
    filter_json: Annotated[str | None, typer.Option("--filter", help='a metadata filter as JSON, e.g. '
                                                    '\'{"field": "year", "gte": 2015}\'')] = None,
    index_root: IndexRoot = None,
) -> None:
    """Search one collection and print the hits as JSON."""
    import httpx

    body: dict[str, object] = {"collection": collection, "query": text, "k": k, "retriever": retriever}
    if filter_json:
        try:
            body["filter"] = json.loads(filter_json)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc.msg}", param_hint="--filter") from None
    if url:
        resp = httpx.post(f"{url}/v1/search", json=body, timeout=60)
        typer.echo(json.dumps(resp.json(), indent=2))
        raise typer.Exit(0 if resp.is_success else 1)
    from asgi_lifespan import LifespanManager

    from service.main import create_app

    async def run() -> httpx.Response:
        app_ = create_app(settings_for(index_root))
        async with LifespanManager(app_) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sieve") as client:
                return await client.post("/v1/search", json=body)

    resp = asyncio.run(run())
    typer.echo(json.dumps(resp.json(), indent=2))
    raise typer.Exit(0 if resp.is_success else 1)


@app.command()
def demo(
    collection: str = "scifact",
    query_text: Annotated[str, typer.Option("--query")] = "Vitamin D deficiency increases the risk of cancer",
    exit_after: Annotated[bool, typer.Option("--exit", help="stop after the sample query")] = False,
    limit: Annotated[int | None, typer.Option(help="index only the first N docs (a quick try)")] = None,
    learned_sparse: Annotated[bool, typer.Option(
        help="also build a SPLADE-tiny Lucene impact index and query it (alone and fused with BM25 and dense): about "
             "4 minutes for SciFact on 2 quiet cores, much longer on a busy machine")] = True,
    index_root: IndexRoot = None,
) -> None:
    """The main job: build a default collection (if needed), serve it, answer a sample query, keep serving."""
    from sieve.demo import run_demo

    setup_logging()
    settings = settings_for(index_root)
    run_demo(settings, collection, query_text, exit_after=exit_after, echo=typer.echo, limit=limit,
             learned_sparse=learned_sparse)


@app.command()
def report(
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="JSON files or folders, searched recursively [default: runs/ and results/ where they exist]")] = None,
    out: Annotated[Path, typer.Option(help="where report.md, report.html and the PNG plots go")] = Path("reports"),
) -> None:
    """Eval summaries (`sieve eval beir`) and benchmark results as one Markdown and one HTML page with plots."""
    from evaluation.report import build_report
    from evaluation.report_data import ReportInputError

    setup_logging()
    paths = inputs or [p for p in (Path("runs"), Path("results")) if p.is_dir()]
    try:
        files = build_report(paths, out)
    except ReportInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="INPUTS") from exc
    typer.echo(f"wrote {files.markdown}, {files.html} and {len(files.plots)} plots")
