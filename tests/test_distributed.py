"""Sharded evaluation under torchrun (benchmark.distributed): two CPU processes (gloo) give the
numbers one process gives, print one JSON object and write one set of records.

torchrun gives each process one thread (OMP_NUM_THREADS=1); CPU float sums depend on the
thread count, so the one-process runs compared with here use one thread too. Each run is a
subprocess with an empty torch hub (no Inception weights: the protocol classifier measures)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from baselines.base import Translator
from benchmark import distributed, sampling
from benchmark import records as rec
from benchmark.cli import main
from benchmark.errors import CellFailure
from benchmark.features import ALEXNET_FILE

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("cat", "dog", "wild")
# 50 inputs x 3 outputs and 70 reals: 3 and 2 feature batches of 64, so both ranks work
N_INPUTS, N_REAL = 50, 70


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", TORCH_HOME=str(tmp_path / "torch-home"), PYTHONPATH=str(ROOT))
    return env


def _launch(tmp_path: Path, ranks: int, args: list[str], script: list[str]) -> tuple:
    """(exit status, stdout, stderr) of ``script args`` in one process, or under torchrun."""
    if ranks == 1:
        cmd = [sys.executable, *script, *args]
    else:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd = [*launcher, "--nproc_per_node", str(ranks), *script, *args]
    # a session of its own: should a rank hang, the whole group of processes goes
    with subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=_env(tmp_path),
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"{' '.join(cmd)} hung for 300 s:\n{err[-3000:]}")
    return proc.returncode, out, err


def _close(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and abs(a - b) <= 1e-6 * max(1.0, abs(a)))


# --- the metrics CLI ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """afhq's synthetic twin as folders: N_INPUTS subfolders of a cat, a dog and a wild image,
    N_REAL training cats as reals, and a random-weights AlexNet (LPIPS runs offline)."""
    root = tmp_path_factory.mktemp("folders")
    twin = root / "afhq"
    assert main(["data", "synth", "afhq", "--out", str(twin), "--size", "32"]) == 0
    (root / "real").mkdir()
    for i, src in enumerate(sorted((twin / "train" / "cat").iterdir())[:N_REAL]):
        shutil.copy(src, root / "real" / f"{i:03d}{src.suffix}")
    by_class = {c: sorted((twin / "train" / c).iterdir()) for c in CLASSES}
    for i in range(N_INPUTS):
        sub = root / "fake" / f"in{i:02d}"
        sub.mkdir(parents=True)
        for k, c in enumerate(CLASSES):
            shutil.copy(by_class[c][i], sub / f"{k}{by_class[c][i].suffix}")
    (root / "weights").mkdir()
    torch.manual_seed(0)
    alexnet = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(alexnet, root / "weights" / ALEXNET_FILE)
    return root


def test_metrics_cli_on_two_ranks_equals_one_process(folders, tmp_path):
    metrics = "fid,kid,is,lpips_diversity,feature_diversity"
    got = {}
    for ranks in (1, 2):
        args = ["metrics", "--real", str(folders / "real"), "--fake", str(folders / "fake")]
        args += ["--metrics", metrics, "--extractor", "protocol:afhq", "--json"]
        args += ["--weights-dir", str(folders / "weights"), "--device", "cpu"]
        args += ["--cache-dir", str(tmp_path / f"cache{ranks}")]  # no shared feature cache
        rc, out, err = _launch(tmp_path, ranks, args, ["-m", "benchmark"])
        assert rc == 0, err
        assert len(out.strip().splitlines()) == 1, out  # one JSON object: rank 0's
        got[ranks] = {v["metric"]: v for v in json.loads(out)["metrics"]}
        said = [line for line in err.splitlines() if "torchrun: " in line]
        assert len(said) == (ranks > 1), err  # the world size, once
    assert set(got[1]) == set(got[2]) == set(metrics.split(","))
    for m, one in got[1].items():
        two = got[2][m]
        assert one["status"] == two["status"] == "ok", (m, one, two)
        assert _close(one["value"], two["value"]), (m, one["value"], two["value"])
        assert _close(one["std"], two["std"]), (m, one["std"], two["std"])
    assert got[2]["fid"]["value"] > 1.0 and got[2]["lpips_diversity"]["value"] > 0.0


# --- a grid cell -------------------------------------------------------------------------------
GRID = ["--preset", "smoke", "--protocols", "afhq", "--no-profile", "--no-report"]
GRID += ["--device", "cpu"]


def _grid(tmp_path: Path, ranks: int, out: Path, baselines: str) -> tuple:
    args = [*GRID, "--baselines", baselines, "--out", str(out)]
    return _launch(tmp_path, ranks, [*args, "--cache-dir", str(tmp_path / "cache")], ["run_all.py"])


def _values(out: Path) -> dict[tuple, rec.Record]:
    return {
        (r.protocol, r.baseline, r.seed, r.metric, r.variant, r.extractor): r
        for r in rec.iter_records(out)
        if r.metric != rec.CELL
    }


def test_grid_cell_of_a_stochastic_method_on_two_ranks_equals_one_process(tmp_path):
    """MUNIT draws a style code per output: each batch seeded on its own, whichever rank
    samples it, so every record (FID, KID, IS, diversity, accuracy, ...) is the same."""
    one, two = tmp_path / "one", tmp_path / "two"
    rc, _, err = _grid(tmp_path, 1, one, "munit")
    assert rc == 0, err
    rc, _, err = _grid(tmp_path, 2, two, "munit")
    assert rc == 0, err
    assert len([line for line in err.splitlines() if "torchrun: 2 processes" in line]) == 1
    assert len([line for line in err.splitlines() if "grid finished" in line]) == 1  # rank 0's
    a, b = _values(one), _values(two)
    assert set(a) == set(b)
    scored = {k[3] for k, r in a.items() if r.status == "ok"}
    assert {"fid", "kid", "is", "feature_diversity", "accuracy_top1"} <= scored
    for key, r in a.items():
        assert r.status == b[key].status and _close(r.value, b[key].value), (key, r, b[key])
        assert _close(r.std, b[key].std), key
    (cell,) = [r for r in rec.iter_records(two) if r.metric == rec.CELL]
    assert cell.status == "ok" and cell.provenance["world_size"] == 2
    assert cell.extra["train_steps"] > 0 and cell.extra["final_losses"]  # rank 0 trained
    # the same sample grids; a rerun skips the finished cell on both ranks
    pngs = sorted(p.relative_to(two) for p in (two / "samples").rglob("*.png"))
    assert pngs == sorted(p.relative_to(one) for p in (one / "samples").rglob("*.png"))
    mtimes = {p: p.stat().st_mtime_ns for p in two.rglob("*.json")}
    rc, _, err = _grid(tmp_path, 2, two, "munit")
    assert rc == 0 and "1 already done" in err, err
    assert {p: p.stat().st_mtime_ns for p in two.rglob("*.json")} == mtimes


class NanOnRankOne(Translator):
    """Trains (so rank 1 loads rank 0's checkpoint), then returns NaN images on rank 1 only."""

    name = "nan_on_rank_one_for_tests"
    supports = frozenset({"multi_domain"})
    monitor_loss = "l"

    def __init__(self, task, config="tiny"):
        super().__init__(task, config)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.SGD([self.w], lr=0.1)

    def optimizers(self):
        return {"g": self.opt}

    def train_step(self, batch):
        self.step += 1
        return {"l": 0.0}

    def translate(self, x, *, target=None, latent=None, reference=None):
        return x * float("nan") if distributed.rank() == 1 else x


def test_a_failure_on_one_rank_fails_the_cell_on_every_rank_once(tmp_path):
    out = tmp_path / "out"
    rc, _, err = _grid(tmp_path, 2, out, f"{__name__}:NanOnRankOne")
    assert rc == 1, err  # both ranks took the cell's failure and went on: no rank hung
    (cell,) = [r for r in rec.iter_records(out) if r.metric == rec.CELL]
    assert cell.status == "failed" and "produced NaN/inf images" in cell.reason
    assert len([line for line in err.splitlines() if "failed: CellFailure" in line]) == 1


# --- one process: the helpers are the plain code path ------------------------------------------
def test_one_process_helpers_are_the_plain_code_path():
    assert not distributed.active() and distributed.world_size() == 1 and distributed.is_main()
    assert distributed.broadcast("x") == "x" and distributed.gather("x") == ["x"]
    assert distributed.lead({}, lambda pool: ("ran", pool)) == ("ran", None)
    assert distributed.main_first(lambda: 3) == 3 and distributed.on_main(lambda: 4) == 4
    distributed.agree(None)
    with pytest.raises(CellFailure, match="boom"):
        distributed.agree(CellFailure("boom"))


def test_batch_seeds_differ_by_task_output_and_batch():
    seeds = {sampling.batch_seed(b, j, lo) for b in (1, 2) for j in (0, 1) for lo in (0, 32)}
    assert len(seeds) == 8 and all(0 <= s < 2**63 for s in seeds)
    assert sampling.batch_seed(1, 0, 32) == sampling.batch_seed(1, 0, 32)
