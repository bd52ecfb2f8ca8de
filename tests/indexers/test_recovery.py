"""Crash recovery on real indexes: a real ``sieve`` CLI process is SIGKILLed at each step of a collection swap and of
an index build, then start-up (``list_collections`` + ``open_collection``, what the registry runs) must find one
complete, consistent version, old or new. Also: stale indexes are not served, offline writes wait for the lock."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from indexers.collection import BuildPlan, build_collection, list_collections, open_collection
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndexSpec
from indexers.encoders import build_encoder
from indexers.locks import collection_lock
from indexers.lucene import Bm25Params
from indexers.manifest import IndexManifest
from indexers.segments.scoring import bm25_hits, dense_hits, fetch, merge
from kernel.types import Doc
from tests.indexers.conftest import ENCODER

REPO = Path(__file__).resolve().parents[2]
PLAN = {"name": "c", "dense": (DenseIndexSpec(encoder=ENCODER),)}
NEW = Doc("new-1", "Hypersonic boundary layer transition on slender cones at Mach eight", "Wind tunnel study")


def _jsonl(docs: list[Doc]) -> str:
    return "".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in docs)


@pytest.fixture(scope="module")
def corpus(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Version 1 (12 docs), the upsert (one new doc) and version 2 of the corpus (2 docs gone, the new one in)."""
    docs = list(itertools.islice(BeirDataset.open(scifact_slice).corpus(), 12))
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "v1.jsonl").write_text(_jsonl(docs))
    (folder / "upsert.jsonl").write_text(_jsonl([NEW]))
    (folder / "v2.jsonl").write_text(_jsonl([*docs[2:], NEW]))
    base = tmp_path_factory.mktemp("base")
    build_collection(BuildPlan(source=folder / "v1.jsonl", **PLAN), base)  # type: ignore[arg-type]
    return {"folder": folder, "docs": docs, "base": base, "v1": {d.id for d in docs},
            "upserted": {d.id for d in docs} | {NEW.id}, "v2": {d.id for d in docs[2:]} | {NEW.id}}


@pytest.fixture(scope="module")
def encoder():  # type: ignore[no-untyped-def]
    return build_encoder(ENCODER)


def _copy(corpus: dict[str, object], tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(corpus["base"], root)  # type: ignore[arg-type]
    return root


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if p.name not in (".locks", ".wal"))


