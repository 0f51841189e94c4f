"""Reliability under real faults: the grid run as users run it (``run_all.py`` in a subprocess),
then interrupted, killed, raced by a second run, fed broken data, or rerun under another
protocol version. ``test_runner.py`` covers the same promises in-process with monkeypatches;
here the signals, the second process and the broken files are real.

The grid tests share one module-scoped cache (synthetic twin, protocol classifier, feature
cache) warmed by a first full run, which trains the afhq classifier (40 s to 2 min on 2 shared
cores). By default only the Ctrl-C test pays for it; the other grid tests are marked slow
(``pytest -m slow tests/test_reliability.py``). The broken-data tests stop before any training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from benchmark import locks, presets, runner
from benchmark import records as rec

REPO = Path(__file__).resolve().parents[1]
CELLS = {("afhq", "identity", 0), ("afhq", "random_real", 0)}
INTERRUPTED = "interrupted: finished records are kept; rerun the same command to resume"
BUSY = "leaving it to that run"
# the grid's per-cell progress line: "grid [1/2]  50%, ETA 5s - afhq/identity/seed0 done"
OUTCOME = re.compile(r"grid \[\d+/\d+\].* - (\w+)/(\w+)/seed(\d+) (done|skipped|failed|busy)$")
RUN_TIMEOUT = 600  # a cold run trains the protocol classifier; 2 shared cores can be slow
POLL = 0.02


def _env(home: Path) -> dict[str, str]:
    """An empty TORCH_HOME: Inception/AlexNet metrics are skipped the same way on every
    machine, so a developer's downloaded weights neither slow nor change these runs."""
    return {**os.environ, "TORCH_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _grid_args(
    out: Path,
    cache: Path,
    *extra: str,
    preset: str = "smoke",
    protocol: str = "afhq",
    baselines: tuple[str, ...] = ("identity", "random_real"),
) -> list[str]:
    return [
        sys.executable, "run_all.py", "--preset", preset, "--protocols", protocol,
        "--baselines", *baselines, "--out", str(out), "--cache-dir", str(cache),
        "--no-report", "--no-profile", *extra,
    ]  # fmt: skip


def _restore_sigint() -> None:
    """Runs in the child before exec: a shell that started pytest in the background may have
    left SIGINT ignored, and Python only turns SIGINT into KeyboardInterrupt when it is not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclasses.dataclass
class Proc:
    popen: subprocess.Popen
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"{self.popen.args} ran past {timeout}s; log:\n{self.log[-3000:]}")

    def outcomes(self) -> dict[tuple[str, str, int], str]:
        found = {}
        for line in self.log.splitlines():
            m = OUTCOME.search(line)
            if m:
                found[(m[1], m[2], int(m[3]))] = m[4]
        return found


@pytest.fixture
def spawn(tmp_path: Path, torch_home: Path) -> Iterator:
    """Start a command in the repo root with its stdout+stderr in a log file; whatever is
    still running when the test ends is killed (only the processes this test started)."""
    started: list[Proc] = []

    def start(args: list[str]) -> Proc:
        log_path = tmp_path / f"run{len(started)}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                args,
                cwd=REPO,
                env=_env(torch_home),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_restore_sigint,
            )
        started.append(Proc(popen, log_path))
        return started[-1]

    yield start
    for p in started:
        if p.popen.poll() is None:
            p.popen.kill()
            p.popen.wait()


def _run(spawn, args: list[str], timeout: float = RUN_TIMEOUT) -> Proc:
    proc = spawn(args)
    proc.wait(timeout)
    return proc


def _ok(proc: Proc) -> None:
    code = proc.popen.returncode
    assert code == 0, f"exit {code}; log:\n{proc.log[-3000:]}"
    assert "Traceback" not in proc.log


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("torch_home")


@dataclasses.dataclass
class Warm:
    cache: Path
    out: Path  # the finished smoke grid the cache was warmed with


@pytest.fixture(scope="module")
def warm(tmp_path_factory, torch_home: Path) -> Warm:
    """One full run: the synthetic twin, the protocol classifier and the feature caches land
    in ``cache``, shared by every test in this module."""
    base = tmp_path_factory.mktemp("reliability")
    w = Warm(cache=base / "cache", out=base / "warm")
    log_path = base / "warm.log"
    with open(log_path, "wb") as log:
        code = subprocess.run(
            _grid_args(w.out, w.cache),
            cwd=REPO,
            env=_env(torch_home),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
        ).returncode
    assert code == 0, log_path.read_text()[-3000:]
    return w


# --- what every fault must leave behind ----------------------------------------------------
def _dot_files(out: Path) -> list[Path]:
    """Temp files of atomic writes: none may outlive a run that stopped. (A cell's ``.lock``
    file stays; its claim is the OS lock, which dies with the process: ``_held``.)"""
    return sorted(p for p in out.rglob(".*") if p.is_file() and p.name != ".lock")


def _held(lock: Path) -> bool:
    """Whether a live process holds the cell's claim."""
    with locks.cell_lock(lock.parent) as mine:
        return not mine


