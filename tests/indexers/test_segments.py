"""Incremental writes on real indexes (SciFact slice, native BM25 + MiniLM Flat with PCA prefixes): the log replays
idempotently, tombstones + the delta give the full rebuild's top-k, compaction truncates the log."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexers.bm25 import Bm25IndexSpec
from indexers.collection import BuildPlan, Collection, build_collection, open_collection
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndexSpec
from indexers.dense.options import DenseSearchOptions
from indexers.dense.passages import ChunkSpec
from indexers.learned_sparse import ExactIndexSpec, ExactSearchOptions
from indexers.lucene import Bm25Params, LuceneIndexSpec
from indexers.matryoshka import FunnelSpec, MatryoshkaSpec
from indexers.matryoshka.build import add_matryoshka
from indexers.matryoshka.spec import FunnelOptions
from indexers.segments.codec import decode_doc, encode_doc
from indexers.segments.merge import apply_changes
from indexers.segments.scoring import bm25_hits, dense_hits, fetch, merge, sparse_hits
from indexers.segments.wal import WriteAheadLog, folded_seq, wal_path
from indexers.sparse_encoders import SparseEncoderSpec, build_sparse_encoder
from kernel.errors import InvalidInput
from kernel.types import Doc
from tests.indexers.conftest import ENCODER

QUERIES = ["vitamin D deficiency and cancer", "stem cell differentiation", "antibiotic resistance in bacteria",
           "zebrafish fin regeneration", "hypersonic boundary layer"]


@pytest.fixture(scope="module")
def corpus(scifact_slice: Path) -> list[Doc]:
    return list(itertools.islice(BeirDataset.open(scifact_slice).corpus(), 80))


@pytest.fixture(scope="module")
def built(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("segments")
    plan = BuildPlan(name="seg", source=scifact_slice, limit=60,
                     sparse=(Bm25IndexSpec(name="bm25"), LuceneIndexSpec(name="bm25-lucene")),
                     dense=(DenseIndexSpec(encoder=ENCODER, prefixes=None),), learned_sparse=(ExactIndexSpec(),))
    build_collection(plan, root)
    return root


@pytest.fixture()
def root(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "r")
    return tmp_path / "r"


def _changes(corpus: list[Doc]) -> list[tuple[list[Doc], list[str]]]:
    base, extra = corpus[:60], corpus[60:]
    return [
        (extra[:5], []),
        ([Doc(base[0].id, "Zebrafish fin regeneration after amputation needs blastema cells", "Zebrafish fins")], []),
        ([], [base[1].id, base[2].id, extra[0].id, "no-such-id"]),
        (extra[5:12] + [Doc("copy-3", base[3].text, base[3].title)], [extra[1].id]),
        ([Doc(extra[2].id, "Hypersonic boundary layer transition on slender cones", "Wind tunnel")], []),
    ]


@pytest.fixture(scope="module")
def splade():  # type: ignore[no-untyped-def]
    return build_sparse_encoder(SparseEncoderSpec())


def _write_all(col: Collection, corpus: list[Doc], encoder_for, splade=None) -> None:  # type: ignore[no-untyped-def]
    assert col.segments is not None
    for ups, dels in _changes(corpus):
        col.segments.write(ups, dels, encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)


def _dense_top(col: Collection, q: np.ndarray, k: int, options: DenseSearchOptions | None = None
               ) -> list[tuple[str, float]]:
    snap = col.segments.current if col.segments is not None else None
    index = col.dense["dense"]
    rows = index.search(q, fetch(snap, k), options)[0]
    if snap is None or snap.empty:
        return [(d, s) for d, s in rows[:k]]
    got = merge(rows, dense_hits(snap, "dense", index, q[0], k, options), snap, k, lambda d, s, _: (d, s))
    return [(d, s) for d, s in got]


def _bm25_top(col: Collection, query: str, k: int) -> list[tuple[str, float]]:
    snap = col.segments.current if col.segments is not None else None
    index = col.sparse["bm25"]
    rows = index.search(query, fetch(snap, k))
    if snap is None or snap.empty:
        return rows[:k]
    return merge(rows, bm25_hits(snap, index, query, k, Bm25Params()), snap, k, lambda d, s, _: (d, s))


def _ranked(rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def _same_ranking(got: list[tuple[str, float]], want: list[tuple[str, float]], tol: float = 1e-5) -> None:
    """Same scores (within ``tol``) rank by rank, and the same ids in the same order except within a run of
    scores that tie within ``tol`` (a document and its copy, scored by two kernels, differ in the last float bits)."""
    got, want = _ranked(got), _ranked(want)
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=tol)
    start = 0
    for end in range(1, len(want) + 1):
        if end == len(want) or want[end][1] < want[end - 1][1] - tol:
            assert {d for d, _ in got[start:end]} == {d for d, _ in want[start:end]}, (got, want)
            start = end


def test_doc_codec_round_trips_every_field() -> None:
    doc = Doc("a", "text é", "title")
    assert decode_doc(encode_doc(doc)) == doc


def test_delta_plus_tombstones_equal_a_full_rebuild_for_flat(  # type: ignore[no-untyped-def]
    root: Path, corpus: list[Doc], encoder_for, splade
) -> None:
    col = open_collection(root / "seg")
    _write_all(col, corpus, encoder_for, splade)
    encoder = encoder_for(ENCODER)
    vectors = encoder.encode_queries(QUERIES)
    live = [_dense_top(col, vectors[i : i + 1], 10) for i in range(len(QUERIES))]
    live_docs = {d.id for d in corpus[:60] + corpus[60:]}
    assert col.segments is not None
    visible = col.segments.visible(sorted(live_docs | {"copy-3"}))
    assert corpus[1].id not in visible and corpus[61].id not in visible and "copy-3" in visible
    report = apply_changes(root, "seg", encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)
    assert report.seq == 5
    rebuilt = open_collection(root / "seg")
    assert rebuilt.doc_count == col.doc_count == rebuilt.docs.count
    for i in range(len(QUERIES)):  # same ids, same scores (exactly); FAISS orders exact ties arbitrarily
        assert _ranked(_dense_top(rebuilt, vectors[i : i + 1], 10)) == _ranked(live[i])
    assert any(d == corpus[0].id for d, _ in _dense_top(rebuilt, vectors[3:4], 3))  # the replaced text is found


def test_bm25_delta_scores_with_the_base_statistics(root: Path, corpus: list[Doc], encoder_for, splade) -> None:  # type: ignore[no-untyped-def]
    col = open_collection(root / "seg")
    _write_all(col, corpus, encoder_for, splade)
    query = corpus[3].title
    top = dict(_bm25_top(col, query, 10))
    assert top["copy-3"] == top[corpus[3].id]  # a copy of a base doc scores exactly like it (same statistics)
    assert corpus[1].id not in dict(_bm25_top(col, corpus[1].title, 20))  # deleted: gone from the base's hits
    snap = col.segments.current if col.segments is not None else None
    assert snap is not None
    lucene = col.sparse["bm25-lucene"]  # Lucene's own statistics, Lucene's scores for the base doc
    delta = dict((d, s) for d, s, _ in bm25_hits(snap, lucene, query, 5, Bm25Params()))
    assert delta["copy-3"] == pytest.approx(dict(lucene.search(query, 5))[corpus[3].id], rel=1e-5)
    exact = col.learned_sparse["splade-exact"]  # learned sparse: the delta's dot products on the base's scale
    for options in (ExactSearchOptions(), ExactSearchOptions(quantised=True)):
        qv = splade.encode_queries([query])
        delta = dict((d, s) for d, s, _ in sparse_hits(snap, "splade-exact", exact, qv, 5, options))
        base = dict(exact.search(qv, 5, options)[0])
        assert delta["copy-3"] == pytest.approx(base[corpus[3].id], rel=1e-3)
    live = {q: _bm25_top(col, q, 10) for q in QUERIES}
    apply_changes(root, "seg", encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)
    rebuilt = open_collection(root / "seg")
    # statistics catch up at the merge (here 69 docs after, 60 before: idf and avgdl move by up to ~15%): nearly
    # the same docs, each score within 30% of the rebuilt one (the most: a term the base lacked, df 0 before)
    for q in QUERIES:
        after, before = dict(_bm25_top(rebuilt, q, 10)), dict(live[q])
        shared = set(after) & set(before)
        assert len(shared) >= min(8, len(after)) and len(after) == len(before), (q, before, after)
        worst = max(abs(after[d] - before[d]) / after[d] for d in shared)
        assert worst <= 0.3


def test_log_replay_is_idempotent(root: Path, corpus: list[Doc], encoder_for, splade) -> None:  # type: ignore[no-untyped-def]
    col = open_collection(root / "seg")
    _write_all(col, corpus, encoder_for, splade)
    assert col.segments is not None
    seen = col.segments.current
    again = open_collection(root / "seg")  # replayed from the log: no encoding
    assert again.segments is not None and again.segments.current.seq == seen.seq == 5
    assert dict(again.segments.current.docs) == dict(seen.docs) and again.segments.current.dead == seen.dead
    assert again.version == col.version and again.doc_count == col.doc_count
    # a crash between a merge's swap and the log's truncation: the log still holds what the base folded in
    saved = {p.name: p.read_bytes() for p in wal_path(root, "seg").parent.iterdir()}
    apply_changes(root, "seg", encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)
    for name, data in saved.items():
        (wal_path(root, "seg").parent / name).write_bytes(data)
    replayed = open_collection(root / "seg")
    assert replayed.segments is not None and replayed.segments.current.empty  # nothing applied twice
    assert replayed.doc_count == col.doc_count
    vectors = encoder_for(ENCODER).encode_queries(QUERIES[:2])
    assert _ranked(_dense_top(replayed, vectors[:1], 10)) == _ranked(_dense_top(col, vectors[:1], 10))


def test_compaction_truncates_the_log_and_versions_move(root: Path, corpus: list[Doc], encoder_for, splade) -> None:  # type: ignore[no-untyped-def]
    col = open_collection(root / "seg")
    assert col.segments is not None
    versions = {col.version}
    for ups, dels in _changes(corpus):
        col.segments.write(ups, dels, encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)
        versions.add(col.version)
    assert len(versions) == 6  # every change moves the version (cache keys follow)
    apply_changes(root, "seg", encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)
    assert folded_seq(root / "seg") == 5
    log = WriteAheadLog(wal_path(root, "seg"))
    assert log.read() == [] and log.last_seq() == 5
    log.close()
    after = open_collection(root / "seg")
    assert after.segments is not None
    report = after.segments.write([Doc("late", "a late document", "")], [], encoder_for=encoder_for,
                                  sparse_encoder_for=lambda spec: splade)
    assert report.seq == 6 and report.added == 1 and after.version not in versions


def test_bad_changes_are_refused_with_nothing_logged(root: Path, corpus: list[Doc], encoder_for) -> None:  # type: ignore[no-untyped-def]
    col = open_collection(root / "seg")
    assert col.segments is not None
    with pytest.raises(InvalidInput, match="duplicate"):
        col.segments.write([corpus[70], corpus[70]], [], encoder_for=encoder_for)
    with pytest.raises(InvalidInput, match="empty"):
        col.segments.write([], [d.id for d in corpus[:60]], encoder_for=encoder_for)
    assert col.segments.current.seq == 0 and not wal_path(root, "seg").exists()


def test_prefix_and_funnel_searches_score_the_delta_like_the_rebuilt_base(  # type: ignore[no-untyped-def]
    root: Path, corpus: list[Doc], encoder_for, splade
) -> None:
    """``dimensions`` goes through the base's PCA transform, the funnel through its full-dimension rescoring: the
    live top 10 equals the rebuilt base's (same PCA transform, re-applied by the merge)."""
    add_matryoshka(root / "seg" / "indexes" / "dense", MatryoshkaSpec(dims=(64, 32), funnel=FunnelSpec(dims=32)))
    col = open_collection(root / "seg")
    _write_all(col, corpus, encoder_for, splade)
    vectors = encoder_for(ENCODER).encode_queries(QUERIES)
    options = [DenseSearchOptions(dimensions=64), DenseSearchOptions(funnel=FunnelOptions(shortlist=100))]
    live = [[_dense_top(col, vectors[i : i + 1], 10, o) for i in range(len(QUERIES))] for o in options]
    apply_changes(root, "seg", encoder_for=encoder_for, sparse_encoder_for=lambda spec: splade)
    rebuilt = open_collection(root / "seg")
    for o, rows in zip(options, live, strict=True):
        for i, want in enumerate(rows):
            _same_ranking(_dense_top(rebuilt, vectors[i : i + 1], 10, o), want)


