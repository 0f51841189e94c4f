"""Reports rendered from the records alone: HTML leaderboard, Markdown, LaTeX, CSV, plots,
sample grids and per-baseline profile pages. ``render_all`` is what run_all.py calls.

A report is rendered again only when what it is made of changed: every record file (path and
bytes), the list of sample images and traces beside them, and the report's own code (this
package's modules and templates, and the modules it reads records with). Their sha256 is kept
in ``<out>/.inputs.sha256`` with the files the render wrote; when it matches and every one of
them exists, ``render_all`` says "leaderboard unchanged" and returns at once, so rerunning a
finished grid takes seconds. The rendering modules (matplotlib, pandas, jinja2) are imported
only when a report is rendered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmark.records import atomic_write_text, record_files

log = logging.getLogger("benchmark")

INPUTS_FILE = ".inputs.sha256"
# what every render writes; the stamp lists these and whatever else it wrote (grids, plots)
MAIN_OUTPUTS = (
    "index.html",
    "leaderboard.md",
    "tables.tex",
    "paper.tex",
    "results.csv",
    "profile.csv",
)
_PACKAGE = Path(__file__).resolve().parent
_CODE_SUFFIXES = (".py", ".html", ".css", ".js")
# the modules outside this package whose code shapes a report (numbers, formats, reading)
_SHARED_CODE = ("stats.py", "records.py", "timing.py", "atomic.py", "errors.py", "values.py")
_MTIME_SLACK_NS = 2_000_000_000  # file times are coarser than the clock


def code_files() -> list[Path]:
    """The report's code: this package's modules and templates, and the modules it uses."""
    own = [p for p in _PACKAGE.rglob("*") if p.is_file() and p.suffix in _CODE_SUFFIXES]
    own = [p for p in own if "__pycache__" not in p.parts]
    shared = [_PACKAGE.parent / name for name in _SHARED_CODE]
    return sorted(own) + [p for p in shared if p.is_file()]


def code_version() -> str:
    """sha256 over the report code's files (paths and bytes): a changed module or template
    renders the report again."""
    h = hashlib.sha256()
    for path in code_files():
        h.update(f"{path.relative_to(_PACKAGE.parent).as_posix()}\0".encode())
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _files(root: Path) -> Iterable[Path]:
    """Every file under ``root``, in a stable order (none when it does not exist)."""
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            yield Path(folder) / name


def inputs_digest(
    results_dir: str | Path, out_dir: str | Path, options: dict[str, Any] | None = None
) -> str:
    """sha256 over what a report of ``results_dir`` is made of: each record file's path and
    bytes, the sample images' and traces' paths and sizes, the report code (``code_version``),
    the options shaping the tables, and where the results are (the page names them and links
    to them)."""
    root = Path(results_dir)
    h = hashlib.sha256()

    def part(*items: object) -> None:
        for item in items:
            h.update(item if isinstance(item, bytes) else str(item).encode())
            h.update(b"\0")

    part("results", root, os.path.relpath(root.resolve(), Path(out_dir).resolve()))
    part("options", json.dumps(options or {}, sort_keys=True, default=str))
    for path in record_files(root / "records"):
        part("record", path.relative_to(root).as_posix(), path.read_bytes())
    for folder in ("samples", "traces"):
        for path in _files(root / folder):
            part(folder, path.relative_to(root).as_posix(), path.stat().st_size)
    part("code", code_version())
    return h.hexdigest()


def _unchanged(out: Path, digest: str) -> bool:
    """The stamp says these inputs, and every file that render wrote is still there."""
    try:
        lines = (out / INPUTS_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    if not lines or lines[0].strip() != digest:
        return False
    outputs = [line for line in lines[1:] if line.strip()]
    if not set(MAIN_OUTPUTS) <= set(outputs):
        return False
    return all((out / name).is_file() for name in outputs)


def _written_since(out: Path, start_ns: int) -> list[str]:
    """The files under ``out`` written by this render (atomic writes make new files)."""
    since = start_ns - _MTIME_SLACK_NS
    return sorted(
        path.relative_to(out).as_posix()
        for path in _files(out)
        if path.name != INPUTS_FILE
        and not any(p.startswith(".") for p in path.relative_to(out).parts)
        and path.stat().st_mtime_ns >= since
    )


def render_all(
    results_dir: str | Path, out_dir: str | Path, *, force: bool = False, **options: Any
) -> Path:
    """Render every report of ``results_dir`` into ``out_dir``; returns the HTML page's path.

    ``options`` shape the tables as ``benchmark.report.model.collect`` takes them (``names``,
    ``highlight``, ``digits``, ``metrics``, ``baselines``: `python -m benchmark report`'s flags).
    Nothing is rendered when the inputs and options are those of the last render into
    ``out_dir`` and its files are all there (``force`` renders anyway). Raises UserError (one
    line) for a missing or empty results folder, a corrupt record or an unknown name.
    """
    out = Path(out_dir)
    page = out / "index.html"
    digest = None
    if (Path(results_dir) / "records").is_dir():  # else collect() says what is wrong
        digest = inputs_digest(results_dir, out, options)
        if not force and _unchanged(out, digest):
            log.info(
                f"leaderboard unchanged: {page} (same records, samples and report code as "
                f"when it was rendered; inputs sha256 {digest[:12]})"
            )
            return page
    start_ns = time.time_ns()
    written = _render(Path(results_dir), out, options)
    if digest is not None:
        outputs = sorted(set(_written_since(out, start_ns)) | set(MAIN_OUTPUTS))
        atomic_write_text(out / INPUTS_FILE, "\n".join([digest, *outputs]) + "\n")
    return written


def _render(results_dir: Path, out: Path, options: dict[str, Any]) -> Path:
    from benchmark.report import grids as grids_mod
    from benchmark.report import html, latex, plots, tables, tidy
    from benchmark.report.model import collect

    results = collect(results_dir, **options)
    out.mkdir(parents=True, exist_ok=True)
    (out / INPUTS_FILE).unlink(missing_ok=True)  # a render cut short leaves no stamp
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
    latex.write_paper(out, results)  # tables.tex, and paper.tex around it
    atomic_write_text(out / "results.csv", tidy.csv_text(results))
    atomic_write_text(out / "profile.csv", tidy.profile_csv_text(results))
    page = html.render_leaderboard(results, out, grids, figs, profile_pages)
    log.info(f"report: {len(results.tables)} tables from {len(results.records)} records -> {page}")
    return page


__all__ = ["render_all"]
