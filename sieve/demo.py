"""The main job: make sure a default collection is built, serve it on loopback, ask it one question."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import uvicorn

from indexers.collection import BuildPlan, build_collection
from indexers.impact import ImpactIndexSpec
from indexers.sparse import DEFAULT_SPARSE
from service.config import Settings
from service.main import create_app


def run_demo(
    settings: Settings, collection: str, query: str, *, exit_after: bool, echo: Callable[[str], None],
    learned_sparse: bool = False,
) -> None:
    """Build (``learned_sparse``: with a SPLADE index named ``splade``), serve, and show each retriever's top 3."""
    source = settings.data_dir / collection
    extra = (ImpactIndexSpec(name="splade"),) if learned_sparse else ()
    build_collection(BuildPlan(name=collection, source=source, sparse=DEFAULT_SPARSE, learned_sparse=extra),
                     settings.index_root)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://{settings.host}:{settings.port}"
    deadline = time.monotonic() + 300
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the server did not start; see the log above")
        time.sleep(0.2)
    routes: list[dict[str, object]] = [{"retriever": r} for r in ("sparse", "dense", "hybrid")]
    if learned_sparse:
        routes += [{"retriever": "splade"}, {"retrievers": ["sparse", "splade", "dense"]}]
    for route in routes:
        resp = httpx.post(f"{base}/v1/search", json={"collection": collection, "query": query, "k": 3, **route},
                          timeout=60)
        resp.raise_for_status()
        body = resp.json()
        echo(f"\n{'+'.join(body['retrievers'])}: {query!r} ({body['timings_ms']['total']:.1f} ms)")
        for hit in body["hits"]:
            echo(f"  {hit['score']:8.4f}  {hit['id']:>10}  {hit['title'][:80]}")
    if exit_after:
        server.should_exit = True
        thread.join()
        return
    echo(f"\nSieve is serving {collection} at {base} (POST /v1/search, GET /v1/collections); Ctrl-C stops it.")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join()
