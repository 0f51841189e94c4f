"""Matplotlib figures for the report: quality vs diversity, quality vs speed, metric vs seed,
latency vs batch.

Figures use the object API (``matplotlib.figure.Figure``), not pyplot, so rendering never
touches a display or global state and works headless inside the runner. Every figure names its
methods in a legend outside the axes (never text beside a point, which overlaps and clips), a
method has one colour in every figure and in the HTML overview (``style``: keyed by its name,
not by its place in a table), and oracles are grey with their own marker, explained in the
legend: they bracket a metric and are never ranked.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatter, ScalarFormatter

from benchmark import stats
from benchmark.records import Record
from benchmark.report.files import save_figure
from benchmark.report.labels import SPEED_LABEL
from benchmark.report.model import Column, Row, Table

QUALITY_METRICS = ("fid", "mfid")  # lower is better, realism of the outputs (KID ranks alike)
DIVERSITY_METRICS = ("lpips", "lpips_diversity", "feature_diversity")  # higher is more diverse

# the suite's methods, each with its own colour (tab10 without its grey, then darker tones), so
# a method reads the same in every figure of every report; a method from elsewhere gets one of
# the spare colours by a hash of its name (stable, though two such methods may share one)
METHOD_COLORS = {
    "pix2pix": "#1f77b4",
    "bicyclegan": "#ff7f0e",
    "cyclegan": "#2ca02c",
    "cyclegan_noise": "#98df8a",
    "unit": "#d62728",
    "munit": "#9467bd",
    "drit": "#8c564b",
    "stargan": "#e377c2",
    "stargan_v2": "#17becf",
    "fader": "#bcbd22",
    "funit": "#393b79",
}
SPARE_COLORS = ("#843c39", "#7b4173", "#637939", "#e6550d", "#3182bd", "#b5cf6b", "#ce6dbd")
# oracles: greys, each its own marker; methods are circles
ORACLE_STYLES = {
    "identity": ("#555555", "s"),
    "random_real": ("#999999", "D"),
    "ground_truth": ("#222222", "^"),
}
ORACLE_SPARE = ("#777777", "v")
ORACLE_NOTE = "grey square, diamond, triangle: an oracle (a reference point, never ranked)"


@dataclass(frozen=True)
class Style:
    color: str
    marker: str


def style(baseline: str, oracle: bool = False) -> Style:
    """One baseline's colour and marker, the same in every figure and the HTML overview."""
    if oracle:
        color, marker = ORACLE_STYLES.get(baseline, ORACLE_SPARE)
        return Style(color, marker)
    if baseline in METHOD_COLORS:
        return Style(METHOD_COLORS[baseline], "o")
    return Style(SPARE_COLORS[zlib.crc32(baseline.encode()) % len(SPARE_COLORS)], "o")


def row_style(row: Row) -> Style:
    return style(row.baseline, row.oracle)


def legend_label(row: Row) -> str:
    return f"{row.name} (oracle)" if row.oracle else row.name


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


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, n)
    return math.ceil(n / cols), cols


