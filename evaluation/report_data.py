"""Reads what ``sieve report`` summarizes: eval summaries (``sieve eval beir``) and benchmark results, validated."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kernel.errors import InvalidInput

log = logging.getLogger(__name__)

# Matryoshka runs are labelled ``dense@d64`` (``evaluation/beir_eval.py``); an explicit ``"dims"`` key also works.
DIMS_LABEL = re.compile(r"@d(\d+)(?=@|$)")


class ReportInputError(InvalidInput):
    """A file given to ``sieve report`` cannot be read or does not have the shape its kind needs."""


class _Metrics(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    ndcg10: float = Field(alias="ndcg@10")
    recall100: float | None = Field(None, alias="recall@100")
    mrr10: float | None = Field(None, alias="mrr@10")
    queries: int | None = None


class _Latency(BaseModel):
    p50: float
    p99: float | None = None


class _EvalSummary(BaseModel):
    dataset: str
    split: str = "test"
    pipeline: str
    metrics: _Metrics
    latency_ms: _Latency | None = None
    dims: int | None = None


class _Cell(BaseModel):
    model_config = ConfigDict(extra="allow")

    p50_ms: float
    p99_ms: float | None = None
    qps: float | None = None


class _BenchRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    retriever: str
    concurrency: int
    http: _Cell | None = None
    inproc: _Cell | None = None


class _Bench(BaseModel):
    model_config = ConfigDict(extra="allow")

    search: list[_BenchRow]


@dataclass(frozen=True)
class EvalRecord:
    """One pipeline's scores on one dataset split; ``label`` is unique per dataset within a report."""

    dataset: str
    split: str
    label: str
    ndcg10: float
    recall100: float | None
    mrr10: float | None
    queries: int | None
    p50_ms: float | None
    p99_ms: float | None
    dims: int | None
    source: Path


@dataclass(frozen=True)
class BenchRow:
    """One benchmark cell: a retriever at a concurrency, over HTTP and in-process."""

    retriever: str
    concurrency: int
    http: dict[str, float | None]
    inproc: dict[str, float | None]


@dataclass(frozen=True)
class BenchResult:
    name: str
    rows: list[BenchRow]
    source: Path


@dataclass
class ReportData:
    evals: list[EvalRecord] = field(default_factory=list)
    benches: list[BenchResult] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def dims_points(self) -> list[EvalRecord]:
        """Records at a known Matryoshka dimension: the input of the quality-against-dims plot."""
        return [r for r in self.evals if r.dims is not None]


def _files(inputs: Sequence[Path]) -> Iterable[tuple[Path, Path]]:
    """``(file, the folder it was found under)`` for every JSON file named or under a named folder."""
    for item in inputs:
        if item.is_dir():
            for path in sorted(item.rglob("*.json")):
                yield path, item
        elif item.is_file():
            yield item, item.parent
        else:
            raise ReportInputError(f"{item}: no such file or folder")


def _cell(cell: _Cell | None) -> dict[str, float | None]:
    return {"p50_ms": cell.p50_ms, "p99_ms": cell.p99_ms, "qps": cell.qps} if cell else {}


def _eval_record(summary: _EvalSummary, path: Path, root: Path) -> EvalRecord:
    label = summary.pipeline
    if path.parent != root:  # runs/onnx/scifact.dense.json: same pipeline name, another index
        label = f"{label} [{path.parent.relative_to(root).as_posix()}]"
    found = DIMS_LABEL.search(summary.pipeline)
    dims = summary.dims if summary.dims is not None else int(found.group(1)) if found else None
    lat = summary.latency_ms
    m = summary.metrics
    return EvalRecord(summary.dataset, summary.split, label, m.ndcg10, m.recall100, m.mrr10, m.queries,
                      lat.p50 if lat else None, lat.p99 if lat else None, dims, path)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(f"{path}: not readable JSON ({exc})") from exc


def _invalid(path: Path, kind: str, exc: ValidationError) -> ReportInputError:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
    return ReportInputError(f"{path}: looks like {kind} but {problems}")


def load_report_data(inputs: Sequence[Path]) -> ReportData:
    """Every eval summary and benchmark result in ``inputs`` (files, or folders searched recursively).

    An eval summary has ``pipeline`` and ``metrics`` (a file may also hold a list of them); a benchmark result has a
    ``search`` list (``benchmarks/bench_retrieval.py``). Other JSON files are listed as skipped.

    Raises:
        ReportInputError: a missing input, broken JSON, a file of a known kind with missing or mistyped fields, or
            nothing to report at all.
    """
    data = ReportData()
    seen: set[tuple[str, str]] = set()
    for path, root in _files(inputs):
        doc = _read(path)
        items = doc if isinstance(doc, list) else [doc]
        if items and all(isinstance(i, dict) and "pipeline" in i and "metrics" in i for i in items):
            for item in items:
                try:
                    record = _eval_record(_EvalSummary.model_validate(item), path, root)
                except ValidationError as exc:
                    raise _invalid(path, "an eval summary", exc) from exc
                if (record.dataset, record.label) in seen:
                    record = replace(record, label=f"{record.label} ({path.name})")
                seen.add((record.dataset, record.label))
                data.evals.append(record)
        elif isinstance(doc, dict) and "search" in doc:
            try:
                bench = _Bench.model_validate(doc)
            except ValidationError as exc:
                raise _invalid(path, "a benchmark result", exc) from exc
            rows = [BenchRow(r.retriever, r.concurrency, _cell(r.http), _cell(r.inproc)) for r in bench.search]
            data.benches.append(BenchResult(path.stem, rows, path))
        else:
            log.warning("skipping %s: neither an eval summary nor a benchmark result", path)
            data.skipped.append((path, "neither an eval summary nor a benchmark result"))
    if not data.evals and not data.benches:
        named = ", ".join(str(p) for p in inputs) or "(nothing)"
        raise ReportInputError(f"no eval summaries or benchmark results found in {named}; run `sieve eval beir` "
                               "(writes runs/*.json) or benchmarks/bench_retrieval.py (writes results/*.json)")
    data.evals.sort(key=lambda r: (r.dataset, r.label))
    return data
