"""Matplotlib figures for the report: quality vs diversity, quality vs speed, metric vs seed,
latency vs batch.

Figures use the object API (``matplotlib.figure.Figure``), not pyplot, so rendering never
touches a display or global state and works headless inside the runner.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from benchmark import stats
from benchmark.records import Record
from benchmark.report.files import save_figure
from benchmark.report.labels import SPEED_LABEL
from benchmark.report.model import Column, Row, Table

QUALITY_METRICS = ("fid", "mfid")  # lower is better, realism of the outputs (KID ranks alike)
DIVERSITY_METRICS = ("lpips", "lpips_diversity", "feature_diversity")  # higher is more diverse


@dataclass(frozen=True)
class Plot:
    title: str
    path: Path


def _pairs(table: Table) -> list[tuple[Column, Column]]:
    """(quality, diversity) columns of the same synthesis variant, where a panel says something:
    two baselines with both numbers, not all at one diversity (every deterministic method at 0
    and the stochastic ones skipped is not a trade-off)."""
    quality = [c for c in table.columns if c.metric.lower() in QUALITY_METRICS]
    diversity = [c for c in table.columns if c.metric.lower() in DIVERSITY_METRICS]
    out = []
    for q in quality:
        for d in diversity:
            both = [
                r.cells[d.key].summary.mean
                for r in table.rows
                if r.cells[q.key].summary and r.cells[d.key].summary
            ]
            if q.variant == d.variant and len(both) >= 2 and max(both) > min(both):
                out.append((q, d))
    return out


def _colors(table: Table) -> dict[str, str]:
    """One colour per baseline for every panel of a table (a baseline missing from one panel
    must not shift everyone else's colour)."""
    return {row.baseline: f"C{i % 10}" for i, row in enumerate(table.rows)}


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, n)
    return math.ceil(n / cols), cols


