"""``sieve index upgrade``: move a dense index to another model without a re-indexing outage (``indexers/upgrade``):
B's queries are served through a fitted map at once, the documents are re-encoded (resumably), then B's index is
swapped in. Offline it runs all three phases under the collection's write lock; with ``--url`` a running server
does, and this follows its status."""

from __future__ import annotations

import functools
import json
import time
from typing import Annotated, Any

import typer

from indexers.dense.query_map import DEFAULT_LAMBDA
from sieve.cli_common import IndexRoot, settings_for, setup_logging

ServerUrl = Annotated[str | None, typer.Option(help="a running server to upgrade live (default: on disk)")]
ApiKey = Annotated[str | None, typer.Option(envvar="SIEVE_API_KEY", show_default=False,
                                            help="admin API key sent with --url [env SIEVE_API_KEY]")]


def _follow(url: str, collection: str, index: str, body: dict[str, Any], api_key: str | None) -> None:
    """Start the upgrade on the server, then print its status until it is done or failed."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    route = f"{url}/v1/collections/{collection}/indexes/{index}/upgrade"
    resp = httpx.post(route, json=body, headers=headers, timeout=600)
    if resp.status_code != 202:
        typer.echo(json.dumps(resp.json(), indent=2), err=True)
        raise typer.Exit(1)
    seen = ""
    while True:
        status = httpx.get(route, headers=headers, timeout=60).json()
        line = f"{status['phase']}: {status['done']}/{status['total']} documents re-encoded"
        if line != seen:
            typer.echo(line, err=True)
            seen = line
        if status["phase"] in ("done", "failed"):
            typer.echo(json.dumps(status, indent=2))
            raise typer.Exit(0 if status["phase"] == "done" else 1)
        time.sleep(1.0)


def index_upgrade(
    collection: Annotated[str, typer.Option()],
    model: Annotated[str, typer.Option(help="model B: a Hugging Face id or a local model folder")],
    index: Annotated[str, typer.Option(help="the dense index to upgrade")] = "dense",
    backend: Annotated[str, typer.Option(help="torch | onnx")] = "torch",
    calibration: Annotated[int, typer.Option(help="documents the query map is fitted on")] = 2000,
    method: Annotated[str, typer.Option(help="orthogonal | lstsq")] = "orthogonal",
    lam: Annotated[float, typer.Option(help="orthogonality weight of the orthogonal map")] = DEFAULT_LAMBDA,
    no_reindex: Annotated[bool, typer.Option("--no-reindex", help="stop once B's queries are served through the "
                                                                  "map (no re-encoding, no swap)")] = False,
    url: ServerUrl = None,
    api_key: ApiKey = None,
    index_root: IndexRoot = None,
) -> None:
    """Upgrade a dense index to model B: map B's queries into the index at once, re-encode, swap B's index in."""
    body: dict[str, Any] = {"model": model, "backend": backend, "calibration": calibration, "method": method,
                            "lam": lam, "reindex": not no_reindex}
    if url:
        _follow(url, collection, index, body, api_key)
        return
    from tqdm.auto import tqdm

    from indexers.encoders import build_encoder
    from indexers.locks import collection_lock
    from indexers.upgrade import UpgradeRequest, UpgradeStatus, run_upgrade

    setup_logging()
    root = settings_for(index_root).index_root
    try:
        request = UpgradeRequest(index=index, **body)
    except ValueError as exc:  # pydantic's ValidationError: which option, and why
        raise typer.BadParameter(str(exc)) from None
    bars: list[Any] = []  # the re-encoding's bar, made when that phase starts
    phase = ["pending"]

    def report(status: UpgradeStatus) -> None:
        if status.phase != phase[0]:
            phase[0] = status.phase
            tqdm.write(f"{collection}/{index}: {status.phase}")
        if status.total:
            if not bars:
                bars.append(tqdm(desc=f"re-encode with {model}", unit="doc", total=status.total))
            bars[0].n = status.done
            bars[0].refresh()

    with collection_lock(root, collection):
        final = run_upgrade(root, collection, request, encoder_for=functools.cache(build_encoder), report=report)
    for bar in bars:
        bar.close()
    typer.echo(final.model_dump_json(indent=2))
    typer.echo("upgraded on disk: a server already running serves it after its next change, merge or restart "
               "(use --url to upgrade a served collection live)", err=True)
