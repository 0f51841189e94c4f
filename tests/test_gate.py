"""The project's own quality gate: the whole smoke grid (every protocol x every baseline, the
default command's code path with a smaller preset) must match the committed reference, so a change
that silently breaks a metric or a baseline turns CI red; and so must the same grid run as on
another CPU (plain vector kernels, tests/cpu_kernels.py), within the tolerances measured across
kernels (docs/regress.md). The full default run is marked slow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import records as rec
from benchmark.cli import main
from tests.cpu_kernels import OTHER_CPU

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference"


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "results"
    cache = tmp_path_factory.mktemp("smoke-cache")
    # --device cpu: the committed reference was made on CPU (a GPU's numbers differ by
    # floating-point order alone; tests/test_profiling_cuda.py covers the CUDA path)
    code = main(
        [
            "run",
            "--preset",
            "smoke",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
        ]
    )
    assert code == 0
    return out


def test_smoke_grid_runs_every_cell_and_renders_the_leaderboard(smoke_results):
    cells = [r for r in rec.iter_records(smoke_results) if r.metric == rec.CELL]
    failed = {(c.protocol, c.baseline): c.reason for c in cells if c.status != "ok"}
    assert not failed
    assert {c.protocol for c in cells} == {
        "edges2shoes",
        "afhq",
        "animal_faces",
        "celeba_attributes",
        "celeba_stargan",
    }
    assert len({c.baseline for c in cells}) >= 14
    page = smoke_results / "report" / "index.html"
    assert page.is_file() and "edges2shoes" in page.read_text()
    # every table says whose evaluation code its protocol follows, or that none was released
    md = (smoke_results / "report" / "leaderboard.md").read_text()
    assert md.count("Follows ") == 2 and md.count("Own pipeline: ") == 3
    assert "local instrument" not in md  # the smoke grid measures with the pinned classifiers
    assert "Follows clovaai/stargan-v2 metrics/eval.py" in page.read_text()
    assert "% Follows junyanz/BicycleGAN" in (smoke_results / "report" / "tables.tex").read_text()


def _gate(results: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    argv = ["regress", "--results", str(results), "--reference", str(REFERENCE)]
    code = main([*argv, "--tolerance-file", str(REFERENCE / "tolerances.json")])
    return code, capsys.readouterr().out


def test_smoke_grid_passes_the_quality_gate(smoke_results, capsys):
    code, text = _gate(smoke_results, capsys)
    assert code == 0, text


def test_smoke_grid_on_another_cpu_passes_the_quality_gate(tmp_path, capsys):
    """The same grid in a process whose kernels are the plainest: the numbers move (training
    rounds differently) but stay within tolerance, measured with the same frozen instruments."""
    out = tmp_path / "results"
    argv = ["run", "--preset", "smoke", "--device", "cpu", "--no-profile", "--no-report"]
    argv += ["--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, **OTHER_CPU}
    done = subprocess.run(
        [sys.executable, "-m", "benchmark", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    code, text = _gate(out, capsys)
    assert code == 0, text
    assert "within tolerance" in text  # the kernels did change numbers: the check has teeth


@pytest.mark.slow
def test_default_run_finishes(tmp_path):
    """``python run_all.py`` as a user runs it (quick preset), into a private folder."""
    code = main(["run", "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert code == 0
    cells = [r for r in rec.iter_records(tmp_path / "r") if r.metric == rec.CELL]
    assert cells and all(c.status == "ok" for c in cells)
