"""The grid end to end on the synthetic twins: records per cell, resume, interruption, failures."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import baselines
import protocols
from baselines.base import Translator
from baselines.schedule import Schedule
from benchmark import locks, presets
from benchmark import records as rec
from benchmark.cli import main
from benchmark.plan import scored_modes
from benchmark.runner import RunConfig, run

ALL_PROTOCOLS = ["edges2shoes", "afhq", "animal_faces", "celeba_attributes"]
HOLD = (  # holds an OS lock on argv[1] until killed
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)
ORACLES = ["identity", "random_real", "ground_truth"]


def _cfg(tmp_path: Path, cache: Path, **kw) -> RunConfig:
    base = dict(
        protocols=ALL_PROTOCOLS,
        baselines=ORACLES,
        seeds=[0],
        preset=presets.get("smoke"),
        out=tmp_path / "results",
        device=torch.device("cpu"),
        cache_dir=cache,
        profile=False,
        report=False,
    )
    base.update(kw)
    return RunConfig(**base)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _cells(out: Path) -> dict[tuple, rec.Record]:
    return {
        (r.protocol, r.baseline, r.seed): r for r in rec.iter_records(out) if r.metric == rec.CELL
    }


def test_oracle_grid_records_every_cell_and_resumes(tmp_path, cache):
    cfg = _cfg(tmp_path, cache)
    counts = run(cfg)
    cells = _cells(cfg.out)
    # ground_truth only applies to the paired protocol: 4 x 2 + 1 cells
    assert counts == {"done": 9, "skipped": 0, "failed": 0, "failed earlier": 0, "busy": 0}
    assert all(c.status == "ok" for c in cells.values())
    assert ("edges2shoes", "ground_truth", 0) in cells
    metrics = [r for r in rec.iter_records(cfg.out) if r.metric != rec.CELL]
    assert metrics and all(r.protocol_hash and r.provenance.get("code_revision") for r in metrics)
    for r in metrics:
        assert r.provenance["dataset"]["fingerprint"]
        assert r.provenance["versions"]["torch"]
    # the ground-truth oracle is perfect on paired quality, identity is not
    l1 = {r.baseline: r.value for r in metrics if r.metric == "l1" and r.protocol == "edges2shoes"}
    assert l1["ground_truth"] == pytest.approx(0.0, abs=1e-6) and l1["identity"] > 0.05
    # a finished grid reruns without redoing anything
    mtimes = {p: p.stat().st_mtime_ns for p in cfg.out.rglob("*.json")}
    assert run(cfg) == {"done": 0, "skipped": 9, "failed": 0, "failed earlier": 0, "busy": 0}
    assert {p: p.stat().st_mtime_ns for p in cfg.out.rglob("*.json")} == mtimes


class _Broken(Translator):
    """A generator that diverges (NaN loss) or returns the wrong shape, per ``mode``."""

    supports = frozenset({"paired", "unpaired", "multi_domain", "few_shot", "attributes"})
    monitor_loss = "l"
    mode = ""

    def __init__(self, task, config="tiny"):
        super().__init__(task, config)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.SGD([self.w], lr=0.1)

    def optimizers(self):
        return {"g": self.opt}

    def train_step(self, batch):
        self.step += 1
        return {"l": float("nan") if self.mode == "nan" else 0.0}

    def translate(self, x, *, target=None, latent=None, reference=None):
        return x[:, :, :8] if self.mode == "shape" else x


class _Diverges(_Broken):
    name, mode = "diverges_for_tests", "nan"


class _WrongShape(_Broken):
    name, mode = "wrong_shape_for_tests", "shape"


@pytest.fixture
def broken():
    for cls in (_Diverges, _WrongShape):
        baselines.register(cls)
    yield
    for cls in (_Diverges, _WrongShape):
        baselines.REGISTRY.remove(cls.name)


def test_diverging_baseline_fails_its_cell_and_the_grid_goes_on(tmp_path, cache, broken):
    cfg = _cfg(tmp_path, cache, protocols=["edges2shoes"], baselines=[_Diverges.name, "identity"])
    counts = run(cfg)
    cells = _cells(cfg.out)
    assert counts["failed"] == 1 and counts["done"] == 1
    failed = cells[("edges2shoes", _Diverges.name, 0)]
    assert failed.status == "failed" and "diverged at step 0" in failed.reason
    assert cells[("edges2shoes", "identity", 0)].status == "ok"


def test_wrong_output_shape_fails_its_cell(tmp_path, cache, broken):
    cfg = _cfg(tmp_path, cache, protocols=["afhq"], baselines=[_WrongShape.name])
    run(cfg)
    (cell,) = _cells(cfg.out).values()
    assert cell.status == "failed" and "returned shape" in cell.reason


def test_interrupt_mid_cell_loses_nothing_finished_and_rerun_completes(
    tmp_path, cache, monkeypatch
):
    from benchmark import sampling

    cfg = _cfg(tmp_path, cache, protocols=["afhq"], baselines=["identity", "random_real"])
    real = sampling.sample_task
    calls = {"n": 0}

    def interrupt_in_second_cell(model, task, data, c):
        calls["n"] += 1
        if model.name == "random_real":
            raise KeyboardInterrupt
        return real(model, task, data, c)

    monkeypatch.setattr(sampling, "sample_task", interrupt_in_second_cell)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.undo()
    cells = _cells(cfg.out)
    assert set(cells) == {("afhq", "identity", 0)}
    leftovers = [p for p in cfg.out.rglob("*") if p.name.startswith(".") and p.is_file()]
    assert [p.name for p in leftovers] == [".lock", ".lock"]  # no temp files
    for lock in leftovers:  # and no claim: the OS lock went with the interrupted cell
        with locks.cell_lock(lock.parent) as mine:
            assert mine
    assert run(cfg)["done"] == 1
    assert set(_cells(cfg.out)) == {("afhq", "identity", 0), ("afhq", "random_real", 0)}


def test_run_cli_rejects_bad_data_root_with_one_line(tmp_path, capsys):
    code = main(
        [
            "run",
            "--data-root",
            str(tmp_path / "nowhere"),
            "--protocols",
            "afhq",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --data-root") and "afhq/" in err
    assert not (tmp_path / "r" / "records").exists()


def test_second_run_on_the_same_folder_skips_a_cell_held_by_a_live_run(tmp_path, cache):
    cfg = _cfg(tmp_path, cache, protocols=["afhq"], baselines=["identity"])
    from benchmark.runner import load_protocol

    data = load_protocol("afhq", cfg)
    cell = rec.cell_dir(cfg.out, "afhq", data.protocol.hash, "identity", 0)
    cell.mkdir(parents=True)
    # a .lock naming a live but unrelated process (a reused PID) claims nothing
    (cell / ".lock").write_text(json.dumps({"host": "x", "pid": os.getppid(), "since": 0}))
    holder = subprocess.Popen(  # a live run's claim: the OS lock on the file
        [sys.executable, "-c", HOLD, str(cell / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run(cfg)["busy"] == 1
    finally:
        holder.kill()
        holder.wait()
    assert run(cfg)["done"] == 1  # the claim died with its holder


def test_few_shot_training_never_sees_a_target_class(tmp_path, cache):
    """FUNIT's training batches come from source classes only, whatever the seed."""
    from benchmark.plan import make_sampler
    from benchmark.runner import load_protocol

    data = load_protocol("animal_faces", _cfg(tmp_path, cache))
    target_classes = {it.domain for it in data.test.items}
    seen = []
    real_images = data.images
    data.images = lambda items: seen.extend(items) or real_images(items)
    sampler = make_sampler(data, "few_shot")
    for step in range(50):
        batch = sampler(torch.Generator().manual_seed(step), 8)
        assert int(batch["y"].max()) < len({it.domain for it in data.train.items})
    assert seen and not ({it.domain for it in seen} & target_classes)


