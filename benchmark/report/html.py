"""The HTML leaderboard and per-baseline profile pages (jinja2, self-contained).

CSS and JS are inlined from templates/, images are relative files next to the page, and no
URL points off the machine, so the folder can be zipped, mailed, or opened on a plane.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import jinja2

from benchmark import stats
from benchmark.records import PROFILE_METRICS, Record, atomic_write_text
from benchmark.report import plots
from benchmark.report.grids import Grid
from benchmark.report.labels import SPEED_LABEL
from benchmark.report.model import Cell, Column, Results, Table, fmt_number
from benchmark.report.tables import (
    cell_text,
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
# extractor provenance is shown per column (header tooltip); these keys say which weights
EXTRACTOR_KEYS = ("extractor", "weights_sha256", "resize")


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


def cell_title(cell: Cell) -> str:
    """The hover text: mean, std, seeds, 95% bootstrap CI, each seed's value, failures."""
    parts = []
    s = cell.summary
    if s is not None:
        seeds = sorted(cell.by_seed)
        std = "" if math.isnan(s.std) else f", std {fmt_number(s.std)} (ddof=1)"
        parts.append(
            f"mean {fmt_number(s.mean)}{std} over {s.n} seed{'s' * (s.n != 1)} "
            f"({', '.join(map(str, seeds))}); "
            f"95% bootstrap CI [{fmt_number(s.ci_low)}, {fmt_number(s.ci_high)}]; "
            f"per seed: {', '.join(fmt_number(cell.by_seed[k]) for k in seeds)}"
        )
    if cell.failures:
        parts.append(f"{cell.status}: {cell.reason}")
    return " | ".join(parts)


def _cell_view(cell: Cell, seeds: int | None) -> dict[str, Any]:
    """Short text so rows stay one line tall: a failed cell names its reason (cut off by the
    stylesheet, whole on hover and in the notes below the table); a skipped one says so."""
    s = cell.summary
    classes = ["num", cell.status] + (["best"] if cell.best else [])
    text = cell_text(cell, seeds)
    if s is None and cell.status == "failed":
        text = f"failed: {cell.reason}"
    return {
        "text": text,
        "css": " ".join(classes),
        "sort": "" if s is None else repr(s.mean),
        "title": cell_title(cell),
    }


def _column_view(table: Table, col: Column, index: int) -> dict[str, Any]:
    prov = table.column_provenance(col)
    lines = [f"{col.label}: {col.direction} is better"]
    for key, values in prov.items():
        if key.split(".")[0] in EXTRACTOR_KEYS or key.startswith("samples"):
            lines.append(f"{key}: {', '.join(values)}")
    return {
        "index": index,
        "name": col.metric_label,
        "extractor": table.extractor_label(col.extractor),
        "arrow": col.arrow,
        "dir": col.direction,
        "title": "\n".join(lines),
    }


def _table_view(
    table: Table,
    grids: list[Grid],
    figs: list[plots.Plot],
    profile_pages: dict[str, Path],
    out_dir: Path,
) -> dict[str, Any]:
    speed = any(r.speed.by_seed or r.speed.failures for r in table.rows)
    seeds = table.seed_count
    rows = []
    for row in sorted(table.rows, key=lambda r: (r.oracle, r.baseline)):
        cells = [_cell_view(row.cells[c.key], seeds) for c in table.columns]
        if speed:
            cells.append(_cell_view(row.speed, seeds))
        shared = row_shared_failure(row, table.columns)
        page = profile_pages.get(row.baseline)
        rows.append(
            {
                "baseline": row.baseline,
                "oracle": row.oracle,
                "external": row.external,
                "profile": _rel(page, out_dir) if page else "",
                "cells": cells,
                # a run that failed in every column: one merged cell with the reason
                "span": len(table.columns) if shared and shared[0] == "failed" else 0,
            }
        )
    groups = table.column_groups()
    provenance = [
        {"key": k, "values": v, "mixed": len(v) > 1} for k, v in table.provenance().items()
    ]
    provenance += [
        {"key": f"classifier: {k}", "values": v, "mixed": len(v) > 1}
        for k, v in table.classifier_provenance().items()
    ]
    return {
        "slug": table.slug,
        "protocol": table.protocol,
        "hash": table.protocol_hash,
        "current": table.current,
        "current_hash": table.current_hash,
        "synthetic": table.synthetic,
        "columns": [_column_view(table, c, i + 1) for i, c in enumerate(table.columns)],
        "groups": [{"variant": v, "span": len(cols)} for v, cols in groups]
        if any(v for v, _ in groups)
        else [],
        "speed": speed,
        "speed_index": len(table.columns) + 1,
        "rows": rows,
        "caption": seeds_caption(table),
        "classifier": classifier_line(table),
        "fidelity": fidelity_line(table),
        "not_computed": not_computed_notes(table),
        "failures": failure_notes(table),
        "grids": [
            {
                "src": _rel(g.path, out_dir),
                "task": g.task,
                "mode": g.mode,
                "inputs": g.inputs,
                "baselines": ", ".join(g.baselines),
            }
            for g in grids
        ],
        "plots": [{"src": _rel(p.path, out_dir), "title": p.title} for p in figs],
        "provenance": provenance,
        "wall_time": fmt_number(table.wall_time_s(), 3) if table.wall_time_s() else "",
        "records": len(table.records),
    }


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
    html = (
        environment()
        .get_template("leaderboard.html")
        .render(
            tables=views,
            results_dir=str(results.root),
            n_records=len(results.records),
            rendered_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            speed_label=SPEED_LABEL,
            profiles=[{"baseline": b, "href": _rel(p, out_dir)} for b, p in profile_pages.items()],
            oracles=sorted({r.baseline for t in results.tables for r in t.rows if r.oracle}),
        )
    )
    path = out_dir / "index.html"
    atomic_write_text(path, html)
    return path