def _cli(op: str, root: Path, corpus_folder: Path, fault: str | None = None) -> subprocess.Popen[str]:
    args = {
        "upsert": ["index", "upsert", "--collection", "c", "--source", str(corpus_folder / "upsert.jsonl")],
        "build": ["index", "build", "--collection", "c", "--source", str(corpus_folder / "v2.jsonl"),
                  "--dense", "dense:onnx:Flat", "--sparse", "bm25:lucene"],
        "respec": ["index", "build", "--collection", "c", "--source", str(corpus_folder / "v1.jsonl"),
                   "--dense", "dense:onnx:HNSW16", "--sparse", "bm25:lucene"],
        "delete": ["index", "delete", "--collection", "c", "--ids", "new-1"],
        "rebuild": ["index", "rebuild", "--collection", "c"],
    }[op]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("SIEVE_FAULT_AT", None)
    if fault:
        env["SIEVE_FAULT_AT"] = fault
    return subprocess.Popen([sys.executable, "-m", "sieve", *args, "--index-root", str(root)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _consistent_version(root: Path, corpus: dict[str, object], encoder) -> tuple[str, IndexManifest]:  # type: ignore[no-untyped-def]
    """Start-up's view of ``root``: exactly one whole collection whose every index covers exactly its doc store."""
    assert [p.name for p in list_collections(root)] == ["c"]  # repairs first
    assert _leftovers(root) == []
    col = open_collection(root / "c")  # the log replayed over the base
    base_ids = [d.id for d in col.docs.iter_docs()]
    assert not col.stale and set(col.sparse) == {"bm25"} and set(col.dense) == {"dense"} and col.segments
    for index in (col.sparse["bm25"], col.dense["dense"]):
        assert index.manifest.doc_count == col.docs.count == len(base_ids)
        assert index.manifest.docstore_version == col.docs.version is not None
    assert col.dense["dense"].docids == base_ids
    snap = col.segments.current
    ids = [i for i in base_ids if not snap.hidden(i)] + [i for i in snap.docs if i not in base_ids]
    assert col.doc_count == len(ids)
    versions = {name: corpus[name] for name in ("v1", "upserted", "v2")}
    version = next(name for name, wanted in versions.items() if set(ids) == wanted)
    probe = NEW if NEW.id in ids else corpus["docs"][0]  # type: ignore[index]
    text = probe.title + " " + probe.text[:300]
    top = merge(col.sparse["bm25"].search(text, fetch(snap, 1)), bm25_hits(snap, col.sparse["bm25"], text, 1,
                                                                            Bm25Params()), snap, 1, _pair)
    assert top[0][0] == probe.id
    q = encoder.encode_queries([probe.contents])
    top = merge(col.dense["dense"].search(q, fetch(snap, 1))[0], dense_hits(snap, "dense", col.dense["dense"], q[0], 1,
                                                                            None), snap, 1, _pair)
    assert top[0][0] == probe.id
    return version, col.dense["dense"].manifest


def _pair(doc_id: str, score: float, _: object) -> tuple[str, float]:
    return doc_id, score


# (command, where it is killed, the version start-up must find: the commit point is the swap's first rename)
# An upsert is logged (the commit point: the log's fsynced commit); ``rebuild`` folds a logged upsert into a new base
# (the merge): whatever step it dies at, the upsert stays visible (in the log, the base, or both: replay skips it).
KILLS = [
    ("upsert", "wal.before-append", "v1"),
    ("upsert", "wal.after-append", "upserted"),
    ("rebuild", "swap.before-renames:c", "upserted"),
    ("rebuild", "swap.between-renames:c", "upserted"),
    ("rebuild", "swap.after-renames:c", "upserted"),
    ("rebuild", "manifest.before-write:dense", "upserted"),
    ("rebuild", "swap.before-renames:bm25", "upserted"),  # an index swap inside the new collection folder
    ("rebuild", "merge.before-truncate:c", "upserted"),  # the new base holds it and so does the log
    ("build", "build.after-docstore", "v1"),
    ("build", "lucene.mid-index", "v1"),
    ("build", "dense.mid-index", "v1"),
    ("build", "manifest.before-write:bm25", "v1"),
    ("build", "swap.between-renames:c", "v2"),
    ("respec", "swap.between-renames:dense", "v1"),  # the same doc store, one index rebuilt in place
]


@pytest.mark.parametrize(("op", "fault", "expected"), KILLS, ids=[f"{op}-{fault}" for op, fault, _ in KILLS])
def test_kill_at_each_step_recovers_a_consistent_collection(  # type: ignore[no-untyped-def]
    op: str, fault: str, expected: str, corpus: dict[str, object], encoder, tmp_path: Path
) -> None:
    root = _copy(corpus, tmp_path)
    if op == "rebuild":  # a logged upsert for the merge to fold
        logged = _cli("upsert", root, corpus["folder"])  # type: ignore[arg-type]
        assert logged.wait(600) == 0
    proc = _cli(op, root, corpus["folder"], fault)  # type: ignore[arg-type]
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]  # it really died at that step
    if not fault.startswith(("wal.", "merge.", "swap.after")):
        assert _leftovers(root), "a kill mid-swap leaves temporary folders behind"
    if fault.startswith("swap.between-renames:c"):
        assert not (root / "c").exists()  # the collection folder is gone until start-up repairs it
    version, dense = _consistent_version(root, corpus, encoder)
    assert version == expected
    if op == "respec":  # rolled forward: the rebuilt index is the one served
        assert dense.build["factory"] == "HNSW16"
    if op == "build" and expected == "v1":  # the next build finishes the job
        build_collection(BuildPlan(source=corpus["folder"] / "v2.jsonl", **PLAN), root)  # type: ignore[arg-type, operator]
        assert _consistent_version(root, corpus, encoder)[0] == "v2"


def test_a_stale_index_is_not_served_and_the_next_build_replaces_it(  # type: ignore[no-untyped-def]
    corpus: dict[str, object], encoder, tmp_path: Path
) -> None:
    root = _copy(corpus, tmp_path)
    bm25 = root / "c" / "indexes" / "bm25"
    manifest = IndexManifest.read(bm25)
    data = json.loads((bm25 / "manifest.json").read_text())
    (bm25 / "manifest.json").write_text(json.dumps({**data, "docstore_version": "another-one"}))
    col = open_collection(root / "c")
    assert "bm25" not in col.sparse and "another doc store" in col.stale["bm25"] and "dense" in col.dense
    built = build_collection(BuildPlan(source=corpus["folder"] / "v1.jsonl", **PLAN), root)  # type: ignore[arg-type, operator]
    assert built["bm25"].version != manifest.version  # rebuilt over the current doc store
    assert built["dense"].version == IndexManifest.read(root / "c" / "indexes" / "dense").version  # kept
    assert _consistent_version(root, corpus, encoder)[0] == "v1"


def test_an_offline_write_waits_for_the_writer_holding_the_lock(  # type: ignore[no-untyped-def]
    corpus: dict[str, object], encoder, tmp_path: Path
) -> None:
    root = _copy(corpus, tmp_path)
    with collection_lock(root, "c"):  # what the server holds during an admin change
        proc = _cli("upsert", root, corpus["folder"])  # type: ignore[arg-type]
        lines = []
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "waiting for the write lock of collection c" in line:
                break
        assert proc.poll() is None, "".join(lines)[-2000:]
        assert open_collection(root / "c").docs.count == 12  # nothing written while the lock is held
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    lines = out.splitlines()  # the JVM logs to stdout before the report
    assert json.loads("\n".join(lines[lines.index("{"):]))["added"] == 1
    assert _consistent_version(root, corpus, encoder)[0] == "upserted"


def test_repair_restores_completes_and_cleans_but_never_under_a_running_writer(tmp_path: Path) -> None:
    import threading

    root = tmp_path
    old = root / ".old-c-0123abcd"  # killed between the renames, the new folder already gone: the old one returns
    (old / "indexes" / ".tmp-bm25-89abcdef").mkdir(parents=True)
    (old / "docs.sqlite").write_text("")
    (root / ".tmp-d-0123abcd").mkdir()  # the first build of d, killed: no collection d
    (root / ".deleted-e-1-2").mkdir()  # a drop killed after its rename
    (root / ".tmp-f-0123abcd").mkdir()  # f's writer is running (holds the lock): left alone
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with collection_lock(root, "f"):
            held.set()
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait(60)
    try:
        assert [p.name for p in list_collections(root)] == ["c"]
        assert sorted(p.name for p in root.iterdir()) == [".locks", ".tmp-f-0123abcd", "c"]
        assert list((root / "c" / "indexes").iterdir()) == []
    finally:
        release.set()
        thread.join()
    list_collections(root)
    assert sorted(p.name for p in root.iterdir()) == [".locks", "c"]
