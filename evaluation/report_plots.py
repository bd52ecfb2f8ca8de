"""The PNG plots of ``sieve report`` (matplotlib, headless): quality per pipeline, latency against quality, quality
against Matryoshka dims, and benchmark latency/throughput."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from evaluation.report_data import BenchResult, EvalRecord
from kernel.errors import MissingExtra


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        raise MissingExtra("sieve report draws its plots with matplotlib: pip install 'sieve[report]'") from exc
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def plot_ndcg(records: list[EvalRecord], path: Path) -> Path:
    """Grouped bars: one group per dataset, one bar per pipeline, nDCG@10 written on each bar."""
    plt = _pyplot()
    datasets = sorted({r.dataset for r in records})
    labels = sorted({r.label for r in records})
    by_key = {(r.dataset, r.label): r.ndcg10 for r in records}
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + 0.45 * len(datasets) * len(labels)), 4.2))
    for i, label in enumerate(labels):
        xs = [d + (i - (len(labels) - 1) / 2) * width for d in range(len(datasets))]
        ys = [by_key.get((ds, label), 0.0) for ds in datasets]
        bars = ax.bar(xs, ys, width, label=label)
        ax.bar_label(bars, labels=[f"{y:.3f}" if y else "" for y in ys], fontsize=7, rotation=90, padding=2)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, min(1.0, max(by_key.values()) * 1.25 + 0.05))
    ax.set_title("nDCG@10 per pipeline and collection")
    ax.legend(fontsize=8, ncols=2 if len(labels) > 4 else 1, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def plot_latency_quality(records: list[EvalRecord], path: Path) -> Path:
    """Scatter: median query latency (x) against nDCG@10 (y), one marker shape per dataset, points labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    markers = "osD^vP*X"
    for i, dataset in enumerate(sorted({r.dataset for r in records})):
        points = [r for r in records if r.dataset == dataset]
        ax.scatter([r.p50_ms for r in points], [r.ndcg10 for r in points], marker=markers[i % len(markers)],
                   s=45, label=dataset)
        for j, r in enumerate(sorted(points, key=lambda r: r.p50_ms or 0.0)):  # alternate sides: neighbours overlap
            ax.annotate(r.label, (r.p50_ms, r.ndcg10), fontsize=7, xytext=(4, 4 if j % 2 == 0 else -10),
                        textcoords="offset points")
    lat = [r.p50_ms for r in records if r.p50_ms]
    if lat and max(lat) / max(min(lat), 1e-9) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query (ms)")
    ax.set_ylabel("nDCG@10")
    ax.set_title("Latency against quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_dims(records: list[EvalRecord], path: Path) -> Path:
    """Lines: nDCG@10 against Matryoshka dimension, one line per dataset and pipeline."""
    plt = _pyplot()
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in records:
        assert r.dims is not None
        base = r.label.replace(f"@d{r.dims}", "")
        series[f"{r.dataset}: {base}"].append((r.dims, r.ndcg10))
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for name, points in sorted(series.items()):
        points.sort()
        ax.plot([d for d, _ in points], [q for _, q in points], marker="o", label=name)
    ax.set_xscale("log", base=2)
    dims = sorted({r.dims for r in records if r.dims})
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.set_xlabel("dimensions")
    ax.set_ylabel("nDCG@10")
    ax.set_title("Quality against Matryoshka dimensions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_bench(bench: BenchResult, path: Path) -> Path:
    """Two panels per benchmark file: p50 latency and throughput per retriever and concurrency, HTTP vs in-process."""
    plt = _pyplot()
    cells = [f"{r.retriever}\nc={r.concurrency}" for r in bench.rows]
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.1 * len(cells) * 2), 4.0))
    for ax, metric, title in ((axes[0], "p50_ms", "p50 latency (ms)"), (axes[1], "qps", "queries per second")):
        for j, (side, name) in enumerate((("http", "HTTP"), ("inproc", "in-process"))):
            ys = [getattr(r, side).get(metric) or 0.0 for r in bench.rows]
            ax.bar([i + (j - 0.5) * 0.4 for i in range(len(cells))], ys, 0.4, label=name)
        ax.set_xticks(range(len(cells)), cells, fontsize=8)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Benchmark: {bench.name}")
    return _save(fig, path)
