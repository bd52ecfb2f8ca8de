"""A reload or drop retires the replaced collection: its Lucene readers are closed once in-flight requests had time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from indexers.collection import BuildPlan, build_collection
from indexers.lucene import LuceneIndexSpec
from service.registry import Registry

DOCS = [{"_id": f"d{i}", "title": f"Doc {i}", "text": f"wing flutter number {i} at supersonic speed"} for i in range(5)]


def _root(tmp_path: Path) -> Path:
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    root = tmp_path / "root"
    build_collection(BuildPlan(name="c", source=source, sparse=(LuceneIndexSpec(),), dense=()), root)
    return root


def test_reload_and_drop_close_the_old_readers_after_the_grace(tmp_path: Path) -> None:
    registry = Registry(_root(tmp_path), workers=1, retire_after_s=0.3)
    try:
        old = registry.pipeline("c").collection.sparse["bm25"]
        assert old.search("flutter", 3)  # serving
        registry.reload("c")
        new = registry.pipeline("c").collection.sparse["bm25"]
        assert new is not old
        assert old.search("flutter", 3)  # requests already running on the old version still finish
        time.sleep(1.0)
        with pytest.raises(Exception, match="(?i)closed"):
            old.search("flutter", 3)  # its readers were closed: nothing leaks per reload
        assert [h[0] for h in new.search("flutter number 3", 1)] == ["d3"]
        registry.drop("c")
        time.sleep(1.0)
        with pytest.raises(Exception, match="(?i)closed"):
            new.search("flutter", 3)
    finally:
        registry.close()
