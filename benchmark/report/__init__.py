"""Reports rendered from the records alone: HTML leaderboard, Markdown, LaTeX, CSV, plots,
sample grids and per-baseline profile pages. ``render_all`` is what run_all.py calls."""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.records import atomic_write_text
from benchmark.report import grids as grids_mod
from benchmark.report import html, plots, tables
from benchmark.report.model import Results, collect

log = logging.getLogger("benchmark")


def render_all(results_dir: str | Path, out_dir: str | Path) -> Path:
    """Render every report of ``results_dir`` into ``out_dir``; returns the HTML page's path.

    Raises UserError (one line) for a missing or empty results folder or a corrupt record.
    """
    results: Results = collect(Path(results_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grids: dict[str, list[grids_mod.Grid]] = {}
    figs: dict[str, list[plots.Plot]] = {}
    for t in results.tables:
        grids[t.slug] = grids_mod.render_grids(results.root, t.slug, out)
        made = (plots.quality_diversity(t, out), plots.quality_vs_speed(t, out))
        figs[t.slug] = [p for p in (*made, plots.metric_vs_seed(t, out)) if p]
    profile_pages = {
        b: html.render_profile_page(b, per_slug, results, out)
        for b, per_slug in results.profiles.items()
    }
    atomic_write_text(out / "leaderboard.md", tables.markdown(results))
    atomic_write_text(out / "tables.tex", tables.latex(results))
    atomic_write_text(out / "results.csv", tables.csv_text(results))
    page = html.render_leaderboard(results, out, grids, figs, profile_pages)
    log.info(f"report: {len(results.tables)} tables from {len(results.records)} records -> {page}")
    return page


__all__ = ["render_all"]
