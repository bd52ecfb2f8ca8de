"""Collection-wide BM25 statistics without Ray: native BM25 shards given the global df/N/avgdl score each document
exactly as one index over the whole collection does (so a merged top-k equals the single index's); with their own
statistics they do not. Also the stable doc -> shard hash and the missing-extra error."""

from __future__ import annotations

import heapq
import json
import subprocess
import sys
from pathlib import Path

import pytest

from indexers.bm25 import Bm25Index, Bm25IndexSpec, build_bm25_index
from indexers.corpus import read_jsonl
from indexers.sharding import CorpusStats, require_ray, shard_of
from indexers.sharding.stats import collect
from kernel.errors import MissingExtra

SHARDS = 3


@pytest.fixture(scope="module")
def built(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Bm25Index, list[Path]]:
    root = tmp_path_factory.mktemp("bm25-shards")
    docs = list(read_jsonl(scifact_slice / "corpus.jsonl"))
    build_bm25_index(iter(docs), len(docs), root / "single", Bm25IndexSpec())
    folders = []
    for i in range(SHARDS):
        part = [d for d in docs if shard_of(d.id, SHARDS) == i]
        build_bm25_index(iter(part), len(part), root / f"s{i}", Bm25IndexSpec())
        folders.append(root / f"s{i}")
    return Bm25Index(root / "single"), folders


def _merged(shards: list[Bm25Index], query: str, k: int) -> list[tuple[str, float]]:
    rows = [row for s in shards for row in s.search(query, k)]
    return heapq.nsmallest(k, rows, key=lambda r: (-r[1], r[0]))


def test_global_statistics_make_shards_rank_like_one_index(built: tuple[Bm25Index, list[Path]],
                                                           scifact_slice: Path) -> None:
    single, folders = built
    stats = collect(folders)
    assert stats.docs == len(single.doc_ids)
    assert stats.avgdl == single.manifest.build["avgdl"]  # bit for bit
    local = [Bm25Index(f) for f in folders]
    shards = [Bm25Index(f) for f in folders]
    for s in shards:
        s.use_stats(stats.docs, stats.avgdl, stats.df)
    queries = [json.loads(line)["text"] for line in (scifact_slice / "queries.jsonl").open() if line.strip()]
    differs = 0
    for q in queries:
        want = single.search(q, 10)
        assert _merged(shards, q, 10) == want, q  # same ids, same scores (exactly), same order
        differs += _merged(local, q, 10) != want
    assert differs > len(queries) // 2  # shard-local statistics do not rank like the single index


def test_statistics_round_trip_and_stale_ones_are_refused(built: tuple[Bm25Index, list[Path]],
                                                          tmp_path: Path) -> None:
    _, folders = built
    stats = collect(folders)
    stats.write(tmp_path / "bm25.json")
    again = CorpusStats.read(tmp_path / "bm25.json")
    assert (again.docs, again.length_sum, again.df) == (stats.docs, stats.length_sum, stats.df)
    old = collect(folders[:1])  # statistics that miss two shards' documents: df below another shard's own
    with pytest.raises(Exception, match="older than the index"):
        Bm25Index(folders[1]).use_stats(old.docs, old.avgdl, old.df)


def test_shard_hash_is_stable_and_spreads() -> None:
    ids = ("4983", "5836", "7912", "18670", "a", "b")  # frozen: a change here moves documents between shards
    assert [shard_of(d, 4) for d in ids] == [3, 2, 1, 1, 3, 1]
    assert [shard_of(d, 3) for d in ids] == [1, 2, 2, 1, 2, 2]
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"doc-{i}", 4)] += 1
    assert min(counts) > 900


def test_default_path_never_imports_ray() -> None:
    code = ("import sys, sieve.cli, service.main, service.registry, indexers.collection, indexers.sharding; "
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2]).returncode == 0


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    with pytest.raises(MissingExtra, match=r"pip install 'sieve\[ray\]'"):
        require_ray()
