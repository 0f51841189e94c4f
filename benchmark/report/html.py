"""The HTML leaderboard and per-baseline profile pages (jinja2, self-contained).

CSS and JS are inlined from templates/, images are relative files next to the page, and no
URL points off the machine, so the folder can be zipped, mailed, or opened on a plane.

The page reads at a glance: an overview first (each protocol's headline metric, who leads it
and a bar per method), then one section per protocol version whose default tables hold the
columns its source paper reports (``Table.headline``) and fit a 1366 px window; every other
column waits behind a "more metrics" control, split per variant so each table fits too. Every
column prints one way (``Column.fmt``), the best method in bold and the second underlined
(``Cell.rank``), and a cell that does not apply, was skipped, failed or is 0 reads differently.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from benchmark import stats
from benchmark.records import PROFILE_METRICS, Record, atomic_write_text
from benchmark.report import glossary, plots
from benchmark.report.grids import Grid
from benchmark.report.labels import SPEED_LABEL
from benchmark.report.model import Cell, Column, Results, Row, Table
from benchmark.report.numbers import Format, column_format
from benchmark.report.tables import (
    classifier_line,
    failure_notes,
    fidelity_line,
    not_computed_notes,
    row_shared_failure,
    seeds_caption,
)
from benchmark.timing import unstable_note

TEMPLATES = Path(__file__).parent / "templates"
KERNEL_ROWS = 40  # per kind; the long tail is summed into one line
# every table a reader sees fits a window this wide (a common laptop): the columns are packed
# by an estimate of their rendered width (DejaVu Sans / system-ui at the stylesheet's sizes,
# generously rounded); tests/report/test_chromium.py measures the real page
WINDOW_PX = 1366
PAGE_PAD_PX = 40 + 40  # the body's padding, a scrollbar and a margin for fonts wider than ours
MAX_COLUMNS = 8  # metric columns per table, whatever their width: more is no longer "at a glance"
DIGIT_PX, STD_PX, NOTE_PX, HEAD_PX, EXT_PX, NAME_PX = 8.9, 7.6, 6.4, 9.6, 6.6, 9.8
REASON_PX = 11 * 14  # td .why: 11em
MIN_COLUMN_PX, MIN_BASELINE_PX, CELL_PAD_PX = 7.5 * 14, 12 * 14, 30
NOT_APPLICABLE = "does not apply"  # the runner's reason for a mode a method has no input for


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


# --- cells ------------------------------------------------------------------------------------


def not_applicable(cell: Cell) -> bool:
    """Skipped on every seed because the metric does not apply to the method (a mode it takes
    no input for): "n/a", not a skip to fix."""
    return (
        cell.status == "skipped"
        and bool(cell.failures)
        and all(NOT_APPLICABLE in reason for reason in cell.failures.values())
    )


def cell_title(cell: Cell, fmt: Format) -> str:
    """The hover text: mean, std, seeds, the 95% interval (Student's t for a few seeds, a
    bootstrap for many: ``stats.summarize``), each seed's value, failures."""
    parts = []
    s = cell.summary
    if s is not None:
        seeds = sorted(cell.by_seed)
        mean, std = fmt.mean_std(s)
        scale = f" ({fmt.scale_label})" if fmt.scale_label else ""
        text = f"mean {mean}{scale}" + (f", std {std} (ddof=1)" if std else "")
        text += f" over {s.n} seed{'s' * (s.n != 1)} ({', '.join(map(str, seeds))})"
        if s.n >= 2 and math.isfinite(s.ci_low) and math.isfinite(s.ci_high):
            how = {"bootstrap": "bootstrap"}.get(getattr(s, "ci_method", "t"), "t")
            text += f"; 95% {how} interval [{fmt.num(s.ci_low)}, {fmt.num(s.ci_high)}]"
        elif s.n < 2:
            text += "; one seed: no interval"
        text += f"; per seed: {', '.join(fmt.num(cell.by_seed[k]) for k in seeds)}"
        parts.append(text)
    if cell.failures:
        status = "does not apply" if not_applicable(cell) else cell.status
        parts.append(f"{status}: {cell.reason}")
    return " | ".join(parts)