def _lock_pid(lock: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads(lock.read_text())["pid"])
    return None


def _parsed_records(out: Path) -> list[rec.Record]:
    """Every record file parses as a complete record (never half-written)."""
    found = []
    for path in sorted((out / "records").rglob("*.json")):
        if path.name.startswith("."):
            continue
        data = json.loads(path.read_text())  # a truncated file fails here
        r = rec.Record.from_dict(data)
        assert r.protocol and r.protocol_hash and r.baseline and r.metric, path
        assert path == rec.record_path(out, r), f"{path} holds the record of another cell"
        found.append(r)
    return found


def _cells(out: Path) -> dict[tuple[str, str, int], rec.Record]:
    return {
        (r.protocol, r.baseline, r.seed): r for r in _parsed_records(out) if r.metric == rec.CELL
    }


def _cells_ok(out: Path) -> list[rec.Record]:
    """Status records of every protocol version, all of which must say ok."""
    cells = [r for r in _parsed_records(out) if r.metric == rec.CELL]
    assert all(r.status == "ok" for r in cells), [r.reason for r in cells]
    return cells


def _cell_files(out: Path, baseline: str) -> dict[Path, int]:
    (tree,) = (out / "records").glob("afhq-*")
    return {p: p.stat().st_mtime_ns for p in (tree / baseline / "seed0").glob("*.json")}


def _wait_for_cell(proc: Proc, out: Path, baseline: str, timeout: float = RUN_TIMEOUT) -> Path:
    """Block until ``proc`` holds the lock of ``baseline``'s cell, i.e. is inside that cell."""
    deadline = time.monotonic() + timeout
    pattern = f"records/afhq-*/{baseline}/seed0/.lock"
    while time.monotonic() < deadline:
        for lock in out.glob(pattern):
            if _lock_pid(lock) == proc.popen.pid:  # claimed, not just created
                return lock
        if proc.popen.poll() is not None:
            pytest.fail(f"the run ended before reaching {baseline}; log:\n{proc.log[-3000:]}")
        time.sleep(POLL)
    pytest.fail(f"no {baseline} cell started within {timeout}s")


def _assert_grid_complete(out: Path) -> None:
    cells = _cells(out)
    assert set(cells) == CELLS
    assert all(c.status == "ok" for c in cells.values()), {k: c.reason for k, c in cells.items()}
    assert _dot_files(out) == []


# --- 1. Ctrl-C in the middle of a cell ------------------------------------------------------
def test_sigint_mid_cell_keeps_finished_records_and_rerun_completes(warm, tmp_path, spawn):
    out = tmp_path / "out"
    args = _grid_args(out, warm.cache)
    proc = spawn(args)
    _wait_for_cell(proc, out, "random_real")  # identity's cell is finished by now
    finished = _cell_files(out, "identity")
    proc.popen.send_signal(signal.SIGINT)
    code = proc.wait()

    assert code == 130, proc.log[-3000:]
    assert proc.log.rstrip().splitlines()[-1] == INTERRUPTED
    assert "Traceback" not in proc.log
    assert _dot_files(out) == []  # no temp file left behind
    assert not any(_held(lock) for lock in out.rglob(".lock"))  # and no claim
    assert set(_cells(out)) == {("afhq", "identity", 0)}  # the interrupted cell has no status
    assert _cell_files(out, "identity") == finished

    rerun = _run(spawn, args)
    _ok(rerun)
    assert rerun.outcomes() == {
        ("afhq", "identity", 0): "skipped",
        ("afhq", "random_real", 0): "done",
    }
    assert _cell_files(out, "identity") == finished  # resumed, not recomputed
    _assert_grid_complete(out)


def test_ctrl_c_during_a_record_write_leaves_the_old_record_and_no_temp_file(tmp_path, monkeypatch):
    """The subprocess test above can hardly land its signal inside a write; this one does."""
    r = rec.Record(protocol="afhq", protocol_hash="abc", baseline="identity", seed=0, metric="fid")
    path = rec.write(tmp_path, dataclasses.replace(r, value=1.0))

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rec.write(tmp_path, dataclasses.replace(r, value=2.0))
    monkeypatch.undo()
    assert rec.read(path).value == 1.0
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# --- 2. a hard crash (SIGKILL) in the middle of a cell ---------------------------------------
@pytest.mark.slow
def test_sigkill_mid_cell_leaves_whole_records_and_the_stale_lock_is_taken_over(
    warm, tmp_path, spawn
):
    out = tmp_path / "out"
    args = _grid_args(out, warm.cache)
    proc = spawn(args)
    lock = _wait_for_cell(proc, out, "random_real")
    proc.popen.kill()
    assert proc.wait() == -signal.SIGKILL

    _parsed_records(out)  # whatever was written is whole
    assert _lock_pid(lock) == proc.popen.pid  # the dead run's name is still on the file
    assert not _held(lock)  # but its claim died with it
    assert _dot_files(out) == []  # killed before the cell wrote anything
    assert set(_cells(out)) == {("afhq", "identity", 0)}

    rerun = _run(spawn, args)
    _ok(rerun)
    assert BUSY not in rerun.log  # a dead pid's lock does not block the cell
    assert rerun.outcomes()[("afhq", "random_real", 0)] == "done"
    _assert_grid_complete(out)


