"""The grid through its launchers (``run_all.py --launcher local|submitit``): the same records as an
inline run, one cell per process or job, only pending cells launched, a job that dies recorded
as a failed cell with its log's tail (and resumed from its training checkpoint with
``--retry-failed``), a preempted submitit job requeued and resumed, two launchers on one folder
doing each cell once, and ``python -m benchmark status``.

Everything runs on CPU on the afhq smoke twin; the cache (twin, feature caches) is warmed once
per module by the inline run every launcher is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from baselines.base import Translator
from benchmark import records as rec
from benchmark import status_cli
from benchmark.cli import main
from benchmark.errors import UserError
from benchmark.launchers.manifest import CellId, read_manifests, tail

REPO = Path(__file__).resolve().parents[1]
CELLS = {("afhq", "identity", 0), ("afhq", "cyclegan", 0)}
# the grid's per-cell progress line, inline or launched
OUTCOME = re.compile(r"grid \[\d+/\d+\].* - (\w+)/(\w+)/seed(\d+) (done|skipped|failed|busy)$")
HOLD = (  # holds an OS lock on argv[1] until killed (a live run's claim)
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)
MARKER = "I2I_TEST_DIE_MARKER"  # the test baselines die once: when this file does not exist yet
STEPS = "I2I_TEST_STEPS"  # and append each training step they take to this file
DIE_AT = 3  # the step they die at: the smoke preset checkpoints every 2 of its 4 steps


class _DiesOnce(Translator):
    """Trains 4 smoke steps, logging each; at step 3 (its checkpoint is at step 2) it sends
    itself ``sig`` once per marker file: a kill, an out-of-memory kill, a preemption."""

    supports = frozenset({"paired", "unpaired", "multi_domain", "few_shot", "attributes"})
    monitor_loss = "l"
    sig = signal.SIGKILL

    def __init__(self, task, config="tiny"):
        super().__init__(task, config)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.SGD([self.w], lr=0.1)

    def optimizers(self):
        return {"g": self.opt}

    def train_step(self, batch):
        marker = os.environ.get(MARKER)
        if self.step == DIE_AT and marker and not Path(marker).exists():
            Path(marker).write_text(f"{os.getpid()}\n")
            os.kill(os.getpid(), self.sig)
            time.sleep(60)  # a handled signal (SIGUSR2) raises here
        with open(os.environ[STEPS], "a") as f:
            f.write(f"{self.step}\n")
        self.step += 1
        return {"l": 0.0}

    def translate(self, x, *, target=None, latent=None, reference=None):
        return x


class KilledOnce(_DiesOnce):
    name, sig = "killed_once_for_tests", signal.SIGKILL


class PreemptedOnce(_DiesOnce):
    name, sig = "preempted_once_for_tests", signal.SIGUSR2  # submitit's preemption signal


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An empty TORCH_HOME (Inception metrics skipped alike in every process) and the repo on
    the path of every child (the test baselines are ``tests.test_launchers:...``)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        path = os.environ.get("PYTHONPATH")
        mp.setenv("PYTHONPATH", str(REPO) + (os.pathsep + path if path else ""))
        mp.chdir(REPO)
        yield


@pytest.fixture(scope="module")
def cache(tmp_path_factory, env) -> Path:
    return tmp_path_factory.mktemp("cache")


def _args(out: Path, cache: Path, *extra: str, baselines=("identity", "cyclegan")) -> list[str]:
    return [
        "run", "--preset", "smoke", "--protocols", "afhq", "--baselines", *baselines,
        "--out", str(out), "--cache-dir", str(cache), "--no-profile", "--no-report", *extra,
    ]  # fmt: skip


def _values(out: Path) -> dict[tuple, tuple]:
    return {
        (r.protocol, r.protocol_hash, r.baseline, r.seed, r.metric, r.variant, r.extractor): (
            r.status,
            r.value,
            r.std,
            r.reason,
        )
        for _, r in rec.read_folder(out)
        if r.kind != "cell"
    }


def _cells(out: Path) -> dict[tuple, rec.Record]:
    return {
        (r.protocol, r.baseline, r.seed): r for r in rec.iter_records(out) if r.metric == rec.CELL
    }


def _steps(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()]


def _status(out: Path, capsys) -> str:
    capsys.readouterr()
    assert status_cli.cmd_status(argparse.Namespace(results=out)) == 0
    return capsys.readouterr().out


def _row(text: str, label: str) -> list[str]:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(label + " ")]
    return line.split()


@pytest.fixture(scope="module")
def inline(tmp_path_factory, cache) -> Path:
    """The inline run every launcher must match (and the cache's warm-up)."""
    out = tmp_path_factory.mktemp("inline") / "results"
    assert main(_args(out, cache)) == 0
    return out


# --- the same records as inline ---------------------------------------------------------------
def _outcomes(log: str) -> dict[tuple, str]:
    return {(m[1], m[2], int(m[3])): m[4] for m in map(OUTCOME.search, log.splitlines()) if m}


def test_local_launcher_writes_the_inline_records_and_launches_only_pending_cells(
    inline, cache, tmp_path, capsys
):
    out = tmp_path / "results"
    capsys.readouterr()
    assert main(_args(out, cache, "--launcher", "local", "--jobs", "2")) == 0
    log = capsys.readouterr().err
    assert _values(out) == _values(inline)
    assert {k: c.status for k, c in _cells(out).items()} == dict.fromkeys(CELLS, "ok")
    assert _outcomes(log) == dict.fromkeys(CELLS, "done")
    (manifest,), problems = read_manifests(out)
    assert not problems and manifest["launcher"] == "local" and manifest["submitted_at"]
    assert {(c.protocol, c.baseline, c.seed) for c, _, _ in manifest["cells"]} == CELLS
    jobs = {c.baseline: job for c, job, _ in manifest["cells"]}
    assert sorted(jobs.values()) == sorted(manifest["job_ids"])
    for _, _, child_log in manifest["cells"]:  # each child's own log, under the hidden .launch/
        assert ".launch" in Path(child_log).parts
        assert "one cell in a process of its own" in Path(child_log).read_text()
    listing = _status(out, capsys)
    for baseline in ("identity", "cyclegan"):
        row = _row(listing, f"afhq/{baseline}/seed0")
        assert row[1:3] == ["done", jobs[baseline]] and row[3].endswith("s")
    assert listing.splitlines()[-1] == "2 cells: 2 done, 0 running, 0 failed, 0 pending"

    # finished cells are not launched again: no child, no new manifest
    assert main(_args(out, cache, "--launcher", "local")) == 0
    log = capsys.readouterr().err
    assert "nothing to launch: every cell of the grid is recorded" in log
    assert "2 cell(s) finished earlier" in log and not _outcomes(log)
    assert len(read_manifests(out)[0]) == 1


def test_submitit_debug_cluster_runs_each_job_in_this_process(inline, cache, tmp_path):
    out = tmp_path / "results"
    assert main(_args(out, cache, "--launcher", "submitit", "--cluster", "debug")) == 0
    assert _values(out) == _values(inline)
    (manifest,), _ = read_manifests(out)
    assert all(job.startswith("DEBUG_") for _, job, _ in manifest["cells"])


# --- a job that dies, a job that is preempted -----------------------------------------------
@pytest.fixture
def dies_once(tmp_path, monkeypatch):
    marker, steps = tmp_path / "died", tmp_path / "steps"
    monkeypatch.setenv(MARKER, str(marker))
    monkeypatch.setenv(STEPS, str(steps))
    return marker, steps


def test_a_killed_child_is_a_failed_cell_with_its_log_tail_and_resumes_on_retry(
    cache, tmp_path, dies_once, capsys
):
    marker, steps = dies_once
    out = tmp_path / "results"
    args = _args(out, cache, "--launcher", "local", baselines=("tests.test_launchers:KilledOnce",))
    assert main(args) == 1  # a failed cell: exit 1, as inline
    assert marker.is_file()
    (cell,) = _cells(out).values()
    assert cell.status == "failed" and cell.baseline == KilledOnce.name
    assert "was killed by SIGKILL without recording the cell" in cell.reason
    assert "its log ends: " in cell.reason and "\n" not in cell.reason
    assert f"training {KilledOnce.name} on afhq" in cell.reason  # the child's last lines
    assert cell.provenance["wall_time_s"] > 0 and cell.provenance["method"]["fingerprint"]
    listing = _status(out, capsys)
    row = _row(listing, f"afhq/{KilledOnce.name}/seed0")
    assert row[1] == "failed" and "SIGKILL" in listing
    assert _steps(steps) == [0, 1, 2]

    # a failed cell stays failed (exit 1, nothing launched) until retried; it then resumes
    # from its training checkpoint (step 2) instead of starting over
    assert main(args) == 1
    assert _steps(steps) == [0, 1, 2]
    assert main([*args, "--retry-failed"]) == 0
    (cell,) = _cells(out).values()
    assert cell.status == "ok"
    assert _steps(steps) == [0, 1, 2, 2, 3]


def test_a_preempted_submitit_job_requeues_itself_and_resumes_from_its_checkpoint(
    cache, tmp_path, dies_once
):
    marker, steps = dies_once
    out = tmp_path / "results"
    ref = "tests.test_launchers:PreemptedOnce"
    assert (
        main(_args(out, cache, "--launcher", "submitit", "--cluster", "local", baselines=(ref,)))
        == 0
    )
    assert marker.is_file()  # it was preempted
    (cell,) = _cells(out).values()
    assert cell.status == "ok"
    assert _steps(steps) == [0, 1, 2, 2, 3]  # requeued, resumed at its step-2 checkpoint
    (manifest,), _ = read_manifests(out)
    ((_, job, log),) = manifest["cells"]
    text = Path(log).read_text()
    assert "preempted or out of time; requeued" in text
    assert "resuming training at step 2/4" in text


def test_a_dead_submitit_job_is_a_failed_cell_with_its_stderr_tail(cache, tmp_path, dies_once):
    marker, steps = dies_once
    out = tmp_path / "results"
    ref = "tests.test_launchers:KilledOnce"
    args = _args(out, cache, "--launcher", "submitit", "--cluster", "local", baselines=(ref,))
    assert main(args) == 1
    (cell,) = _cells(out).values()
    (manifest,), _ = read_manifests(out)
    ((_, job, _),) = manifest["cells"]
    assert cell.status == "failed"
    assert cell.reason.startswith(f"job {job} (")
    assert "ended without recording the cell; its log ends: " in cell.reason
    assert f"training {KilledOnce.name} on afhq" in cell.reason
    assert _steps(steps) == [0, 1, 2]  # resumed with --retry-failed: the test above


# --- two launchers, one folder --------------------------------------------------------------
def test_two_launchers_started_at_once_on_one_folder_run_each_cell_once(cache, inline, tmp_path):
    out = tmp_path / "results"
    cells = CELLS | {("afhq", "random_real", 0)}
    args = _args(
        out,
        cache,
        "--launcher",
        "local",
        "--jobs",
        "2",
        baselines=("identity", "cyclegan", "random_real"),
    )
    logs, procs = [], []
    for i in range(2):
        logs.append(tmp_path / f"launcher{i}.log")
        with open(logs[-1], "wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "run_all.py", *args[1:]],
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        for p, log in zip(procs, logs):
            assert p.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    done: dict[tuple, int] = {}
    for log in logs:
        for key, outcome in _outcomes(log.read_text()).items():
            done[key] = done.get(key, 0) + (outcome == "done")
    assert done == dict.fromkeys(cells, 1), [log.read_text()[-2000:] for log in logs]
    assert {k: c.status for k, c in _cells(out).items()} == dict.fromkeys(cells, "ok")
    values = _values(out)
    assert {k: v for k, v in values.items() if k[2] != "random_real"} == _values(inline)


# --- --no-wait, status ------------------------------------------------------------------------
def test_no_wait_prints_the_job_ids_and_status_follows_the_jobs(cache, inline, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(_args(out, cache, "--launcher", "submitit", "--cluster", "local", "--no-wait"))
    assert code == 0
    printed = capsys.readouterr().out
    (manifest,), _ = read_manifests(out)
    ids = manifest["job_ids"]
    assert len(ids) == 2 and f"submitted 2 jobs: {' '.join(ids)}" in printed
    deadline = time.monotonic() + 600
    seen = set()
    while time.monotonic() < deadline:
        listing = _status(out, capsys)
        seen |= {_row(listing, f"afhq/{b}/seed0")[1] for b in ("identity", "cyclegan")}
        if listing.splitlines()[-1] == "2 cells: 2 done, 0 running, 0 failed, 0 pending":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the jobs did not finish: {listing}")
    assert "done" in seen and seen <= {"pending", "running", "done"}
    assert _values(out) == _values(inline)
    assert {k: c.status for k, c in _cells(out).items()} == dict.fromkeys(CELLS, "ok")
    assert manifest["launcher"] == "submitit" and manifest["cluster"] == "local"
    for cell, job, log in manifest["cells"]:  # one job per cell, its folder under .launch/
        assert _row(listing, cell.label)[2] == job
        assert Path(log).parent == out / ".launch" / "submitit" / job
        assert f"{cell.label}: job {job}" in Path(log).read_text()


def test_status_lists_each_state_with_job_ids_and_times(tmp_path, capsys):
    out = tmp_path / "results"
    h = "abc123"
    base = dict(protocol="afhq", protocol_hash=h, seed=0, metric=rec.CELL)
    rec.write(
        out,
        rec.Record(
            baseline="identity", provenance={"wall_time_s": 75.0}, extra={"records": []}, **base
        ),
    )
    rec.write(
        out,
        rec.Record(
            baseline="munit",
            status="failed",
            reason="job 7_2 (interrupted) ended without recording the cell; its log ends: x | y",
            provenance={"wall_time_s": 3.0},
            **base,
        ),
    )
    running = CellId("afhq", h, "cyclegan", 0).folder(out)
    running.mkdir(parents=True)
    (running / ".lock").write_text(
        json.dumps({"host": "node7", "pid": 4242, "since": time.time() - 125})
    )
    pending = CellId("afhq", h, "drit", 0)
    manifest = {
        "launcher": "submitit",
        "submitted_at": "2030-01-01T00:00:00Z",
        "cells": [
            {**c.__dict__, "job_id": f"7_{i}", "log": f"/logs/7_{i}.err"}
            for i, c in enumerate(
                [CellId("afhq", h, b, 0) for b in ("identity", "cyclegan", "munit")] + [pending]
            )
        ],
        "job_ids": ["7_0", "7_1", "7_2", "7_3"],
    }
    (out / ".launch").mkdir()
    (out / ".launch" / "20300101T000000_000000000Z.json").write_text(json.dumps(manifest))
    (out / ".launch" / "20300101T000001_000000000Z.json").write_text("{not json")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(running / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert status_cli.cmd_status(argparse.Namespace(results=out)) == 0
        captured = capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    listing = captured.out
    assert _row(listing, "afhq/identity/seed0")[1:4] == ["done", "7_0", "1m15s"]
    assert _row(listing, "afhq/cyclegan/seed0")[1:3] == ["running", "7_1"]
    assert "process 4242 on node7" in listing and "/logs/7_1.err" in listing
    assert _row(listing, "afhq/munit/seed0")[1:4] == ["failed", "7_2", "3s"]
    assert "its log ends: x | y" in listing
    assert _row(listing, "afhq/drit/seed0")[1:3] == ["pending", "7_3"]
    assert "launched 2030-01-01T00:00:00Z (submitit); log /logs/7_3.err" in listing
    assert listing.splitlines()[-1] == "4 cells: 1 done, 1 running, 1 failed, 1 pending"
    assert "unreadable launch manifest" in captured.err
    # the claim is free again: the cell is no longer running (never recorded: pending)
    assert _row(_status(out, capsys), "afhq/cyclegan/seed0")[1] == "pending"


def test_status_reads_records_only_without_torch(tmp_path):
    rec.write(
        tmp_path,
        rec.Record(protocol="afhq", protocol_hash="h", baseline="b", seed=0, metric=rec.CELL),
    )
    code = (
        "import argparse, sys, pathlib\n"
        "from benchmark import status_cli\n"
        "status_cli.cmd_status(argparse.Namespace(results=pathlib.Path(sys.argv[1])))\n"
        "assert 'torch' not in sys.modules, 'status imported torch'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "1 cells: 1 done, 0 running, 0 failed, 0 pending"


def test_status_of_a_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        status_cli.cmd_status(argparse.Namespace(results=tmp_path / "nowhere"))


# --- mistakes: one line, exit 2, before any work ------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--jobs", "2"], "--jobs applies to --launcher local, not inline"),
        (
            ["--launcher", "local", "--slurm-partition", "gpu"],
            "--slurm-partition applies to --launcher submitit",
        ),
        (["--launcher", "local", "--jobs", "0"], "--jobs 0: must be at least 1"),
        (
            ["--launcher", "submitit", "--jobs", "2"],
            "--jobs applies to --launcher local, not submitit",
        ),
        (["--launcher", "submitit", "--cluster", "local", "--slurm-time", "0"], "--slurm-time 0"),
        (
            ["--launcher", "submitit", "--cluster", "debug", "--no-wait"],
            "--no-wait with --cluster debug",
        ),
        (["--launcher", "local", "--device", "cuda:1"], "--launcher local pins each cell"),
        (
            ["--launcher", "submitit", "--cluster", "local", "--device", "cuda:1"],
            "a job computes on the GPU",
        ),
        (
            ["--launcher", "submitit", "--cluster", "local", "--device", "tpu"],
            "unknown device 'tpu'",
        ),
    ],
)
def test_launcher_mistakes_are_one_line_before_any_work(tmp_path, capsys, extra, expected):
    out = tmp_path / "results"
    assert main(_args(out, tmp_path / "cache", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected in err, err
    assert not (out / "records").exists() and not (out / ".launch").exists()


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="this machine has Slurm")
def test_slurm_without_sbatch_is_one_line(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(_args(out, tmp_path / "cache", "--launcher", "submitit")) == 2
    err = capsys.readouterr().err.strip()
    assert "--cluster slurm: sbatch is not on PATH here" in err
    assert not (out / "records").exists()


def test_a_reason_is_one_line_from_the_last_lines_of_a_log():
    log = "\n".join(f"line {i}" for i in range(20)) + "\n\n" + "x" * 1000 + "\n"
    got = tail(log, lines=3, width=50)
    assert got == "line 18 | line 19 | " + "x" * 47 + "..."