def _panels(n: int, width: float = 4.4, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels, at most three a row, with room on the right for the legend."""
    nrows, ncols = _grid(n)
    fig = Figure(figsize=(width * ncols + 2.4, height * nrows), layout="constrained")
    return fig, [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]


def _plain(ax: Axes, which: str) -> None:
    """Plain tick labels on a linear axis: no 1e-5 offset, no scientific notation."""
    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    (ax.xaxis if which == "x" else ax.yaxis).set_major_formatter(fmt)


class PlainLogFormatter(LogFormatter):
    """LogFormatter's choice of which ticks to label, written as plain numbers (0.6, not 6e-01)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return np.format_float_positional(x, precision=4, trim="-")


def _axis_label(table: Table, col: Column) -> str:
    scale = f" {col.fmt.scale_label}" if col.fmt.scale_label else ""
    return f"{table.short_label(col)}{scale} {col.arrow}"


def _err(s: stats.Summary, scale: float = 1.0) -> float | None:
    return None if s.n < 2 or math.isnan(s.std) else s.std * scale


def _point(ax: Axes, row: Row, x: stats.Summary, y: stats.Summary, sx: float, sy: float) -> None:
    """One baseline at (x, y) with seed std as error bars (none for one seed)."""
    st = row_style(row)
    ax.errorbar(
        x.mean * sx,
        y.mean * sy,
        xerr=_err(x, sx),
        yerr=_err(y, sy),
        fmt=st.marker,
        color=st.color,
        markersize=8 if row.highlight else 6,
        markeredgecolor="black" if row.highlight else st.color,
        capsize=3,
        label=legend_label(row),
    )


def _legend(fig: Figure, rows: list[Row]) -> None:
    """One legend for the figure, outside the panels: every method drawn, oracles explained."""
    handles, seen = [], set()
    ordered = [r for r in rows if not r.oracle] + [r for r in rows if r.oracle]
    for row in ordered:
        if row.baseline in seen:
            continue
        seen.add(row.baseline)
        st = row_style(row)
        handles.append(
            Line2D(
                [],
                [],
                marker=st.marker,
                color=st.color,
                linestyle="none",
                markersize=7,
                label=legend_label(row),
            )
        )
    if not handles:
        return
    title = "Methods"
    if any(r.oracle for r in ordered):
        title += "\n(grey: oracle, a reference\npoint, never ranked)"
    fig.legend(
        handles=handles,
        loc="outside right upper",
        fontsize=8,
        title=title,
        title_fontsize=8,
        frameon=False,
    )


def quality_diversity(table: Table, out_dir: Path) -> Plot | None:
    """Each baseline at (diversity, quality) with seed std as error bars; one panel per pair.

    The good corner is bottom right (diverse and realistic); a deterministic method sits on the
    left edge however good its FID.
    """
    pairs = _pairs(table)
    if not pairs:
        return None
    fig, axes = _panels(len(pairs))
    drawn: list[Row] = []
    for ax, (q, d) in zip(axes, pairs, strict=True):
        for row in table.rows:
            sq, sd = row.cells[q.key].summary, row.cells[d.key].summary
            if sq is None or sd is None:
                continue
            _point(ax, row, sd, sq, d.fmt.scale, q.fmt.scale)
            drawn.append(row)
        ax.set_xlabel(_axis_label(table, d))
        ax.set_ylabel(_axis_label(table, q))
        ax.set_title(f"{q.name} vs {d.name}", fontsize=9)
        ax.margins(0.1)
        ax.grid(alpha=0.3)
        _plain(ax, "x")
        _plain(ax, "y")
    _legend(fig, drawn)
    fig.suptitle(f"{table.protocol} @ {table.protocol_hash}: quality vs diversity", fontsize=10)
    path = out_dir / "plots" / f"{table.slug}--quality-diversity.png"
    save_figure(path, fig)
    return Plot("Quality vs diversity (mean ± std over seeds; good corner: bottom right)", path)


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
    fig, axes = _panels(len(panels))
    drawn: list[Row] = []
    for ax, (q, rows) in zip(axes, panels, strict=True):
        for row in rows:
            _point(ax, row, row.speed.summary, row.cells[q.key].summary, 1.0, q.fmt.scale)
            drawn.append(row)
        ax.set_xscale("log")
        # plain numbers (0.6, 20), minor ticks labelled only when few decades are shown
        ax.xaxis.set_major_formatter(PlainLogFormatter())
        ax.xaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel(f"{SPEED_LABEL} ↓")
        ax.set_ylabel(_axis_label(table, q))
        ax.margins(0.1)
        ax.grid(alpha=0.3, which="both")
        _plain(ax, "y")
    _legend(fig, drawn)
    fig.suptitle(f"{table.protocol} @ {table.protocol_hash}: quality vs speed", fontsize=10)
    path = out_dir / "plots" / f"{table.slug}--quality-speed.png"
    save_figure(path, fig)
    return Plot(
        "Quality vs speed (mean ± std over seeds; latency on this run's device; "
        "good corner: bottom left)",
        path,
    )


def metric_vs_seed(table: Table, out_dir: Path) -> Plot | None:
    """Every column's value per seed, one line per baseline: shows outlier seeds at a glance
    (nothing to show, so no figure, when every cell rests on one seed)."""
    cols = [c for c in table.columns if any(len(r.cells[c.key].by_seed) > 1 for r in table.rows)]
    if not cols:
        return None
    fig, axes = _panels(len(cols), 4.0, 2.9)
    drawn: list[Row] = []
    for ax, col in zip(axes, cols, strict=True):
        for row in table.rows:
            by_seed = row.cells[col.key].by_seed
            if by_seed:
                seeds = sorted(by_seed)
                st = row_style(row)
                ax.plot(
                    seeds,
                    [by_seed[s] * col.fmt.scale for s in seeds],
                    marker=st.marker,
                    color=st.color,
                    label=legend_label(row),
                )
                drawn.append(row)
        ax.set_title(_axis_label(table, col), fontsize=8)
        ax.set_xlabel("seed")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        _plain(ax, "y")
    _legend(fig, drawn)
    fig.suptitle(f"{table.protocol} @ {table.protocol_hash}: each column per seed", fontsize=10)
    path = out_dir / "plots" / f"{table.slug}--seeds.png"
    save_figure(path, fig)
    return Plot("Metric vs seed (one line per method: outlier seeds stand out)", path)


def parse_variant(variant: str) -> tuple[int | None, str]:
    """ "bs=16" -> (16, "latent"), "bs=4,reference" -> (4, "reference"), "" -> (None, "")."""
    m = re.fullmatch(r"bs=(\d+)(?:,(\w+))?", variant.strip())
    if not m:
        return None, ""
    return int(m.group(1)), m.group(2) or "latent"


def batch_size(variant: str) -> int | None:
    return parse_variant(variant)[0]


def latency_vs_batch(
    baseline: str, slug: str, recs: list[Record], out: Path, oracle: bool = False
) -> Plot | None:
    """Latency (mean with the p10-p90 band over seeds' records) and throughput against batch
    size, one line per synthesis mode; None when no mode was timed at two batch sizes or more
    (one point is not a curve: the profile page's table says that number)."""
    lat: dict[str, dict[int, list[Record]]] = defaultdict(lambda: defaultdict(list))
    thr: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in recs:
        bs, mode = parse_variant(r.variant)
        if bs is None or r.status != "ok" or r.value is None:
            continue
        if r.metric == "latency_ms":
            lat[mode][bs].append(r)
        elif r.metric == "throughput":
            thr[mode][bs].append(float(r.value))
    modes = sorted({m for m in (*lat, *thr) if max(len(lat[m]), len(thr[m])) >= 2})
    if not modes:
        return None
    color = style(baseline, oracle).color
    dashes = {"latent": "-", "reference": "--"}
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2)
    for mode in modes:
        ls = dashes.get(mode, ":")
        if lat[mode]:
            xs = sorted(lat[mode])
            mid = [sum(float(r.value) for r in lat[mode][b]) / len(lat[mode][b]) for b in xs]
            p10 = [min(float(r.extra.get("p10", r.value)) for r in lat[mode][b]) for b in xs]
            p90 = [max(float(r.extra.get("p90", r.value)) for r in lat[mode][b]) for b in xs]
            ax.plot(xs, mid, marker="o", color=color, linestyle=ls, label=mode)
            ax.fill_between(xs, p10, p90, color=color, alpha=0.2, label=f"{mode}: p10–p90")
        if thr[mode]:
            xs = sorted(thr[mode])
            ys = [sum(thr[mode][b]) / len(thr[mode][b]) for b in xs]
            ax2.plot(xs, ys, marker="o", color=color, linestyle=ls, label=mode)
    for a, ylabel in ((ax, "latency per call (ms) ↓"), (ax2, "throughput (images/s) ↑")):
        a.set_xscale("log", base=2)
        a.xaxis.set_major_formatter(PlainLogFormatter(base=2))
        a.set_xlabel("batch size")
        a.set_ylabel(ylabel)
        a.grid(alpha=0.3)
        _plain(a, "y")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    fig.suptitle(f"{baseline} on {slug}", fontsize=10)
    save_figure(out, fig)
    return Plot(f"Latency and throughput vs batch size ({slug})", out)