class _LrRecorder(_Broken):
    """Records the learning rate and batch size of every step; raises once at step 5 when
    ``stop_once`` is set (an interrupted paper-preset run)."""

    name = "lr_recorder_for_tests"
    paper_schedule = Schedule(
        3, batch_size=16, unit="epochs", decay="linear", decay_start=1, offset=1, source="test"
    )
    seen: list[tuple[int, float, int]] = []
    stop_once = False

    def train_step(self, batch):
        if _LrRecorder.stop_once and self.step == 5:
            _LrRecorder.stop_once = False
            raise KeyboardInterrupt
        _LrRecorder.seen.append((self.step, self.opt.param_groups[0]["lr"], len(batch["x"])))
        self.step += 1
        return {"l": 0.0}


def test_paper_preset_trains_each_method_on_its_own_schedule_and_resumes_it(tmp_path, cache):
    baselines.register(_LrRecorder)
    try:
        # the paper preset's per-method schedule, on the smoke twin (checkpoint every 2 steps)
        preset = dataclasses.replace(presets.get("smoke"), train_steps=None, batch_size=None)
        cfg = _cfg(tmp_path, cache, protocols=["edges2shoes"], baselines=[_LrRecorder.name])
        cfg.preset = preset
        _LrRecorder.seen, _LrRecorder.stop_once = [], True
        with pytest.raises(KeyboardInterrupt):
            run(cfg)
        assert [s for s, _, _ in _LrRecorder.seen] == [0, 1, 2, 3, 4]
        run(cfg)
    finally:
        baselines.REGISTRY.remove(_LrRecorder.name)
    (cell,) = _cells(cfg.out).values()
    # one epoch = every training pair: the twin's train/ holds one A|B file per pair
    root = cache / "synthetic" / "edges2shoes-32px-seed0" / "train"
    pairs = len([p for p in root.iterdir() if p.suffix == ".jpg"])
    per_epoch = -(-pairs // 16)
    sched = cell.extra["schedule"]["all"]
    assert (sched["epoch_size"], sched["total_steps"]) == (pairs, 3 * per_epoch)
    assert cell.extra["train_steps"] == 3 * per_epoch and sched["source"] == "test"
    steps = [s for s, _, _ in _LrRecorder.seen]
    # resumed from the step-4 checkpoint: step 4 runs again, nothing is skipped
    assert steps == [0, 1, 2, 3, 4, *range(4, 3 * per_epoch)]
    for step, lr, bs in _LrRecorder.seen:
        epoch = step // per_epoch  # lambda_rule with epoch_count 1, niter 1, niter_decay 2
        assert bs == 16
        assert lr == pytest.approx(0.1 * (1 - max(0, epoch + 1 - 1) / 3))


def test_unstable_speed_profile_is_recorded_and_warned_while_the_cell_stands(
    tmp_path, cache, monkeypatch, caplog
):
    from benchmark import profiling

    shaky = [10.0, 29.0, 30.0, 10.2, 29.5]  # median/min = 29 / 10: a busy machine
    monkeypatch.setattr(profiling, "time_calls", lambda fn, device, repeats, warmup: shaky)
    cfg = _cfg(tmp_path, cache, protocols=["edges2shoes"], baselines=["pix2pix"], profile=True)
    with caplog.at_level("WARNING", logger="benchmark"):
        assert run(cfg)["done"] == 1
    latency = [r for r in rec.iter_records(cfg.out) if r.metric == "latency_ms"]
    assert latency and all(r.status == "ok" and r.extra["unstable"] for r in latency)
    (warning,) = [m for m in caplog.messages if "unstable" in m]
    assert "pix2pix" in warning and "median/min = 2.9x" in warning
    assert "quality metrics are unaffected" in warning


@pytest.mark.parametrize(
    ("protocol", "baseline", "modes"),
    [
        ("afhq", "cyclegan", ("latent",)),
        ("afhq", "stargan", ("latent",)),
        ("afhq", "munit", ("latent", "reference")),
        ("afhq", "stargan_v2", ("latent", "reference")),
        ("afhq", "identity", ("latent", "reference")),  # oracles anchor every column
        ("animal_faces", "funit", ("reference",)),  # the K shots are the few-shot input
        ("edges2shoes", "pix2pix", ("latent",)),
    ],
)
def test_reference_guided_synthesis_is_scored_only_for_methods_that_take_a_reference(
    protocol, baseline, modes
):
    spec = protocols.get(protocol).spec(image_size=32, max_inputs=4, max_outputs=2, preset="smoke")
    assert scored_modes(spec, baselines.get(baseline)) == modes


def test_a_method_without_reference_input_gets_skipped_reference_cells_with_the_reason(
    tmp_path, cache, monkeypatch
):
    seen = []
    cyclegan = baselines.get("cyclegan")
    real = cyclegan.translate

    def spy(self, x, **kw):
        seen.append(kw.get("reference") is not None)
        return real(self, x, **kw)

    monkeypatch.setattr(cyclegan, "translate", spy)
    cfg = _cfg(tmp_path, cache, protocols=["afhq"], baselines=["cyclegan"])
    assert run(cfg)["done"] == 1
    assert seen and not any(seen)  # never asked to follow a reference it would ignore
    got = {(r.metric, r.variant, r.extractor): r for r in rec.iter_records(cfg.out)}
    latent_ok = {(m, e) for (m, v, e), r in got.items() if v == "latent" and r.status == "ok"}
    reference = {(m, e): r for (m, v, e), r in got.items() if v == "reference"}
    assert latent_ok and set(reference) == latent_ok
    for r in reference.values():
        assert (r.status, r.value) == ("skipped", None)
        assert (
            r.reason
            == "cyclegan takes no style reference; reference-guided synthesis does not apply"
        )


def test_each_variant_is_scored_once_its_tasks_are_sampled(tmp_path, cache, monkeypatch):
    """Few-shot at paper scale is 30,000 outputs per K: the runner scores K=1 and lets its
    outputs go before sampling K=5, instead of holding all five."""
    from benchmark import metrics

    calls = []
    real = metrics.evaluate

    def spy(samples, ctx):
        calls.append([s.task for s in samples])
        return real(samples, ctx)

    monkeypatch.setattr(metrics, "evaluate", spy)
    cfg = _cfg(tmp_path, cache, protocols=["animal_faces", "afhq"], baselines=["identity"])
    assert run(cfg)["done"] == 2
    assert calls[:5] == [["k=1"], ["k=5"], ["k=10"], ["k=15"], ["k=20"]]
    # afhq: a mode's six tasks together (latent, then reference)
    assert [len(c) for c in calls[5:]] == [6, 6]


def test_few_shot_keeps_reference_images_only_for_the_inputs_it_saves(tmp_path, cache, monkeypatch):
    from benchmark import sampling

    kept = []
    real = sampling.save_samples

    def spy(samples, folder, count):
        kept.append((samples.num_inputs, samples.references.shape[:2], count))
        real(samples, folder, count)

    monkeypatch.setattr(sampling, "save_samples", spy)
    cfg = _cfg(tmp_path, cache, protocols=["animal_faces"], baselines=["identity"])
    assert run(cfg)["done"] == 1
    for (n, (saved, refs), count), k in zip(kept, (1, 5, 10, 15, 20), strict=True):
        assert n > count and (saved, refs) == (count, k)  # not one per input
    first = next((cfg.out / "samples").rglob("k=20--reference/0000"))
    assert len(list(first.glob("ref_*.png"))) == 4  # the grid shows four of the K


def test_few_shot_holds_each_content_image_once(tmp_path, cache, monkeypatch):
    """Every content image goes into every class; the samples keep the image once and an index
    per output group, which gives back exactly the repeated inputs."""
    from benchmark import sampling

    seen = []
    real = sampling.sample_task

    def spy(model, task, data, cfg):
        samples = real(model, task, data, cfg)
        seen.append((samples, data.images(task.inputs)))
        return samples

    monkeypatch.setattr(sampling, "sample_task", spy)
    cfg = _cfg(tmp_path, cache, protocols=["animal_faces"], baselines=["identity"])
    assert run(cfg)["done"] == 1
    for samples, repeated in seen:
        n_classes = len(set(samples.target_class.tolist()))
        assert samples.inputs.shape[0] * n_classes == samples.num_inputs == len(repeated)
        assert torch.equal(samples.expand_inputs(samples.inputs), repeated)
        assert torch.equal(samples.input(n_classes), repeated[n_classes])
