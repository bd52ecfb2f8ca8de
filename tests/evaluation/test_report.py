"""``sieve report`` on small eval and benchmark JSON files written here: pages, tables, real PNG plots, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.report import build_report
from evaluation.report_data import ReportInputError, load_report_data
from sieve.cli import app

PNG = b"\x89PNG\r\n\x1a\n"


def _summary(dataset: str, pipeline: str, ndcg: float, p50: float, **extra: object) -> dict[str, object]:
    return {"dataset": dataset, "split": "test", "pipeline": pipeline,
            "metrics": {"ndcg@10": ndcg, "recall@100": 0.9, "mrr@10": ndcg - 0.05, "map@100": 0.5, "queries": 30},
            "latency_ms": {"p50": p50, "p99": p50 * 3}, **extra}


def _write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    runs, results = tmp_path / "runs", tmp_path / "results"
    for dataset, base in (("scifact", 0.65), ("cranfield", 0.38)):
        for name, delta, p50 in (("bm25", 0.03, 20.0), ("dense", 0.0, 60.0), ("hybrid", 0.07, 110.0)):
            _write(runs / f"{dataset}.{name}.json", _summary(dataset, name, base + delta, p50))
    _write(runs / "onnx" / "scifact.dense.json", _summary("scifact", "dense", 0.646, 30.0))
    _write(runs / "scifact.dense@d64.json", _summary("scifact", "dense@d64", 0.60, 40.0))
    _write(runs / "scifact.dense@d128.json", _summary("scifact", "dense@d128", 0.63, 45.0))
    _write(runs / "matryoshka.json", [_summary("scifact", "dense-full", 0.645, 60.0, dims=384)])
    cell = {"p50_ms": 15.0, "p99_ms": 30.0, "qps": 60.0}
    _write(results / "bench_retrieval.json", {"search": [
        {"retriever": r, "concurrency": c, "http": cell, "inproc": {**cell, "p50_ms": 12.0}}
        for r in ("sparse", "dense") for c in (1, 16)]})
    _write(results / "notes.json", {"hello": "world"})
    return runs, results


def test_report_pages_and_plots(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    files = build_report(list(inputs), tmp_path / "out")
    names = {p.name for p in files.plots}
    assert names == {"ndcg_by_pipeline.png", "latency_vs_quality.png", "quality_vs_dims.png", "bench_retrieval.png"}
    for plot in files.plots:
        assert plot.read_bytes()[:8] == PNG and plot.stat().st_size > 10_000
    md = files.markdown.read_text()
    assert "| scifact | test | hybrid | 0.7200 | 0.9000 | 0.6700 | 110.0 | 330.0 | 30 |" in md
    assert "| scifact | test | dense [onnx] | 0.6460 |" in md  # same pipeline name, told apart by folder
    assert "## Quality against Matryoshka dimensions\n\n![nDCG@10 against dimensions](quality_vs_dims.png)" in md
    assert "| sparse | 16 | 15.0 | 30.0 | 60.0 | 12.0 | 30.0 | 60.0 |" in md
    assert "notes.json" in md.split("## Skipped files")[1]
    page = files.html.read_text()
    assert page.startswith("<!doctype html>") and page.count("<img ") == 4 and "<td>dense [onnx]</td>" in page
    for name in names:
        assert f'src="{name}"' in page


def test_dims_come_from_labels_or_an_explicit_key(inputs: tuple[Path, Path]) -> None:
    data = load_report_data([inputs[0]])
    assert sorted((r.label, r.dims) for r in data.dims_points) == [
        ("dense-full", 384), ("dense@d128", 128), ("dense@d64", 64)]
    assert data.benches == []


def test_no_dims_no_dims_plot(tmp_path: Path) -> None:
    _write(tmp_path / "runs" / "scifact.bm25.json", _summary("scifact", "bm25", 0.68, 20.0))
    files = build_report([tmp_path / "runs"], tmp_path / "out")
    assert [p.name for p in files.plots] == ["ndcg_by_pipeline.png", "latency_vs_quality.png"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        (json.dumps({"dataset": "d", "pipeline": "p", "metrics": {"mrr@10": 0.5}}), r"ndcg@10: Field required"),
        (json.dumps({"dataset": "d", "pipeline": "p", "metrics": {"ndcg@10": "high"}}), "metrics.ndcg@10"),
        (json.dumps({"search": [{"retriever": "dense"}]}), "looks like a benchmark result but search.0.concurrency"),
        (json.dumps({"unrelated": True}), "no eval summaries or benchmark results found"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "x.json").write_text(content)
    with pytest.raises(ReportInputError, match=message) as err:
        build_report([tmp_path], tmp_path / "out")
    assert "x.json" in str(err.value) or "found in" in str(err.value)


def test_cli(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["report", *map(str, inputs), "--out", str(tmp_path / "cli")])
    assert done.exit_code == 0, done.output
    assert "4 plots" in done.output and (tmp_path / "cli" / "report.html").is_file()
    missing = runner.invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "cli2")])
    words = " ".join(missing.output.replace("│", " ").split())  # rich wraps the message inside a box
    assert missing.exit_code == 2 and "no such file or folder" in words