def cell_parts(cell: Cell, fmt: Format, seeds: int | None) -> tuple[str, str, str, str]:
    """(main, std, note, state): ("16.20", "0.20", "", "ok"), ("64.50", "0.71", "(2/3 seeds)",
    "partial"), ("n/a", "", "", "na"), ("skipped: reason", ...), ("failed: reason", ...), ("–",
    "", "", "missing") for no record. The seed count is said only where it differs from the
    table's usual one (in the caption), and always as "2/3 seeds" when some seeds failed."""
    s = cell.summary
    if s is not None:
        mean, std = fmt.mean_std(s)
        note = ""
        if cell.failures:
            note = f"({s.n}/{s.n + len(cell.failures)} seeds)"
        elif s.n != seeds:
            note = f"({s.n} seed{'s' * (s.n != 1)})"
        return mean, std, note, cell.status
    if not_applicable(cell):
        return "n/a", "", "", "na"
    if cell.status in ("skipped", "failed"):  # the seeds it hit are on hover and below
        reasons = "; ".join(dict.fromkeys(cell.failures.values()))
        return f"{cell.status}: {reasons}", "", "", cell.status
    return "–", "", "", "missing"


def cell_text(cell: Cell, fmt: Format, seeds: int | None) -> tuple[str, str]:
    """(text, state): "16.20 ± 0.20", "64.50 ± 0.71 (2/3 seeds)", "n/a", "skipped: reason"."""
    main, std, note, state = cell_parts(cell, fmt, seeds)
    return main + (f" ± {std}" if std else "") + (f" {note}" if note else ""), state


def _cell_view(cell: Cell, fmt: Format, seeds: int | None) -> dict[str, Any]:
    main, std, note, state = cell_parts(cell, fmt, seeds)
    rank = {1: "best", 2: "second"}.get(cell.rank or 0)
    return {
        "text": main,
        "std": std,
        "note": note,
        "css": " ".join(["num", state] + ([rank] if rank else [])),
        "near": cell.near_best,
        "long": state in ("skipped", "failed"),  # cut off in the row, whole on hover and below
        "sort": "" if cell.summary is None else repr(cell.summary.mean),
        "title": cell_title(cell, fmt),
    }


# --- tables -----------------------------------------------------------------------------------


def _column_view(table: Table, col: Column, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": col.metric_label,
        "scale": col.fmt.scale_label,
        "extractor": table.extractor_label(col.extractor),
        "arrow": col.arrow,
        "dir": col.direction,
        "title": glossary.column_note(table, col),
    }


def _runs(cols: Iterable[Column]) -> list[list[Column]]:
    """Consecutive columns of one variant."""
    runs: list[list[Column]] = []
    for col in cols:
        if runs and runs[-1][0].variant == col.variant:
            runs[-1].append(col)
        else:
            runs.append([col])
    return runs


def _text_px(text: str, px: float) -> float:
    return len(text) * px


def column_px(table: Table, col: Column | None) -> float:
    """About how wide a column renders (``col`` None: the speed column): its widest cell (the
    mean at 14 px, the std at 12 px, a seed note at 11 px, a reason cut at 11em) or its header
    (the longest word of the name, the extractor line), at least the stylesheet's 7.5em."""
    fmt = col.fmt if col is not None else table.speed_fmt
    widest = 0.0
    for row in table.rows:
        cell = row.cells[col.key] if col is not None else row.speed
        main, std, note, state = cell_parts(cell, fmt, table.seed_count)
        px = REASON_PX if state in ("skipped", "failed") else _text_px(main, DIGIT_PX)
        px += _text_px(f" ± {std}", STD_PX) if std else 0.0
        px += _text_px(f" {note}", NOTE_PX) if note else 0.0
        widest = max(widest, px)
    if col is None:
        name, ext = SPEED_LABEL, "profile"
    else:
        name = f"{col.metric_label} {col.fmt.scale_label} {col.arrow}"
        ext = table.extractor_label(col.extractor)
    head = max([_text_px(w, HEAD_PX) for w in name.split()] + [_text_px(ext, EXT_PX)])
    return max(widest, head, MIN_COLUMN_PX) + CELL_PAD_PX


def baseline_px(table: Table) -> float:
    """The method column: its widest name with its tags (oracle, external, profile link)."""
    widest = 0.0
    for row in table.rows:
        px = _text_px(row.name, NAME_PX)
        px += 62 * row.oracle + 68 * row.external + 48  # "(oracle)", "(external)", "profile"
        widest = max(widest, px)
    return max(widest, MIN_BASELINE_PX) + CELL_PAD_PX