# --- 3. two runs on one results folder ------------------------------------------------------
@pytest.mark.slow
def test_two_runs_on_one_folder_compute_each_cell_once(warm, tmp_path, spawn):
    """A cell one run finds locked is left to the run holding it (logged as busy, not waited
    for); since that run finishes it, the folder is complete once both have exited."""
    out = tmp_path / "out"
    args = _grid_args(out, warm.cache)
    first, second = spawn(args), spawn(args)
    for p in (first, second):
        p.wait()
        _ok(p)

    _assert_grid_complete(out)
    a, b = first.outcomes(), second.outcomes()
    assert set(a) == set(b) == CELLS, (first.log[-2000:], second.log[-2000:])
    for cell in CELLS:
        outcomes = sorted((a[cell], b[cell]))
        assert outcomes in (["busy", "done"], ["done", "skipped"]), (cell, outcomes)
    busy = [c for c in CELLS if "busy" in (a[c], b[c])]
    assert first.log.count(BUSY) + second.log.count(BUSY) == len(busy)


@pytest.mark.slow
def test_a_cell_finished_by_another_run_just_before_we_lock_it_is_not_rerun(
    warm, tmp_path, monkeypatch
):
    """The unlucky interleaving of two runs, made deterministic: our run sees no status
    record, the other run writes it and releases the lock, then our run takes the lock."""
    cfg = runner.RunConfig(
        protocols=["afhq"],
        baselines=["identity"],
        seeds=[0],
        preset=presets.get("smoke"),
        out=tmp_path / "out",
        device=torch.device("cpu"),
        cache_dir=warm.cache,
        profile=False,
        report=False,
    )
    (theirs,) = (warm.out / "records").glob("afhq-*/identity/seed0")
    real_lock = locks.cell_lock

    @contextlib.contextmanager
    def lock_just_after_the_other_run(directory: Path) -> Iterator[bool]:
        shutil.copytree(theirs, directory, dirs_exist_ok=True)
        with real_lock(directory) as mine:
            yield mine

    monkeypatch.setattr(locks, "cell_lock", lock_just_after_the_other_run)
    assert runner.run(cfg) == {
        "done": 0,
        "skipped": 1,
        "failed": 0,
        "failed earlier": 0,
        "busy": 0,
    }
    (ours,) = (cfg.out / "records").glob("afhq-*/identity/seed0")
    # the records are theirs, untouched (the .lock file names whichever run holds the claim)
    assert {p.name: p.read_bytes() for p in ours.glob("*.json")} == {
        p.name: p.read_bytes() for p in theirs.glob("*.json")
    }


@pytest.mark.slow
def test_two_runs_racing_to_generate_the_synthetic_twin_both_finish(warm, tmp_path, spawn):
    """Two CI jobs sharing a cold ``--cache-dir``: both generate the twin at once; the loser
    must use the winner's copy, not crash. The classifier and features are copied from the
    warm cache (same twin, same content hash) so only the twin is cold."""
    cache = tmp_path / "cache"
    shutil.copytree(warm.cache, cache, ignore=shutil.ignore_patterns("synthetic"))
    out = tmp_path / "out"
    args = _grid_args(out, cache)
    runs = [spawn(args), spawn(args)]
    for p in runs:
        p.wait()
        _ok(p)
    _assert_grid_complete(out)
    (twin,) = (cache / "synthetic").iterdir()  # one twin, no leftover temp folder
    assert not twin.name.startswith(".")


# --- 4. broken datasets: one line, exit 2, nothing recorded ---------------------------------
def _synth(protocol: str, dest: Path, torch_home: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "benchmark", "data", "synth", protocol, "--out", str(dest)],
        cwd=REPO,
        env=_env(torch_home),
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    return dest


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a JPEG")


@pytest.fixture(scope="module")
def afhq_twin(tmp_path_factory, torch_home: Path) -> Path:
    return _synth("afhq", tmp_path_factory.mktemp("afhq_twin") / "afhq", torch_home)


@pytest.fixture(scope="module")
def celeba_twin(tmp_path_factory, torch_home: Path) -> Path:
    return _synth("celeba_attributes", tmp_path_factory.mktemp("celeba") / "celeba", torch_home)