def _scatter_panels(n: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` scatter panels, at most three a row."""
    nrows, ncols = _grid(n)
    fig = Figure(figsize=(4.6 * ncols, 3.8 * nrows), layout="constrained")
    return fig, [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]


def _point(ax: Axes, row: Row, x: stats.Summary, y: stats.Summary, color: str) -> None:
    """One baseline at (x, y) with seed std as error bars and its name beside it; oracles are
    squares."""
    ax.errorbar(
        x.mean,
        y.mean,
        xerr=0 if math.isnan(x.std) else x.std,
        yerr=0 if math.isnan(y.std) else y.std,
        fmt="s" if row.oracle else "o",
        color=color,
        capsize=3,
    )
    ax.annotate(
        row.baseline, (x.mean, y.mean), fontsize=7, xytext=(4, 4), textcoords="offset points"
    )


def quality_diversity(table: Table, out_dir: Path) -> Plot | None:
    """Each baseline at (diversity, quality) with seed std as error bars; one panel per pair.

    The good corner is bottom right (diverse and realistic); a deterministic method sits on the
    left edge however good its FID.
    """
    pairs = _pairs(table)
    if not pairs:
        return None
    fig, axes = _scatter_panels(len(pairs))
    colors = _colors(table)
    for ax, (q, d) in zip(axes, pairs, strict=True):
        for row in table.rows:
            sq, sd = row.cells[q.key].summary, row.cells[d.key].summary
            if sq is None or sd is None:
                continue
            _point(ax, row, sd, sq, colors[row.baseline])
        ax.set_xlabel(f"{table.short_label(d)} {d.arrow}")
        ax.set_ylabel(f"{table.short_label(q)} {q.arrow}")
        ax.set_title(f"{q.name} vs {d.name}", fontsize=9)
        ax.margins(0.15)  # room for the name labels at the edges
        ax.grid(alpha=0.3)
    fig.suptitle(f"{table.protocol} @ {table.protocol_hash}", fontsize=10)
    path = out_dir / "plots" / f"{table.slug}--quality-diversity.png"
    save_figure(path, fig)
    return Plot("Quality vs diversity (mean ± std over seeds)", path)


def quality_speed_points(table: Table) -> list[tuple[Column, list[Row]]]:
    """Per quality column (FID-like, each variant and extractor apart), the rows that have both
    that number and a bs=1 latency; only columns where two or more rows do (one point is not a
    trade-off)."""
    quality = [c for c in table.columns if c.metric.lower() in QUALITY_METRICS]
    out = []
    for q in quality:
        rows = [r for r in table.rows if r.cells[q.key].summary and r.speed.summary]
        if len(rows) >= 2:
            out.append((q, rows))
    return out


def quality_vs_speed(table: Table, out_dir: Path) -> Plot | None:
    """Each baseline at (latency of one image, quality) with seed std as error bars, one panel
    per quality column: the good corner is bottom left (fast and realistic). Latency is on a log
    axis because methods differ by orders of magnitude."""
    panels = quality_speed_points(table)
    if not panels:
        return None
    fig, axes = _scatter_panels(len(panels))
    colors = _colors(table)
    for ax, (q, rows) in zip(axes, panels, strict=True):
        for row in rows:
            _point(ax, row, row.speed.summary, row.cells[q.key].summary, colors[row.baseline])
        ax.set_xscale("log")
        # plain numbers (20, not 2x10^1), minor ticks labelled only when few decades are shown
        ax.xaxis.set_major_formatter(LogFormatter())
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        ax.set_xlabel(f"{SPEED_LABEL} ↓")
        ax.set_ylabel(f"{table.short_label(q)} {q.arrow}")
        ax.margins(0.15)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{table.protocol} @ {table.protocol_hash}", fontsize=10)
    path = out_dir / "plots" / f"{table.slug}--quality-speed.png"
    save_figure(path, fig)
    return Plot("Quality vs speed (mean ± std over seeds; latency on this run's device)", path)


def metric_vs_seed(table: Table, out_dir: Path) -> Plot | None:
    """Every column's value per seed, one line per baseline: shows outlier seeds at a glance
    (nothing to show, so no figure, when every cell rests on one seed)."""
    cols = [c for c in table.columns if any(len(r.cells[c.key].by_seed) > 1 for r in table.rows)]
    if not cols:
        return None
    nrows, ncols = _grid(len(cols))
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows), layout="constrained")
    colors = _colors(table)
    for i, col in enumerate(cols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for row in table.rows:
            by_seed = row.cells[col.key].by_seed
            if by_seed:
                seeds = sorted(by_seed)
                ax.plot(
                    seeds,
                    [by_seed[s] for s in seeds],
                    marker="o",
                    color=colors[row.baseline],
                    label=row.baseline,
                )
        ax.set_title(f"{table.short_label(col)} {col.arrow}", fontsize=8)
        ax.set_xlabel("seed")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle(f"{table.protocol} @ {table.protocol_hash}", fontsize=10)
    path = out_dir / "plots" / f"{table.slug}--seeds.png"
    save_figure(path, fig)
    return Plot("Metric vs seed", path)


def batch_size(variant: str) -> int | None:
    m = re.fullmatch(r"bs=(\d+)", variant.strip())
    return int(m.group(1)) if m else None


def latency_vs_batch(baseline: str, slug: str, recs: list[Record], out: Path) -> Plot | None:
    """Latency (median with p10-p90 band over seeds' records) and throughput against batch size."""
    lat: dict[int, list[Record]] = defaultdict(list)
    thr: dict[int, list[float]] = defaultdict(list)
    for r in recs:
        bs = batch_size(r.variant)
        if bs is None or r.status != "ok" or r.value is None:
            continue
        if r.metric == "latency_ms":
            lat[bs].append(r)
        elif r.metric == "throughput":
            thr[bs].append(float(r.value))
    if not lat and not thr:
        return None
    fig = Figure(figsize=(8.5, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    if lat:
        xs = sorted(lat)
        mid = [sum(float(r.value) for r in lat[b]) / len(lat[b]) for b in xs]
        p10 = [min(float(r.extra.get("p10", r.value)) for r in lat[b]) for b in xs]
        p90 = [max(float(r.extra.get("p90", r.value)) for r in lat[b]) for b in xs]
        ax.plot(xs, mid, marker="o")
        ax.fill_between(xs, p10, p90, alpha=0.25, label="p10-p90")
        ax.legend(fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("latency (ms) ↓")
    ax.grid(alpha=0.3)
    ax2 = fig.add_subplot(1, 2, 2)
    if thr:
        xs = sorted(thr)
        ax2.plot(xs, [sum(thr[b]) / len(thr[b]) for b in xs], marker="o", color="tab:green")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("batch size")
    ax2.set_ylabel("throughput (images/s) ↑")
    ax2.grid(alpha=0.3)
    fig.suptitle(f"{baseline} on {slug}", fontsize=10)
    save_figure(out, fig)
    return Plot(f"Latency and throughput vs batch size ({slug})", out)