def test_passage_index_splits_and_scores_new_documents_like_its_build(  # type: ignore[no-untyped-def]
    corpus: list[Doc], encoder_for, tmp_path: Path
) -> None:
    """A chunked dense index: an upserted long document is split into the build's windows, found by its best
    passage (with that passage's span), and scores as the rebuilt index scores it."""
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(f'{{"_id": "{d.id}", "title": {json.dumps(d.title)}, "text": {json.dumps(d.text)}}}\n'
                              for d in corpus[:12]))
    spec = DenseIndexSpec(name="dense", encoder=ENCODER, prefixes=None, passages=ChunkSpec(window=64, overlap=16))
    build_collection(BuildPlan(name="p", source=source, sparse=(Bm25IndexSpec(name="bm25"),), dense=(spec,)),
                     tmp_path)
    col = open_collection(tmp_path / "p")
    assert col.segments is not None
    long_doc = Doc("long", corpus[20].text + " " + corpus[21].text, corpus[20].title)
    col.segments.write([long_doc], [corpus[0].id], encoder_for=encoder_for)
    seg = col.segments.current.dense["dense"]
    assert seg.spans is not None and len(seg.rows.owners) > 2  # several passages of one document
    q = encoder_for(ENCODER).encode_queries([corpus[21].text[:300]])
    live = _dense_top(col, q, 5)
    assert live[0][0] == "long" and corpus[0].id not in dict(live)
    apply_changes(tmp_path, "p", encoder_for=encoder_for)
    after = _dense_top(open_collection(tmp_path / "p"), q, 5)
    assert [d for d, _ in after] == [d for d, _ in live]
    assert [s for _, s in after] == pytest.approx([s for _, s in live], abs=1e-4)
