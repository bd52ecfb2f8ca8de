"""The main job: make sure a default collection is built, serve it on loopback, ask it one question through every
first stage, then with the default reranker and at a Matryoshka prefix dimension."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from indexers.collection import BuildPlan, build_collection
from indexers.impact import ImpactIndexSpec
from indexers.sparse import DEFAULT_SPARSE
from service.config import Settings
from service.main import create_app


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(url, json=body, timeout=120)
    if not resp.is_success:
        raise SystemExit(f"POST {url} {body}: {resp.status_code} {resp.text}")
    answer: dict[str, Any] = resp.json()
    return answer


def _show(echo: Callable[[str], None], what: str, body: dict[str, Any]) -> None:
    degraded = f", degraded: {body['degraded']}" if body.get("degraded") else ""
    echo(f"\n{what} ({body['timings_ms']['total']:.1f} ms{degraded})")
    for hit in body["hits"]:
        echo(f"  {hit['score']:8.4f}  {hit['id']:>10}  {hit['title'][:80]}")


def _second_stages(base: str, collection: str, query: str, echo: Callable[[str], None]) -> None:
    """What works without a training step or `sieve index matryoshka`: the default reranker (``"rerank": true``,
    ``/v2/rerank``) and Matryoshka prefix search (``"dimensions": 64``)."""
    search = {"collection": collection, "query": query, "k": 3, "timeout_ms": 60_000}
    body = _post(f"{base}/v1/search", {**search, "retriever": "hybrid", "depth": 20, "rerank": True})
    _show(echo, 'hybrid + "rerank": true (the served default reranker over the top 20)', body)
    body = _post(f"{base}/v1/search", {**search, "retriever": "dense", "dimensions": 64})
    _show(echo, 'dense, "dimensions": 64 (PCA prefixes, built with the index)', body)
    docs = [h["text"] for h in _post(f"{base}/v1/search", {**search, "retriever": "sparse"})["hits"]]
    body = _post(f"{base}/v2/rerank", {"query": query, "documents": docs, "timeout_ms": 60_000})
    served = [r["name"] for r in httpx.get(f"{base}/v1/rerankers", timeout=30).json()["rerankers"]]
    echo(f"\n/v2/rerank ({served[0]}): the sparse top 3 rescored")
    for r in body["results"]:
        echo(f"  {r['relevance_score']:8.4f}  document {r['index']}: {docs[r['index']][:70]!r}")


def run_demo(
    settings: Settings, collection: str, query: str, *, exit_after: bool, echo: Callable[[str], None],
    limit: int | None = None,
    learned_sparse: bool = False,
) -> None:
    """Build (``learned_sparse``: with a SPLADE-tiny Lucene impact index ``splade``), serve, show each first stage."""
    source = settings.data_dir / collection
    extra = (ImpactIndexSpec(name="splade"),) if learned_sparse else ()
    plan = BuildPlan(name=collection, source=source, sparse=DEFAULT_SPARSE, learned_sparse=extra, limit=limit)
    build_collection(plan, settings.index_root)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://{settings.host}:{settings.port}"
    deadline = time.monotonic() + 300
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the server did not start; see the log above")
        time.sleep(0.2)
    for retriever in ("sparse", "dense", "hybrid"):
        body = _post(f"{base}/v1/search", {"collection": collection, "query": query, "k": 3, "retriever": retriever})
        _show(echo, f"{retriever}: {query!r}", body)
    if learned_sparse:
        for route in ({"retriever": "splade"}, {"retrievers": ["sparse", "splade", "dense"]}):
            body = _post(f"{base}/v1/search", {"collection": collection, "query": query, "k": 3, **route})
            _show(echo, f"{'+'.join(body['retrievers'])}: {query!r}", body)
    _second_stages(base, collection, query, echo)
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