def _assert_one_line_error(proc: Proc, out: Path, names: Path) -> str:
    assert proc.popen.returncode == 2, proc.log[-3000:]
    assert "Traceback" not in proc.log
    errors = [ln for ln in proc.log.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and proc.log.rstrip().splitlines()[-1] == errors[0], proc.log
    assert str(names) in errors[0]
    assert not (out / "records").exists()
    return errors[0]


@pytest.mark.parametrize(
    ("rel", "damage"),
    [
        ("val/cat/flickr_cat_000003.jpg", _truncate),  # a test image: found while loading
        ("train/wild/flickr_wild_000007.jpg", _garbage),  # a train image: found when first read
    ],
    ids=["truncated-test-image", "garbage-train-image"],
)
def test_corrupt_afhq_image_is_one_line_error_naming_it(tmp_path, spawn, afhq_twin, rel, damage):
    data = tmp_path / "afhq"
    shutil.copytree(afhq_twin, data)
    damage(data / rel)
    out = tmp_path / "out"
    proc = _run(spawn, _grid_args(out, tmp_path / "cache", "--data", f"afhq={data}"))
    line = _assert_one_line_error(proc, out, data / rel)
    assert "cannot read image" in line


def _celeba_args(out: Path, cache: Path, data: Path) -> list[str]:
    return _grid_args(
        out, cache, "--data", f"celeba_attributes={data}", protocol="celeba_attributes"
    )


def test_missing_celeba_attribute_file_is_one_line_error(tmp_path, spawn, celeba_twin):
    data = tmp_path / "celeba"
    shutil.copytree(celeba_twin, data)
    (data / "list_attr_celeba.txt").unlink()
    out = tmp_path / "out"
    proc = _run(spawn, _celeba_args(out, tmp_path / "cache", data))
    line = _assert_one_line_error(proc, out, data / "list_attr_celeba.txt")
    assert "missing file" in line


def test_truncated_celeba_test_image_is_one_line_error(tmp_path, spawn, celeba_twin):
    data = tmp_path / "celeba"
    shutil.copytree(celeba_twin, data)
    parts = (data / "list_eval_partition.txt").read_text().split()
    test_file = next(f for f, p in zip(parts[::2], parts[1::2], strict=True) if p == "2")
    image = data / "img_align_celeba" / test_file
    _truncate(image)
    out = tmp_path / "out"
    proc = _run(spawn, _celeba_args(out, tmp_path / "cache", data))
    _assert_one_line_error(proc, out, image)


# --- 5. a new protocol version never mixes with the old one ---------------------------------
@pytest.mark.slow
def test_other_preset_writes_a_separate_protocol_tree_and_report_table(warm, tmp_path, spawn):
    out = tmp_path / "out"
    shutil.copytree(warm.out, out)
    (old_tree,) = (out / "records").iterdir()
    old_hash = old_tree.name.removeprefix("afhq-")
    old_files = {p: p.read_bytes() for p in old_tree.rglob("*.json")}

    # one baseline is enough for a second tree
    _ok(_run(spawn, _grid_args(out, warm.cache, preset="quick", baselines=("identity",))))

    trees = sorted(p.name for p in (out / "records").iterdir())
    assert len(trees) == 2 and f"afhq-{old_hash}" in trees
    (new_tree,) = [t for t in trees if t != f"afhq-{old_hash}"]
    new_hash = new_tree.removeprefix("afhq-")
    assert {p: p.read_bytes() for p in old_tree.rglob("*.json")} == old_files  # untouched
    for r in _parsed_records(out):
        assert (r.protocol_hash, r.preset) in ((old_hash, "smoke"), (new_hash, "quick"))
    done = {(r.protocol_hash, r.baseline) for r in _cells_ok(out)}
    assert done == {(old_hash, "identity"), (old_hash, "random_real"), (new_hash, "identity")}

    report = _run(spawn, [sys.executable, "-m", "benchmark", "report", str(out)])
    _ok(report)
    html = (out / "report" / "index.html").read_text()
    sections = dict(re.findall(r'<section id="(afhq-\w+)" class="([^"]*)"', html))
    assert sections == {f"afhq-{new_hash}": "protocol", f"afhq-{old_hash}": "protocol old"}
    old_section = html[html.index(f'<section id="afhq-{old_hash}"') :]
    old_section = old_section[: old_section.index("</section>")]
    assert f"older protocol version: not comparable with <code>{new_hash}</code>" in old_section
    assert "random_real" in old_section  # the old table keeps its own rows
    new_section = html[html.index(f'<section id="afhq-{new_hash}"') :]
    new_section = new_section[: new_section.index("</section>")]
    assert "older protocol version" not in new_section
    assert "identity" in new_section and "random_real" not in new_section