# --- profile pages ----------------------------------------------------------------------------


def _profile_rows(recs: list[Record]) -> list[dict[str, Any]]:
    """One line per (metric, variant): mean over seeds and the p10-p90 of the timing."""
    grouped: dict[tuple[str, str], list[Record]] = {}
    for r in recs:
        grouped.setdefault((r.metric, r.variant), []).append(r)

    def order(key: tuple[str, str]) -> tuple[int, int, str]:
        metric, variant = key
        return (PROFILE_METRICS.index(metric), plots.batch_size(variant) or 0, variant)

    rows = []
    for key in sorted(grouped, key=order):
        rs = grouped[key]
        ok = [float(r.value) for r in rs if r.status == "ok" and r.value is not None]
        p10 = [r.extra["p10"] for r in rs if isinstance(r.extra.get("p10"), int | float)]
        p90 = [r.extra["p90"] for r in rs if isinstance(r.extra.get("p90"), int | float)]
        failed = [f"seed {r.seed}: {r.reason}" for r in rs if r.status != "ok"]
        shaky = [r.extra["spread"] for r in rs if r.extra.get("unstable")]
        rows.append(
            {
                "metric": key[0],
                "variant": key[1],
                "value": fmt_number(stats.mean(ok)) if ok else "failed",
                "spread": f"{fmt_number(min(p10))} – {fmt_number(max(p90))}" if p10 and p90 else "",
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
    return str(int(calls)) if float(calls).is_integer() else fmt_number(float(calls))


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
                "time": fmt_number(float(k.get("self_time_us") or 0)),
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
                    "time": fmt_number(t),
                    "share": f"{100.0 * t / total:.1f}%",
                    "calls": _fmt_calls(sum(float(k.get("calls") or 0) for k in rest)),
                }
            )
        out.append({"kind": kind, "label": label, "rows": rows, "total": fmt_number(total)})
    where = f"{source.metric} {source.variant} seed {source.seed}".strip()
    return where, out


def render_profile_page(
    baseline: str, per_slug: dict[str, list[Record]], results: Results, out_dir: Path
) -> Path:
    page_dir = out_dir / "profile"
    sections = []
    for slug, recs in sorted(per_slug.items()):
        fig = plots.latency_vs_batch(baseline, slug, recs, page_dir / f"{baseline}--{slug}.png")
        source, kernel_tables = _kernel_tables(recs)
        traces = []
        names = sorted({t for r in recs if isinstance(t := r.extra.get("trace"), str) and t})
        for name in names:
            path = results.root / name
            traces.append({"href": _rel(path, page_dir) if path.is_file() else "", "name": name})
        devices = sorted({str(r.provenance.get("device", "")) for r in recs} - {""})
        sections.append(
            {
                "slug": slug,
                "rows": _profile_rows(recs),
                "plot": _rel(fig.path, page_dir) if fig else "",
                "kernel_source": source,
                "kernel_tables": kernel_tables,
                "traces": traces,
                "devices": devices,
            }
        )
    html = (
        environment()
        .get_template("profile.html")
        .render(baseline=baseline, sections=sections, back=_rel(out_dir / "index.html", page_dir))
    )
    path = page_dir / f"{baseline}.html"
    atomic_write_text(path, html)
    return path
