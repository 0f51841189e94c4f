"""Output folders that cannot be written are one line and exit status 2, before any work
starts, for every subcommand that writes; an OSError mid-run is one line too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import runner
from benchmark.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def a_file(tmp_path):
    f = tmp_path / "results.txt"
    f.write_text("not a folder")
    return f


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["run", "--preset", "smoke", "--out", "{f}"], "--out"),
        (["run", "--preset", "smoke", "--out", "{d}/r", "--cache-dir", "{f}"], "--cache-dir"),
        (["profile", "--baseline", "munit", "--protocol", "edges2shoes", "--out", "{f}"], "--out"),
        (["report", "{d}", "--out", "{f}"], "--out"),
        (["metrics", "--fake", "{d}", "--metrics", "l1", "--cache-dir", "{f}"], "--cache-dir"),
        (["data", "synth", "afhq", "--out", "{f}/twin"], "--out"),
    ],
)
def test_a_file_where_a_folder_is_needed_is_one_line(argv, flag, a_file, tmp_path, capsys):
    argv = [a.format(f=a_file, d=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {flag} {a_file}")
    assert a_file.read_text() == "not a folder"  # nothing was overwritten


def test_an_os_error_mid_run_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    def vanished(*a, **k):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone.json"))

    monkeypatch.setattr(runner, "run", vanished)
    assert main(["run", "--preset", "smoke", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: No such file or directory ({tmp_path / 'gone.json'}); finished records are "
        "kept, fix it and rerun"
    )


def test_the_gate_and_the_report_start_without_torch_or_any_baseline():
    """`regress` and `report` import only their own module (CI gates and report rebuilds
    start in a fraction of a second); `run` still finds every subcommand's parser."""
    code = (
        "import sys; from benchmark.cli import build_parser\n"
        "for cmd in ('regress', 'report'): build_parser([cmd, '--help'])\n"
        "print(sorted(m for m in ('torch', 'baselines', 'protocols') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