def _split(run: list[Column], px: dict[Column, float], budget: float) -> list[list[Column]]:
    """A variant's columns in the fewest near-equal pieces that each fit ``budget``."""
    for pieces in range(1, len(run) + 1):
        size = math.ceil(len(run) / pieces)
        parts = [run[i : i + size] for i in range(0, len(run), size)]
        if all(len(p) <= MAX_COLUMNS and sum(px[c] for c in p) <= budget for p in parts):
            return parts
    return [[c] for c in run]


def pack(
    cols: list[Column], px: dict[Column, float], budget: float, first: float = 0.0
) -> list[list[Column]]:
    """Columns into tables that fit ``budget`` pixels (the first table ``first`` less, for the
    speed column) and hold at most MAX_COLUMNS: whole variant groups together while they fit,
    a group too wide split evenly, so every table fits the window."""
    tables: list[list[Column]] = []

    def room(i: int) -> float:
        return budget - (first if i == 0 else 0.0)

    for run in _runs(cols):
        whole = sum(px[c] for c in run)
        if (
            tables
            and len(tables[-1]) + len(run) <= MAX_COLUMNS
            and sum(px[c] for c in tables[-1]) + whole <= room(len(tables) - 1)
            and tables[-1][-1].variant != run[0].variant
        ):
            tables[-1].extend(run)
            continue
        for piece in _split(run, px, room(len(tables))):
            tables.append(list(piece))
    return tables


def panels(table: Table) -> tuple[list[list[Column]], list[list[Column]]]:
    """(shown, more): the source paper's columns first, packed to fit a WINDOW_PX window, and
    the rest (per variant) behind the "more metrics" control. A protocol no paper names shows
    its first variant's columns."""
    head = table.headline or (_runs(table.columns)[0] if table.columns else [])
    rest = [c for c in table.columns if c not in head]
    px = {c: column_px(table, c) for c in table.columns}
    budget = WINDOW_PX - PAGE_PAD_PX - baseline_px(table)
    speed = column_px(table, None) if _has_speed(table) else 0.0
    return pack(head, px, budget, speed), pack(rest, px, budget)


def _ordered_rows(table: Table) -> list[Row]:
    """Methods by name, oracles (the metric's brackets) last."""
    return sorted(table.rows, key=lambda r: (r.oracle, r.name.lower(), r.baseline))


