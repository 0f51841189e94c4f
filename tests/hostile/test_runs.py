"""Runs as a careful QA engineer breaks them (issue: nothing silently wrong): each case runs the
command a user would type, in a subprocess, and checks the exit code, the one error line, no
traceback, and what is left in the results folder."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import records as rec
from tests.test_runner import HOLD

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 600


def _run(
    out: Path, cache: Path, *extra: str, baselines: tuple[str, ...] = ("identity",), **kw
) -> subprocess.CompletedProcess:
    args = [sys.executable, "run_all.py", "--preset", "smoke", "--protocols", "afhq"]
    args += ["--baselines", *baselines, "--out", str(out), "--cache-dir", str(cache)]
    args += ["--no-report", "--no-profile", "--device", "cpu", *extra]
    return subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False, **kw
    )


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    err = done.stderr
    assert "Traceback" not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and err.rstrip().splitlines()[-1] == lines[0], err[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache holding the afhq twin, made by a first full run (later runs only read it)."""
    cache = tmp_path_factory.mktemp("cache")
    done = _run(tmp_path_factory.mktemp("warm") / "out", cache)
    assert done.returncode == 0, done.stderr[-3000:]
    return cache


@pytest.mark.parametrize(
    ("flag", "needle"),
    [
        ("--data=AFHQ={tmp}", "'AFHQ' is not a protocol of this run"),
        ("--data=edges2shoes={tmp}", "'edges2shoes' is not a protocol of this run"),
        ("--checkpoint=CycleGAN={tmp}", "'CycleGAN' is not a baseline of this run"),
        ("--checkpoint=cyclegan={tmp}/missing.pt", "no such file"),
    ],
)
def test_a_mistyped_key_or_missing_file_is_refused_before_any_work(tmp_path, cache, flag, needle):
    out = tmp_path / "out"
    done = _run(out, cache, flag.format(tmp=tmp_path), baselines=("identity", "cyclegan"))
    assert done.returncode == 2
    assert needle in _one_error_line(done)
    assert not (out / "records").exists()


def test_a_failed_cell_fails_the_run_and_says_how_to_retry_now_and_on_rerun(tmp_path, cache):
    garbage = tmp_path / "cyclegan.pt"
    garbage.write_bytes(os.urandom(256))
    out = tmp_path / "out"
    for _ in range(2):  # the rerun skips the failed cell but says so, and still fails
        done = _run(out, cache, f"--checkpoint=cyclegan={garbage}", baselines=("cyclegan",))
        assert done.returncode == 1, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        assert "--retry-failed" in done.stderr.splitlines()[-1]
    (status,) = [r for r in rec.iter_records(out) if r.metric == rec.CELL]
    assert status.status == "failed" and "cyclegan.pt" in status.reason


def test_a_deleted_or_truncated_record_of_a_finished_cell_is_computed_again(tmp_path, cache):
    out = tmp_path / "out"
    assert _run(out, cache).returncode == 0
    (cell,) = (out / "records").glob("afhq-*/identity/seed0")
    fid, kid = sorted(cell.glob("fid--latent--protocol_*.json")), sorted(cell.glob("kid--*.json"))
    before = {p.name: rec.read(p).value for p in fid + kid}
    fid[0].unlink()
    kid[0].write_text(kid[0].read_text()[:40])
    done = _run(out, cache)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "records are missing or unreadable" in done.stderr
    assert {p.name: rec.read(cell / p.name).value for p in fid + kid} == before


def test_a_cell_held_by_a_live_run_is_left_to_it_and_said_at_the_end(tmp_path, cache):
    out = tmp_path / "out"
    assert _run(out, cache).returncode == 0
    (cell,) = (out / "records").glob("afhq-*/identity/seed0")
    (cell / "_cell.json").unlink()  # the cell must run again, but someone holds it
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(cell / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        done = _run(out, cache)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "being run by another process" in done.stderr.splitlines()[-1]


def _file_size_limit(limit: int):
    def set_limit() -> None:  # like `ulimit -f`: writes past it fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


def test_a_write_past_the_disk_or_size_limit_is_one_line_naming_the_file(tmp_path, cache):
    """A checkpoint that cannot be written stops the run with one line naming it; what was
    finished stays, and the same command resumes once there is room."""
    warm = tmp_path / "cache"
    shutil.copytree(cache, warm)
    out = tmp_path / "out"
    done = _run(out, warm, baselines=("cyclegan",), preexec_fn=_file_size_limit(64 << 10))
    assert done.returncode == 2
    line = _one_error_line(done)
    assert "cannot write " in line and "file-size limit (ulimit -f)" in line and "rerun" in line
    assert "checkpoints" in line  # the file it could not write
    assert not [p for p in out.rglob(".*.tmp")]  # no half-written file
    done = _run(out, warm, baselines=("cyclegan",))
    assert done.returncode == 0, done.stderr[-3000:]
