"""Acknowledged writes survive SIGKILL: a real ``sieve serve`` process over a small SciFact slice (native BM25 and a
MiniLM Flat index) is killed at random points of a stream of upserts and deletes, 20 times (background merges run
too: ``merge_after`` is small, so some kills land mid-merge). After each restart every acknowledged change is
visible, in BM25, in the dense index and in the doc store (the hit's text), and nothing unacknowledged is. The one
request in flight at the kill may land either way (it was logged or not; no client saw its answer): that id may hold
either its old or its new state, and later checks hold it to what the server then showed."""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from indexers.corpus import BeirDataset
from kernel.types import Doc
from tests.conftest import build_small
from tests.servers import start_sieve_serve

KILLS = 20
IDS = [f"w-{n}" for n in range(12)]
GONE = -1  # the state of a deleted doc
State = dict[str, int]  # doc id -> acknowledged version (base docs: 0), or GONE


def _text(bodies: list[str], doc_id: str, version: int) -> str:
    n = doc_id.split("-")[1]
    return f"zqid{n} zv{n}v{version} {bodies[int(n)][:400]}"


def _start(root: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_sieve_serve(root, log, {"SIEVE_RERANK__MODELS": "[]", "SIEVE_WORKERS": "2",
                                         "SIEVE_WRITES__MERGE_AFTER": "8", "SIEVE_CACHE__ENABLED": "false"},
                             timeout=180)


@pytest.fixture(scope="module")
def corpus(scifact_slice: Path) -> list[Doc]:
    return list(itertools.islice(BeirDataset.open(scifact_slice).corpus(), 30 + len(IDS)))


@pytest.fixture(scope="module")
def root(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small(tmp_path_factory.mktemp("crash"), "c", scifact_slice, 30)


def _ids(client: httpx.Client, query: str, retriever: str, k: int) -> dict[str, str]:
    """Hit id -> its text (from the doc store)."""
    resp = client.post("/v1/search", json={"collection": "c", "query": query, "k": k, "retriever": retriever})
    assert resp.status_code == 200, resp.text
    return {h["id"]: h["text"] for h in resp.json()["hits"]}


def _observe(client: httpx.Client, doc_id: str, bodies: list[str], titles: dict[str, str]) -> int:
    """The state the server shows for ``doc_id``, checked to agree across BM25, the dense index and the doc store."""
    if doc_id in titles:  # a base doc: present (0) or deleted, in both indexes alike
        sparse, dense = _ids(client, titles[doc_id], "sparse", 50), _ids(client, titles[doc_id], "dense", 50)
        assert (doc_id in sparse) == (doc_id in dense), doc_id
        return 0 if doc_id in sparse else GONE
    n = doc_id.split("-")[1]
    sparse = _ids(client, f"zqid{n}", "sparse", 5)
    if doc_id not in sparse:
        assert doc_id not in _ids(client, _text(bodies, doc_id, 0), "dense", 60), doc_id  # gone from dense too
        return GONE
    version = int(sparse[doc_id].split()[1].split("v")[-1])  # the doc store's text names the version
    assert next(iter(_ids(client, _text(bodies, doc_id, version), "dense", 1))) == doc_id  # and dense has it
    return version


def test_acknowledged_writes_survive_sigkill(root: Path, corpus: list[Doc], tmp_path: Path) -> None:
    base, bodies = corpus[:30], [d.text for d in corpus[30:]]
    titles = {d.id: d.title for d in base}
    rng = random.Random(12)
    state: State = {d.id: 0 for d in base[5:]}
    log = tmp_path / "server.log"
    in_flight: tuple[str, int] | None = None
    acked = 0
    for kill in range(KILLS + 1):
        proc, url = _start(root, log)
        with httpx.Client(base_url=url, timeout=60) as client:
            if in_flight is not None:  # the op the kill interrupted: either way, then held to what is shown
                doc_id, after = in_flight
                seen = _observe(client, doc_id, bodies, titles)
                assert seen in (state.get(doc_id, GONE), after), (doc_id, seen, state.get(doc_id), after)
                state[doc_id], in_flight = seen, None
            for doc_id, version in state.items():
                assert _observe(client, doc_id, bodies, titles) == version, (kill, doc_id)
            if kill == KILLS:
                break
            killer = threading.Timer(rng.uniform(0.3, 2.0), proc.send_signal, args=(signal.SIGKILL,))
            killer.start()  # at a random point: mid-request, mid-fsync, mid-merge or between requests
            version = kill * 10
            while True:
                version += 1
                roll = rng.random()
                if roll < 0.6:
                    doc_id, after = rng.choice(IDS), version % 1000
                    path, body = "documents", {"documents": [{"id": doc_id, "text": _text(bodies, doc_id, after)}]}
                else:
                    doc_id, after = rng.choice(IDS if roll < 0.85 else [d.id for d in base[5:]]), GONE
                    path, body = "documents/delete", {"ids": [doc_id]}
                in_flight = (doc_id, after)
                try:
                    resp = client.post(f"/v1/collections/c/{path}", json=body)
                except httpx.HTTPError:
                    break
                assert resp.status_code == 200, resp.text
                state[doc_id], in_flight, acked = after, None, acked + 1
            killer.join()
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert acked >= 40, f"only {acked} acknowledged changes: the stream hardly ran"