def _row_head(row: Row, profile_pages: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    page = profile_pages.get(row.baseline)
    return {
        "baseline": row.baseline,
        "name": row.name,
        "title": row.baseline if row.name != row.baseline else "",
        "oracle": row.oracle,
        "external": row.external,
        "highlight": row.highlight,
        "profile": _rel(page, out_dir) if page else "",
    }


def _grid_view(
    table: Table,
    cols: list[Column],
    speed: bool,
    heads: dict[str, dict[str, Any]],
    index: int,
) -> dict[str, Any]:
    seeds = table.seed_count
    rows = []
    for row in _ordered_rows(table):
        cells = [_cell_view(row.cells[c.key], c.fmt, seeds) for c in cols]
        if speed:
            cells.append(_cell_view(row.speed, table.speed_fmt, seeds))
        shared = row_shared_failure(row, table.columns)  # failed in every column of the table
        span = len(cols) if shared and shared[0] == "failed" and len(cols) > 1 else 0
        if span:  # one wide cell: room for the seeds it hit
            cells[0] = {**cells[0], "text": f"failed: {shared[1]}"}
        rows.append({**heads[row.baseline], "cells": cells, "span": span})
    variants = [c.variant for c in cols]
    groups = [{"variant": run[0].variant, "span": len(run)} for run in _runs(cols)]
    return {
        "id": f"{table.slug}-t{index}",
        "columns": [_column_view(table, c, i + 1) for i, c in enumerate(cols)],
        "groups": groups if any(variants) else [],
        "speed": speed,
        "speed_index": len(cols) + 1,
        "rows": rows,
    }


def _has_speed(table: Table) -> bool:
    return any(r.speed.by_seed or r.speed.failures for r in table.rows)


def _table_view(
    table: Table,
    grids: list[Grid],
    figs: list[plots.Plot],
    profile_pages: dict[str, Path],
    out_dir: Path,
) -> dict[str, Any]:
    heads = {r.baseline: _row_head(r, profile_pages, out_dir) for r in table.rows}
    speed = _has_speed(table)
    shown, more = panels(table)
    shown_views = [
        _grid_view(table, cols, speed and i == 0, heads, i) for i, cols in enumerate(shown)
    ]
    if not shown_views and speed:  # no metric column: the speed column alone
        shown_views = [_grid_view(table, [], True, heads, 0)]
    more_views = [
        _grid_view(table, cols, False, heads, len(shown) + i) for i, cols in enumerate(more)
    ]
    provenance = [
        {"key": k, "values": v, "mixed": len(v) > 1} for k, v in table.provenance().items()
    ]
    provenance += [
        {"key": f"classifier: {k}", "values": v, "mixed": len(v) > 1}
        for k, v in table.classifier_provenance().items()
    ]
    names = {r.baseline: r.name for r in table.rows}
    wall = table.wall_time_s()
    return {
        "slug": table.slug,
        "protocol": table.protocol,
        "hash": table.protocol_hash,
        "current": table.current,
        "current_hash": table.current_hash,
        "synthetic": table.synthetic,
        "tables": shown_views,
        "more": more_views,
        "more_names": _more_names(more),
        "more_count": sum(len(c) for c in more),
        "headline": bool(table.headline),
        "caption": seeds_caption(table),
        "classifier": classifier_line(table),
        "fidelity": fidelity_line(table),
        "not_computed": not_computed_notes(table),
        "failures": [n for n in failure_notes(table) if NOT_APPLICABLE not in n.split(" — ")[0]],
        "not_applicable": not_applicable_notes(table),
        "grids": [_grid_caption(g, names, out_dir) for g in grids],
        "plots": [{"src": _rel(p.path, out_dir), "title": p.title} for p in figs],
        "provenance": provenance,
        "wall_time": f"{wall:,.0f}" if wall >= 10 else f"{wall:.1f}" if wall else "",
        "records": len(table.records),
    }


def not_applicable_notes(table: Table) -> list[str]:
    """ "takes no style reference; reference-guided synthesis does not apply — CycleGAN, UNIT":
    the cells shown "n/a", one line per reason (the method's own name taken out of it)."""
    who: dict[str, list[str]] = {}
    for row in _ordered_rows(table):
        reasons = {
            reason.removeprefix(row.baseline).strip()
            for cell in row.cells.values()
            if not_applicable(cell)
            for reason in cell.failures.values()
        }
        for reason in sorted(reasons):
            who.setdefault(reason, []).append(row.name)
    return [f"{', '.join(names)}: {reason}" for reason, names in who.items()]


def _more_names(more: list[list[Column]]) -> str:
    """ "KID, IS, CIS, Top-1 acc. (latent, reference)": what the control hides, in a few words."""
    labels = list(dict.fromkeys(c.metric_label for cols in more for c in cols))
    variants = list(dict.fromkeys(c.variant for cols in more for c in cols if c.variant))
    text = ", ".join(labels)
    return f"{text} ({', '.join(variants)})" if variants else text


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _grid_caption(g: Grid, names: dict[str, str], out_dir: Path) -> dict[str, Any]:
    """What the picture holds, column by column, as drawn."""
    what = ["the input"]
    if g.refs:
        shown = f"{g.refs} of {g.refs_available}" if g.refs_available > g.refs else str(g.refs)
        what.append(f"{shown} reference{'s' * (g.refs_available != 1)} (ref)")
    outs = (
        f"{g.outputs} of {g.outputs_available}"
        if g.outputs_available > g.outputs
        else str(g.outputs)
    )
    what.append(f"{outs} output{'s' * (g.outputs_available != 1)} (out)")
    if g.target:
        what.append("the ground-truth target")
    mode = f", {g.mode}" if g.mode else ""
    return {
        "src": _rel(g.path, out_dir),
        "title": f"{g.task}{mode}",
        "text": f"{', '.join(what)} for the first {_count(g.inputs, 'test input')}; "
        f"rows: {', '.join(names.get(b, b) for b in g.baselines)}",
    }


# --- overview ---------------------------------------------------------------------------------


def _overview_card(table: Table) -> dict[str, Any]:
    """One protocol at a glance: its first headline metric that most methods have a number for
    (offline, edges2shoes' LPIPS diversity is skipped for every multimodal method), who leads,
    a bar per method."""
    candidates = table.headline or table.columns
    methods = [r for r in table.rows if not r.oracle]

    def scored(c: Column) -> int:
        return sum(r.cells[c.key].summary is not None for r in methods)

    enough = [c for c in candidates if 2 * scored(c) > len(methods)]
    col = (enough or candidates or [None])[0]
    card: dict[str, Any] = {
        "slug": table.slug,
        "protocol": table.protocol,
        "hash": table.protocol_hash,
        "synthetic": table.synthetic,
        "metric": "",
        "bars": [],
        "best": "",
    }
    if col is None:
        return card
    fmt = col.fmt
    card["metric"] = f"{table.short_label(col)}"
    card["scale"] = fmt.scale_label
    card["arrow"] = col.arrow
    card["direction"] = glossary.direction_text(col.direction)
    scored, unscored = [], []
    for row in table.rows:
        cell = row.cells[col.key]
        (scored if cell.summary is not None else unscored).append((row, cell))
    shown = {id(c): fmt.rounded(c.summary.mean) for _, c in scored}
    finite = [v for v in shown.values() if math.isfinite(v)]
    lo, hi = min([0.0, *finite]), max([0.0, *finite])
    sign = 1 if col.direction == "lower" else -1
    scored.sort(key=lambda rc: (sign * shown[id(rc[1])], rc[0].name.lower()))
    unscored.sort(key=lambda rc: rc[0].name.lower())
    bars = []
    for row, cell in scored:
        v = shown[id(cell)]
        width = 100.0 if math.isinf(v) else (v - lo) / (hi - lo) * 100 if hi > lo else 0.0
        bars.append(
            {
                "name": row.name,
                "baseline": row.baseline,
                "oracle": row.oracle,
                "highlight": row.highlight,
                "value": fmt.num(cell.summary.mean),
                "width": f"{max(width, 0.5):.1f}",
                "color": plots.row_style(row).color,
                "rank": {1: "best", 2: "second"}.get(cell.rank or 0, ""),
            }
        )
    for row, cell in unscored:
        text, _ = cell_text(cell, fmt, None)
        bars.append(
            {
                "name": row.name,
                "baseline": row.baseline,
                "oracle": row.oracle,
                "highlight": row.highlight,
                "value": text.split(":")[0],
                "width": "",
                "color": "",
                "rank": "",
            }
        )
    bars.sort(key=lambda b: b["oracle"])  # methods (scored best first), then the oracles
    card["bars"] = bars
    best = [r.name for r, c in scored if c.rank == 1 and not r.oracle]
    methods = [r for r, _ in scored if not r.oracle]
    if best:
        card["best"] = " and ".join(best)
    elif len(methods) == 1:
        card["best"] = f"{methods[0].name} (the only method scored)"
    else:
        card["best"] = "no method ahead at the printed precision" if methods else "no method scored"
    return card


def overview(results: Results) -> list[dict[str, Any]]:
    return [_overview_card(t) for t in results.tables if t.current]


def _glossary_view(results: Results) -> list[dict[str, Any]]:
    return [
        {
            "label": e.label,
            "metric": e.metric,
            "definition": e.definition,
            "direction": e.direction,
            "uses": [
                {
                    "slug": u.slug,
                    "protocol": u.protocol,
                    "variants": ", ".join(v for v in u.variants if v),
                    "extractor": u.extractor,
                    "sizes": u.sizes,
                }
                for u in e.uses
            ],
        }
        for e in glossary.entries(results)
    ]


def render_leaderboard(
    results: Results,
    out_dir: Path,
    grids: dict[str, list[Grid]],
    figs: dict[str, list[plots.Plot]],
    profile_pages: dict[str, Path],
) -> Path:
    views = [
        _table_view(t, grids.get(t.slug, []), figs.get(t.slug, []), profile_pages, out_dir)
        for t in results.tables
    ]
    names = {r.baseline: r.name for t in results.tables for r in t.rows}
    html = (
        environment()
        .get_template("leaderboard.html")
        .render(
            tables=views,
            overview=overview(results),
            glossary=_glossary_view(results),
            results_dir=str(results.root),
            n_records=len(results.records),
            rendered_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            speed_label=SPEED_LABEL,
            profiles=[
                {"baseline": b, "name": names.get(b, b), "href": _rel(p, out_dir)}
                for b, p in profile_pages.items()
            ],
            oracles=sorted({r.name for t in results.tables for r in t.rows if r.oracle}),
        )
    )
    path = out_dir / "index.html"
    atomic_write_text(path, html)
    return path


# --- profile pages ----------------------------------------------------------------------------

# metric -> (what a reader calls it, unit); peak memory is named by how it was measured
PROFILE_NAMES = {
    "latency_ms": ("Latency per call", "ms"),
    "throughput": ("Throughput", "images/s"),
    "params": ("Parameters (modules translate runs)", ""),
    "flops": ("FLOPs per image", ""),
    "kernels": ("Profiled self time per call", "ms"),
}
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(x: float) -> str:
    """53.2M, 99.0G, 812: three significant figures with an SI suffix, never an exponent."""
    for scale, suffix in _SI:
        if abs(x) >= scale:
            v = x / scale
            return f"{v:.{max(0, 2 - math.floor(math.log10(abs(v))))}f}{suffix}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def memory_name(recs: list[Record]) -> str:
    """What the peak-memory number is: GPU memory allocated, or the growth of the process's
    resident set on CPU (not the model's footprint)."""
    how = " ".join(str(r.provenance.get("memory", "")) for r in recs).lower()
    if "rss" in how:
        return "RSS growth over one call (MB)"
    if "cuda" in how:
        return "GPU peak memory allocated (MB)"
    return "Peak memory (MB)"


def _profile_name(metric: str, recs: list[Record]) -> str:
    if metric == "peak_memory_mb":
        return memory_name(recs)
    name, unit = PROFILE_NAMES.get(metric, (metric, ""))
    if metric == "kernels":
        kinds = {str(r.extra.get("kind", "")) for r in recs} - {""}
        name = {"cuda": "CUDA kernel time per call", "cpu": "CPU operator time per call"}.get(
            kinds.pop() if len(kinds) == 1 else "", name
        )
    return f"{name} ({unit})" if unit else name


def _variant_text(variant: str) -> tuple[str, str]:
    bs, mode = plots.parse_variant(variant)
    if bs is None:
        return ("", "") if not variant else (variant, "")
    return str(bs), mode


def _profile_rows(recs: list[Record]) -> list[dict[str, Any]]:
    """One line per (metric, variant): mean over seeds and the p10-p90 of the timing, in the
    metric's own unit and one number format per metric."""
    grouped: dict[tuple[str, str], list[Record]] = {}
    for r in recs:
        grouped.setdefault((r.metric, r.variant), []).append(r)

    def order(key: tuple[str, str]) -> tuple:
        metric, variant = key
        bs, mode = plots.parse_variant(variant)
        known = PROFILE_METRICS.index(metric) if metric in PROFILE_METRICS else 99
        return (known, metric, mode, bs or 0, variant)

    by_metric: dict[str, list[float]] = {}
    for (metric, _), rs in grouped.items():
        by_metric.setdefault(metric, []).extend(
            float(r.value) for r in rs if r.status == "ok" and r.value is not None
        )
    formats = {m: column_format(m, v) for m, v in by_metric.items()}
    rows = []
    for key in sorted(grouped, key=order):
        metric, variant = key
        rs = grouped[key]
        fmt = formats[metric]
        count = metric in ("params", "flops")

        def num(x: float, fmt: Format = fmt, count: bool = count) -> str:
            return si(x) if count else fmt.num(x)

        ok = [float(r.value) for r in rs if r.status == "ok" and r.value is not None]
        p10 = [r.extra["p10"] for r in rs if isinstance(r.extra.get("p10"), int | float)]
        p90 = [r.extra["p90"] for r in rs if isinstance(r.extra.get("p90"), int | float)]
        failed = [f"seed {r.seed}: {r.reason}" for r in rs if r.status != "ok"]
        shaky = [r.extra["spread"] for r in rs if r.extra.get("unstable")]
        bs, mode = _variant_text(variant)
        rows.append(
            {
                "metric": metric,
                "name": _profile_name(metric, rs),
                "variant": variant,
                "batch": bs,
                "mode": mode,
                "value": num(stats.mean(ok)) if ok else "failed",
                "spread": f"{num(min(p10))} – {num(max(p90))}" if p10 and p90 else "",
                "unstable": unstable_note(max(shaky)) if shaky else "",
                "seeds": len(rs),
                "failed": "; ".join(failed),
            }
        )
    return rows


def _fmt_calls(calls: object) -> str:
    """Calls per translate call; the profiler divides by its steps, so 2.0 reads as 2."""
    if isinstance(calls, bool) or not isinstance(calls, int | float):
        return ""
    return str(int(calls)) if float(calls).is_integer() else f"{float(calls):.1f}"


def _us(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def _kernel_tables(recs: list[Record]) -> tuple[str, list[dict[str, Any]]]:
    """Kernels of the first record that carries them (kernel tables of different batch sizes
    are not summed: that would double count), split into CUDA kernels and CPU operators."""
    ordered = sorted(recs, key=lambda r: (r.seed, r.metric, plots.batch_size(r.variant) or 0))
    source = next((r for r in ordered if r.extra.get("kernels")), None)
    if source is None:
        return "", []
    kernels = [k for k in source.extra["kernels"] if isinstance(k, dict)]
    out = []
    for kind, label in (("cuda", "CUDA kernels"), ("cpu", "CPU operators")):
        mine = sorted(
            (k for k in kernels if str(k.get("kind", "cpu")).lower() == kind),
            key=lambda k: -float(k.get("self_time_us") or 0),
        )
        if not mine:
            continue
        total = sum(float(k.get("self_time_us") or 0) for k in mine) or 1.0
        rows = [
            {
                "name": str(k.get("name", "?")),
                "time": _us(float(k.get("self_time_us") or 0)),
                "share": f"{100.0 * float(k.get('self_time_us') or 0) / total:.1f}%",
                "calls": _fmt_calls(k.get("calls")),
            }
            for k in mine[:KERNEL_ROWS]
        ]
        rest = mine[KERNEL_ROWS:]
        if rest:
            t = sum(float(k.get("self_time_us") or 0) for k in rest)
            rows.append(
                {
                    "name": f"({len(rest)} more)",
                    "time": _us(t),
                    "share": f"{100.0 * t / total:.1f}%",
                    "calls": _fmt_calls(sum(float(k.get("calls") or 0) for k in rest)),
                }
            )
        out.append({"kind": kind, "label": label, "rows": rows, "total": _us(total)})
    bs, mode = plots.parse_variant(source.variant)
    at = f" at batch size {bs}" + (f" ({mode})" if mode != "latent" else "") if bs else ""
    return f"seed {source.seed}{at}", out


def render_profile_page(
    baseline: str, per_slug: dict[str, list[Record]], results: Results, out_dir: Path
) -> Path:
    page_dir = out_dir / "profile"
    rows = {r.baseline: r for t in results.tables for r in t.rows}
    row = rows.get(baseline)
    name = row.name if row else baseline
    oracle = bool(row and row.oracle)
    sections = []
    for slug, recs in sorted(per_slug.items()):
        fig = plots.latency_vs_batch(
            name, slug, recs, page_dir / f"{baseline}--{slug}.png", oracle=oracle
        )
        sizes = sorted({bs for r in recs if (bs := plots.batch_size(r.variant)) is not None})
        source, kernel_tables = _kernel_tables(recs)
        traces = []
        names = sorted({t for r in recs if isinstance(t := r.extra.get("trace"), str) and t})
        for trace in names:
            path = results.root / trace
            traces.append({"href": _rel(path, page_dir) if path.is_file() else "", "name": trace})
        devices = sorted({str(r.provenance.get("device", "")) for r in recs} - {""})
        sections.append(
            {
                "slug": slug,
                "rows": _profile_rows(recs),
                "plot": _rel(fig.path, page_dir) if fig else "",
                "no_plot": ""
                if fig or not sizes
                else f"Timed at batch size {', '.join(map(str, sizes))} only: no curve to draw "
                "(run `python -m benchmark profile --batch-sizes 1,8,32` for one).",
                "kernel_source": source,
                "kernel_tables": kernel_tables,
                "traces": traces,
                "devices": devices,
            }
        )
    html = (
        environment()
        .get_template("profile.html")
        .render(
            baseline=baseline,
            name=name,
            sections=sections,
            back=_rel(out_dir / "index.html", page_dir),
        )
    )
    path = page_dir / f"{baseline}.html"
    atomic_write_text(path, html)
    return path
