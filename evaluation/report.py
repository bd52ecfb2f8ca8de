"""``sieve report``: eval summaries and benchmark JSON -> one Markdown page and one HTML page with PNG plots."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.report_data import BenchResult, EvalRecord, ReportData, load_report_data
from evaluation.report_plots import plot_bench, plot_dims, plot_latency_quality, plot_ndcg

log = logging.getLogger(__name__)

Cell = str | int | float | None


# A page is a list of blocks, each rendered once as Markdown and once as HTML.
@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Image:
    alt: str
    src: str


Block = Heading | Para | Table | Image


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    plots: list[Path]


def _fmt(value: Cell, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _eval_table(records: list[EvalRecord]) -> Block:
    headers = ["dataset", "split", "pipeline", "nDCG@10", "R@100", "MRR@10", "p50 ms", "p99 ms", "queries"]
    rows: list[list[Cell]] = [
        [r.dataset, r.split, r.label, _fmt(r.ndcg10), _fmt(r.recall100), _fmt(r.mrr10), _fmt(r.p50_ms, 1),
         _fmt(r.p99_ms, 1), r.queries]
        for r in records
    ]
    return Table(headers, rows)


def _bench_table(bench: BenchResult) -> Block:
    headers = ["retriever", "conc", "HTTP p50 ms", "HTTP p99 ms", "HTTP q/s", "in-proc p50 ms", "in-proc p99 ms",
               "in-proc q/s"]
    keys = ("p50_ms", "p99_ms", "qps")
    rows: list[list[Cell]] = [
        [r.retriever, r.concurrency, *(_fmt(cell.get(k), 1) for cell in (r.http, r.inproc) for k in keys)]
        for r in bench.rows
    ]
    return Table(headers, rows)


def _blocks(data: ReportData, out_dir: Path, inputs: Sequence[Path]) -> tuple[list[Block], list[Path]]:
    blocks: list[Block] = [
        Heading(1, "Sieve report"),
        Para(f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from "
              f"{', '.join(str(p) for p in inputs)}: {len(data.evals)} eval summaries, "
             f"{len(data.benches)} benchmark results."),
    ]
    plots: list[Path] = []
    if data.evals:
        plots.append(plot_ndcg(data.evals, out_dir / "ndcg_by_pipeline.png"))
        blocks += [Heading(2, "Retrieval quality"), _eval_table(data.evals),
                   Image("nDCG@10 per pipeline and collection", plots[-1].name)]
        timed = [r for r in data.evals if r.p50_ms is not None]
        if timed:
            plots.append(plot_latency_quality(timed, out_dir / "latency_vs_quality.png"))
            blocks += [Heading(2, "Latency against quality"),
                       Para("p50 is the median wall time of one query through the pipeline during the evaluation."),
                       Image("latency against quality", plots[-1].name)]
    if data.dims_points:  # Matryoshka: runs labelled dense@dNN or carrying a "dims" key
        plots.append(plot_dims(data.dims_points, out_dir / "quality_vs_dims.png"))
        blocks += [Heading(2, "Quality against Matryoshka dimensions"),
                   Image("nDCG@10 against dimensions", plots[-1].name)]
    for bench in data.benches:
        stem = bench.name if bench.name.startswith("bench") else f"bench_{bench.name}"
        plots.append(plot_bench(bench, out_dir / f"{stem}.png"))
        blocks += [Heading(2, f"Benchmark: {bench.name}"), Para(f"From {bench.source}."), _bench_table(bench),
                   Image(f"benchmark {bench.name}", plots[-1].name)]
    if data.skipped:
        blocks += [Heading(2, "Skipped files"), Table(["file", "why"], [[str(p), why] for p, why in data.skipped])]
    return blocks, plots


def to_markdown(blocks: list[Block]) -> str:
    """The page as GitHub-flavoured Markdown (images by relative path)."""
    out = []
    for block in blocks:
        if isinstance(block, Table):
            cells = ["| " + " | ".join(_fmt(c).replace("|", "\\|") for c in row) + " |\n" for row in block.rows]
            out.append("| " + " | ".join(block.headers) + " |\n|" + "---|" * len(block.headers) + "\n"
                       + "".join(cells))
        elif isinstance(block, Image):
            out.append(f"![{block.alt}]({block.src})\n")
        elif isinstance(block, Heading):
            out.append("#" * block.level + f" {block.text}\n")
        else:
            out.append(f"{block.text}\n")
    return "\n".join(out)


_CSS = ("body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#1d2330}"
        "table{border-collapse:collapse;margin:8px 0 16px;font-variant-numeric:tabular-nums}"
        "th,td{border:1px solid #e4e7ec;padding:4px 8px;text-align:left}th{background:#f2f4f7}"
        "img{max-width:100%;border:1px solid #e4e7ec;margin:8px 0}")


def to_html(blocks: list[Block]) -> str:
    """The page as one standalone HTML file (inline CSS; images by relative path)."""
    esc = html.escape
    out = []
    for block in blocks:
        if isinstance(block, Table):
            head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
            body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(c))}</td>" for c in row) + "</tr>" for row in block.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Image):
            out.append(f'<img src="{esc(block.src)}" alt="{esc(block.alt)}">')
        elif isinstance(block, Heading):
            out.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        else:
            out.append(f"<p>{esc(block.text)}</p>")
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "Sieve report")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def build_report(inputs: Sequence[Path], out_dir: Path) -> ReportFiles:
    """Write ``report.md``, ``report.html`` and their PNG plots under ``out_dir``.

    Args:
        inputs: JSON files or folders (searched recursively), e.g. ``runs/`` and ``results/``.
        out_dir: created if missing; files of an earlier report there are overwritten.

    Raises:
        ReportInputError: missing inputs, broken JSON, malformed summaries, or nothing to report.
        MissingExtra: matplotlib is not installed.
    """
    data = load_report_data(inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks, plots = _blocks(data, out_dir, inputs)
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    page.write_text(to_html(blocks), encoding="utf-8")
    log.info("report: %s, %s and %d plots", md, page, len(plots))
    return ReportFiles(md, page, plots)
