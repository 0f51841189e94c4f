"""A finished grid reruns in seconds: the report is rendered again only when its inputs changed,
and the rerun loads no metric or rendering code. Correctness only; the time itself is measured
by tests/benchmarks/test_rerun_speed.py, never asserted."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import benchmark.report as report
from benchmark import records
from benchmark.records import Record
from benchmark.report import INPUTS_FILE, MAIN_OUTPUTS, render_all

REPO = Path(__file__).resolve().parents[1]


def _fid(seed: int, value: float) -> Record:
    return Record(
        "afhq",
        "a1b2c3d4e5f6",
        "munit",
        seed,
        "fid",
        value,
        variant="latent",
        extractor="protocol:afhq@a1b2c3d4e5f6",
        preset="smoke",
        provenance={"protocol": {"name": "afhq", "modes": ["latent"]}, "display_name": "MUNIT"},
    )


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for seed, value in enumerate((16.0, 16.5, 17.0)):
        records.write(root, _fid(seed, value))
    return root


def _render(root: Path, out: Path, caplog, **kw) -> bool:
    """Render; whether it was skipped as unchanged."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="benchmark"):
        page = render_all(root, out, **kw)
    assert page == out / "index.html" and page.is_file()
    return any("leaderboard unchanged" in r.getMessage() for r in caplog.records)


def _stamps(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}


def test_second_render_of_unchanged_results_is_skipped(results: Path, tmp_path: Path, caplog):
    out = tmp_path / "report"
    assert not _render(results, out, caplog)
    lines = (out / INPUTS_FILE).read_text().splitlines()
    assert len(lines[0]) == 64 and set(MAIN_OUTPUTS) <= set(lines[1:])
    before = _stamps(out)
    assert _render(results, out, caplog)
    assert _stamps(out) == before  # nothing written
    assert _render(results, out, caplog, force=False)
    assert not _render(results, out, caplog, force=True)


def test_a_changed_record_renders_again(results: Path, tmp_path: Path, caplog):
    out = tmp_path / "report"
    assert not _render(results, out, caplog)
    records.write(results, _fid(1, 99.0))  # a cell recomputed with another number
    assert not _render(results, out, caplog)
    assert "99.0" in (out / "results.csv").read_text()
    assert _render(results, out, caplog)
    records.write(results, _fid(3, 18.0))  # a new seed
    assert not _render(results, out, caplog)
    assert _render(results, out, caplog)


def test_new_samples_a_missing_output_other_options_or_changed_code_render_again(
    results: Path, tmp_path: Path, caplog, monkeypatch
):
    out = tmp_path / "report"
    assert not _render(results, out, caplog)
    png = results / "samples" / "afhq-a1b2c3d4e5f6" / "munit" / "seed0" / "cat2dog--latent"
    png.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(png / "x.png")
    assert not _render(results, out, caplog)
    assert _render(results, out, caplog)
    (out / "tables.tex").unlink()
    assert not _render(results, out, caplog)
    assert (out / "tables.tex").is_file()
    assert _render(results, out, caplog)
    assert not _render(results, out, caplog, names={"munit": "MUNIT (ours)"})  # other options
    assert _render(results, out, caplog, names={"munit": "MUNIT (ours)"})
    monkeypatch.setattr(report, "code_version", lambda: "another version of the report code")
    assert not _render(results, out, caplog)
    assert _render(results, out, caplog)


def test_the_code_version_covers_the_report_package_and_its_templates():
    names = {p.relative_to(REPO / "benchmark").as_posix() for p in report.code_files()}
    assert {"report/__init__.py", "report/html.py", "report/tidy.py", "stats.py"} <= names
    assert any(n.startswith("report/templates/") and n.endswith(".html") for n in names)


FINISHED_GRID = """
import sys
from pathlib import Path

import torch

from benchmark import presets
from benchmark.progress import setup_logging
from benchmark.runner import RunConfig, run

setup_logging(False)

cfg = RunConfig(
    protocols=["edges2shoes"],
    baselines=["identity"],
    seeds=[0],
    preset=presets.get("smoke"),
    out=Path(sys.argv[1]),
    device=torch.device("cpu"),
    cache_dir=Path(sys.argv[2]),
    profile=False,
)
counts = run(cfg)
heavy = ("benchmark.metrics", "benchmark.instruments", "benchmark.features", "torch_fidelity",
         "torchvision", "lpips", "matplotlib", "pandas", "benchmark.report.html")
print(counts["done"], counts["skipped"], *sorted(m for m in heavy if m in sys.modules))
"""


def test_a_finished_grid_reruns_without_metric_or_rendering_code(tmp_path: Path):
    out, cache = tmp_path / "results", tmp_path / "cache"

    def grid() -> tuple[list[str], str]:
        done = subprocess.run(
            [sys.executable, "-c", FINISHED_GRID, str(out), str(cache)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split(), done.stderr

    first, log = grid()
    assert first[:2] == ["1", "0"] and "benchmark.metrics" in first
    assert "leaderboard unchanged" not in log
    second, log = grid()
    assert second == ["0", "1"]  # skipped, and none of the heavy modules imported
    assert "leaderboard unchanged" in log
