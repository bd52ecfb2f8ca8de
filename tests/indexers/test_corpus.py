"""Corpus readers on real and deliberately broken records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexers.corpus import BeirDataset, Fields, OnError, ReadReport, read_jsonl
from kernel.errors import CorpusError, NotFound

BAD_CORPUS = "\n".join(
    [
        json.dumps({"_id": "a", "title": "T", "text": "first"}),
        '{"_id": "b", "text": "broken',  # line 2: broken JSON
        json.dumps({"title": "no id", "text": "x"}),  # line 3
        json.dumps({"_id": "a", "text": "dup"}),  # line 4: duplicate id
        json.dumps({"_id": "c", "title": "", "text": "  "}),  # line 5: empty text
        json.dumps({"_id": "d", "text": "fine"}),
        "[1, 2]",  # line 7: not an object
    ]
)


def test_skip_reports_each_bad_record_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(BAD_CORPUS)
    report = ReadReport()
    docs = list(read_jsonl(path, report=report))
    assert [d.id for d in docs] == ["a", "d"]
    assert [line for line, _ in report.skipped] == [2, 3, 4, 5, 7]
    reasons = dict(report.skipped)
    assert "broken JSON" in reasons[2]
    assert "no id" in reasons[3]
    assert "duplicate id 'a'" in reasons[4]
    assert "empty text" in reasons[5]
    assert "2 records read, 5 skipped" in report.summary()


def test_stop_raises_on_first_bad_record_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(BAD_CORPUS)
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: broken JSON"):
        list(read_jsonl(path, on_error=OnError.stop))


def test_plain_jsonl_with_custom_fields(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps({"docid": 7, "body": "hello world"}) + "\n\n" + json.dumps({"docid": 8, "body": "x"}))
    docs = list(read_jsonl(path, Fields(id="docid", text="body", title=None)))
    assert [(d.id, d.text, d.title) for d in docs] == [("7", "hello world", ""), ("8", "x", "")]
    assert docs[0].contents == "hello world"


def test_limit_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"_id": str(i), "text": f"t{i}"}) + "\n" for i in range(10)))
    assert [d.id for d in read_jsonl(path, limit=3)] == ["0", "1", "2"]


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_real_scifact_folder(datasets: Path) -> None:
    ds = BeirDataset.open(datasets / "scifact")
    qrels = ds.qrels("test")
    queries = ds.queries("test")
    assert len(queries) == 300 and set(queries) == set(qrels)
    assert sum(len(v) for v in qrels.values()) == 339
    first = next(ds.corpus())
    assert first.id and first.title and first.text
    assert first.contents.startswith(first.title + " ")
    with pytest.raises(NotFound, match="splits: .*test"):
        ds.qrels("dev")
