"""The grid: protocol x baseline x seed. Each cell trains or loads, samples, scores and records.

Resumable by construction: a cell whose ``_cell`` record and every record it lists exist and
parse is skipped (a deleted or truncated one makes it run again); training resumes from its last
atomic checkpoint. A cell that fails (diverged, wrong output) is recorded as failed with its
reason and the grid goes on; the run then exits 1 and says how to retry (``--retry-failed``).
Runs sharing a results folder claim cells with OS locks (benchmark.locks).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import baselines
import protocols
from baselines import schedule as schedules
from baselines.base import Translator
from benchmark import datasets, instruments, locks, presets, provenance
from benchmark import device as devices
from benchmark import records as rec
from benchmark.atomic import atomic_path
from benchmark.errors import CellFailure, DiskFull, UserError, output_folder
from benchmark.instruments import Located
from benchmark.plan import (
    EvalTask,
    domain_pairs,
    epoch_size,
    eval_tasks,
    how_to_run,
    make_sampler,
    pair_spec,
    scored_modes,
    task_spec_for,
    variant_of,
)
from benchmark.progress import Progress, fmt_seconds, log
from benchmark.samples import TaskSamples
from benchmark.timing import unstable_note
from protocols.base import Item, ProtocolData, to_uint8

CLASSIFIER_ROW = "protocol_classifier"  # pseudo-baseline holding each protocol's classifier scores
EVAL_BATCH = 32


@dataclass
class RunConfig:
    protocols: list[str]
    baselines: list[str]
    seeds: list[int]
    preset: presets.Preset
    out: Path
    device: torch.device
    data_root: Path | None = None
    data: dict[str, Path] = field(default_factory=dict)
    checkpoints: dict[str, Path] = field(default_factory=dict)
    classifiers: dict[str, Path] = field(default_factory=dict)  # --classifier PROTOCOL=FILE
    train_classifiers: bool = False
    weights_dir: Path | None = None
    cache_dir: Path = Path(".cache")
    retry_failed: bool = False
    profile: bool = True
    report: bool = True


# --- data -----------------------------------------------------------------------------------
def load_protocol(name: str, cfg: RunConfig) -> ProtocolData:
    root = datasets.resolve(
        name, cfg.data.get(name), cfg.data_root, cfg.preset.synthetic_size, cfg.cache_dir
    )
    return datasets.load(name, root, cfg.preset)


# --- cells ----------------------------------------------------------------------------------
class Pairwise:
    """One two-domain model per unordered domain pair (as StarGAN v2 trained its baselines)."""

    def __init__(self, models: dict[tuple[int, int], Translator]) -> None:
        self.models = models

    def route(self, source: int, target: int) -> tuple[Translator, int]:
        pair = (min(source, target), max(source, target))
        return self.models[pair], 1 if target == pair[1] else 0


def _base_provenance(cfg: RunConfig, data: ProtocolData) -> dict[str, Any]:
    return {
        "protocol": data.protocol.to_dict(),
        "dataset": data.describe(),
        "code_revision": provenance.code_revision(),
        "versions": provenance.library_versions(),
        "device": devices.describe(cfg.device),
    }


def schedule_for(model: Translator, preset: presets.Preset) -> schedules.Schedule:
    """The preset's constant schedule, or under ``paper`` the method's own."""
    if preset.train_steps is None or preset.batch_size is None:
        if model.paper_schedule is None:
            raise UserError(
                f"{model.name} has no paper_schedule; give it one in baselines/{model.name}.py "
                "(see baselines/schedule.py) or run another preset"
            )
        return model.paper_schedule
    return schedules.constant(preset.train_steps, preset.batch_size, f"preset {preset.name}")


def train_model(
    model: Translator,
    data: ProtocolData,
    kind: str,
    pair: tuple[int, int] | None,
    cfg: RunConfig,
    seed: int,
    ckpt: Path,
    label: str,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Train to the schedule's step count, resuming from ``ckpt``; NaN losses fail the cell.
    Returns the last losses and the schedule as it ran (for the cell record)."""
    sched = schedule_for(model, cfg.preset)
    n_epoch = epoch_size(data, kind, pair)
    steps = sched.total_steps(n_epoch)
    if ckpt.is_file():
        model.load(ckpt)
        if model.step:
            log.info(f"{label}: resuming training at step {model.step}/{steps}")
    sampler = make_sampler(data, kind, pair)
    losses: dict[str, float] = {}
    progress = Progress(max(0, steps - model.step), f"training {label}")
    model.train()
    while model.step < steps:
        step = model.step
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        torch.manual_seed(seed * 1_000_003 + step)
        batch = {k: v.to(cfg.device) for k, v in sampler(g, sched.batch_size).items()}
        schedules.set_lr(model.optimizers(), sched.lr_factor(step, n_epoch))
        losses = model.train_step(batch)
        if model.step != step + 1:
            raise CellFailure(f"{model.name}.train_step did not advance its step counter")
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise CellFailure(f"diverged at step {step}: loss {bad[0]} = {losses[bad[0]]}")
        if model.step % cfg.preset.checkpoint_every == 0 or model.step == steps:
            model.save(ckpt)
        progress.update(detail=", ".join(f"{k} {v:.3f}" for k, v in list(losses.items())[:3]))
    return losses, {**sched.to_dict(), "total_steps": steps, "epoch_size": n_epoch}


def build_models(
    name: str, data: ProtocolData, cfg: RunConfig, seed: int, cell: Path
) -> tuple[Translator | Pairwise, dict[str, Any]]:
    """Build (and train, or load a given checkpoint) what a cell evaluates."""
    cls = baselines.get(name)
    protocol = data.protocol
    how = how_to_run(cls, protocol.kind)
    info: dict[str, Any] = {"how": how, "losses": {}, "schedule": {}}
    ckpt_dir = cfg.out / "checkpoints" / cell.relative_to(cfg.out / "records")

    def one(spec, kind, pair, tag):
        torch.manual_seed(seed)
        model = baselines.build(name, config=cfg.preset.config, task=spec).to(cfg.device)
        if name in cfg.checkpoints:
            model.load(cfg.checkpoints[name])
            model.to(cfg.device)
        elif cls.trainable:
            label = f"{name} on {protocol.name}{tag} (seed {seed})"
            key = tag or "all"
            info["losses"][key], info["schedule"][key] = train_model(
                model, data, kind, pair, cfg, seed, ckpt_dir / f"model{tag or ''}.pt", label
            )
        model.eval()
        model.prepare(data)
        return model

    if how == "direct":
        return one(task_spec_for(protocol, data), protocol.kind, None, ""), info
    if how == "unpaired":
        spec = pair_spec(protocol, "unpaired", (0, 1))
        return one(spec, "unpaired", (0, 1), ""), info
    models = {}
    for pair in domain_pairs(protocol):
        tag = f"-{protocol.domains[pair[0]]}-{protocol.domains[pair[1]]}"
        models[pair] = one(pair_spec(protocol, "unpaired", pair), "unpaired", pair, tag)
    return Pairwise(models), info


@torch.no_grad()
def sample_task(
    model: Translator | Pairwise, task: EvalTask, data: ProtocolData, cfg: RunConfig
) -> TaskSamples:
    """Run one evaluation task: K outputs for every input, checked for shape and NaN."""
    if isinstance(model, Pairwise):
        net, target = model.route(task.source_domain, task.target_domain)
    else:
        net, target = model, task.target
    # each distinct input is loaded and kept once; few-shot sends every content image into
    # every target class, so at paper scale 30,000 groups share 1,000 images
    rows: dict[tuple[str, str | None], tuple[int, Item]] = {}
    index = torch.tensor(
        [rows.setdefault((it.path, it.crop), (len(rows), it))[0] for it in task.inputs]
    )
    distinct = [it for _, it in rows.values()]
    x_all = data.images(distinct)
    n, k = len(task.inputs), data.protocol.outputs_per_input
    outs = torch.empty(n, k, *x_all.shape[1:])
    dev = cfg.device
    for j in range(k):
        for lo in range(0, n, EVAL_BATCH):
            hi = min(n, lo + EVAL_BATCH)
            x = x_all[index[lo:hi]].to(dev)
            kwargs: dict[str, Any] = {}
            if torch.is_tensor(target):
                kwargs["target"] = target[lo:hi].to(dev)
            elif target is not None:
                kwargs["target"] = target
            if task.references is not None:
                refs = task.references[j][lo:hi]
                r = torch.stack([data.images(row) for row in refs]).to(dev)
                kwargs["reference"] = r if data.protocol.kind == "few_shot" else r[:, 0]
            y = net.translate(x, **kwargs)
            if tuple(y.shape) != tuple(x.shape):
                raise CellFailure(
                    f"{net.name} returned shape {tuple(y.shape)} for input {tuple(x.shape)}"
                )
            if not torch.isfinite(y).all():
                raise CellFailure(f"{net.name} produced NaN/inf images on task {task.task}")
            outs[lo:hi, j] = y.float().cpu()  # raw: each metric clamps or quantises as its
            # protocol says (StarGAN v2 scores LPIPS on unclamped outputs)
    # references only of the inputs saved as samples: metrics never read them, and few-shot
    # K=20 for all 30,000 inputs at 128 px would take 118 GB
    shown = min(n, cfg.preset.save_inputs) if task.references is not None else 0
    refs_t = None
    if shown:
        refs_t = torch.stack(
            [
                torch.stack([data.images(task.references[j][i]) for j in range(k)])
                for i in range(shown)
            ]
        ).flatten(1, 2)
    return TaskSamples(
        task=task.task,
        mode=task.mode,
        inputs=x_all,
        input_index=None if len(distinct) == n else index,
        outputs=outs,
        target_class=task.target_class,
        real_target=data.images(task.real),
        real_target_name=task.real_name,
        real_target_labels=torch.tensor([it.domain for it in task.real]),
        target_attrs=task.target_attrs,
        edited_attr=task.edited_attr,
        ground_truth=data.images(task.ground_truth) if task.ground_truth else None,
        references=refs_t,
        input_factors=[it.factors for it in task.inputs] if data.synthetic else None,
        multimodal=bool(net.multimodal),
        extra=dict(task.extra),
    )


def save_samples(samples: TaskSamples, folder: Path, count: int) -> None:
    """PNG files of the first ``count`` inputs, for sample grids and the metrics CLI."""
    from PIL import Image

    def png(t: torch.Tensor, path: Path) -> None:
        # atomic like every other file: a full disk is one line naming it, never half a PNG
        with atomic_path(path, suffix=".png") as tmp:
            Image.fromarray(to_uint8(t).permute(1, 2, 0).numpy()).save(tmp)

    for i in range(min(count, samples.num_inputs)):
        d = folder / f"{samples.task}--{samples.mode}" / f"{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        png(samples.input(i), d / "input.png")
        for j in range(samples.outputs_per_input):
            png(samples.outputs[i, j], d / f"out_{j:02d}.png")
        if samples.ground_truth is not None:
            png(samples.ground_truth[i], d / "target.png")
        if samples.references is not None:
            for j, r in enumerate(samples.references[i][:4]):
                png(r, d / f"ref_{j:02d}.png")


def to_record(value: Any, base: dict[str, Any], **ids: Any) -> rec.Record:
    prov = {**base, **(value.provenance or {})}
    return rec.Record(
        metric=value.metric,
        value=value.value,
        std=value.std,
        variant=value.variant,
        extractor=value.extractor,
        direction=value.direction,
        status=value.status,
        reason=value.reason,
        provenance=prov,
        extra=value.extra or {},
        **ids,
    )


def _finished(status_path: Path, cfg: RunConfig) -> str | None:
    """ "ok" when the cell's status record and every record it lists exist and parse; "failed"
    for an unretried failure; None when the cell must run (again): a deleted or truncated
    record of a finished cell is computed again, never left as a hole in the leaderboard."""
    if not status_path.is_file():
        return None
    try:
        status = rec.read(status_path)
    except UserError:
        log.warning(f"{status_path} is unreadable; computing its cell again")
        return None
    if status.status != "ok":
        return None if cfg.retry_failed else "failed"
    lost = []
    for name in status.extra.get("records", []):
        try:
            rec.read(status_path.parent / name)
        except UserError:
            lost.append(name)
    if lost:
        log.info(
            f"{status_path.parent}: {len(lost)} of its records are missing or unreadable "
            f"({', '.join(lost[:3])}{', ...' if len(lost) > 3 else ''}); computing the cell again"
        )
        return None
    return "ok"


def not_applicable(values: list[Any], modes: list[str], name: str) -> list[Any]:
    """For each synthesis mode a baseline is not scored in (``scored_modes``), every metric its
    latent outputs were scored in, recorded as skipped with the reason: the table then says
    why the cell is empty instead of showing a number the method never earned."""
    from benchmark.metrics import MetricValue

    reason = f"{name} takes no style reference; reference-guided synthesis does not apply"
    return [
        MetricValue(
            v.metric,
            None,
            variant=mode,
            extractor=v.extractor,
            direction=v.direction,
            status="skipped",
            reason=reason,
        )
        for mode in modes
        for v in values
        if v.variant == "latent" and v.status == "ok"  # a metric not computed at all stays so
    ]


def run_cell(
    data: ProtocolData, mctx: _MetricsContext, name: str, seed: int, cfg: RunConfig
) -> str:
    """Run one (protocol, baseline, seed) cell; returns 'done', 'skipped', 'failed' or 'busy'."""
    from benchmark import metrics

    protocol = data.protocol
    cell = rec.cell_dir(cfg.out, protocol.name, protocol.hash, name, seed)
    status_path = cell / f"{rec.CELL}.json"
    earlier = _finished(status_path, cfg)
    if earlier:
        return "skipped" if earlier == "ok" else "failed earlier"
    ctx = mctx.get()  # not inside the cell's try: broken data or weights stop the run (exit 2)
    ids = {
        "protocol": protocol.name,
        "protocol_hash": protocol.hash,
        "baseline": name,
        "seed": seed,
        "config": cfg.preset.config,
        "preset": cfg.preset.name,
    }
    base = _base_provenance(cfg, data)
    base["seed"] = seed
    base["oracle"] = baselines.get(name).oracle
    with locks.cell_lock(cell) as mine:
        if not mine:
            log.info(
                f"{protocol.name}/{name}/seed{seed}: {locks.holder(cell)} is running it; "
                "leaving it to that run"
            )
            return "busy"
        earlier = _finished(status_path, cfg)  # another run may have finished it meanwhile
        if earlier:
            return "skipped" if earlier == "ok" else "failed earlier"
        start = time.monotonic()
        try:
            model, info = build_models(name, data, cfg, seed, cell)
            sample_dir = cfg.out / "samples" / cell.relative_to(cfg.out / "records")
            torch.manual_seed(seed)
            modes = scored_modes(protocol, baselines.get(name))
            tasks = [t for t in eval_tasks(protocol, data, seed) if t.mode in modes]
            # each metric variant (a mode, a K) is scored as soon as its last task is sampled
            # and its outputs let go: few-shot at paper scale holds one K's outputs, not five
            last = {variant_of(protocol, t): i for i, t in enumerate(tasks)}
            values, pending, sample_time = [], defaultdict(list), 0.0
            for i, task in enumerate(tasks):
                tick = time.monotonic()
                samples = sample_task(model, task, data, cfg)
                save_samples(samples, sample_dir, cfg.preset.save_inputs)
                sample_time += time.monotonic() - tick
                variant = variant_of(protocol, task)
                pending[variant].append(samples)
                if last[variant] == i:
                    values += metrics.evaluate(pending.pop(variant), ctx)
            left = [m for m in protocol.modes if m not in modes]
            written = [
                rec.write(cfg.out, to_record(value, base, **ids))
                for value in values + not_applicable(values, left, name)
            ]
            if cfg.profile and baselines.get(name).trainable:  # oracles have no speed to report
                try:
                    written += _profile_cell(model, data, cfg, cell, base, ids)
                except (RuntimeError, OSError) as exc:  # a profiler failure is not a model's
                    log.warning(f"profiling {name} failed: {exc}; the cell's metrics stand")
            status = rec.Record(
                metric=rec.CELL,
                status="ok",
                provenance={**base, "wall_time_s": round(time.monotonic() - start, 3)},
                extra={
                    "how": info["how"],
                    "final_losses": info["losses"],
                    "train_steps": max(
                        (sc["total_steps"] for sc in info["schedule"].values()), default=0
                    ),
                    "schedule": info["schedule"],
                    "sampling_s": round(sample_time, 3),
                    # what a complete cell holds: a rerun recomputes it if any goes missing
                    "records": sorted(p.name for p in written),
                },
                **ids,
            )
            rec.write(cfg.out, status)
            return "done"
        except (DiskFull, KeyboardInterrupt):
            raise
        except (CellFailure, UserError, RuntimeError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning(f"{protocol.name}/{name}/seed{seed} failed: {reason}")
            rec.write(
                cfg.out,
                rec.Record(
                    metric=rec.CELL,
                    status="failed",
                    reason=reason,
                    provenance={**base, "wall_time_s": round(time.monotonic() - start, 3)},
                    **ids,
                ),
            )
            return "failed"


def _profile_cell(model, data, cfg, cell, base, ids) -> list[Path]:
    from benchmark import profiling

    net = next(iter(model.models.values())) if isinstance(model, Pairwise) else model
    trace_dir = cfg.out / "traces" / cell.relative_to(cfg.out / "records")
    values = profiling.profile_translator(
        net,
        net.task,
        batch_sizes=cfg.preset.profile_batch_sizes,
        device=cfg.device,
        repeats=cfg.preset.profile_repeats,
        warmup=1,
        trace_dir=trace_dir,
        results_dir=cfg.out,
        shots=max(data.protocol.shots, default=1),
        modes=profiling.profile_modes(data.protocol, net.reference_guided),
    )
    written = [rec.write(cfg.out, to_record(value, base, **ids)) for value in values]
    shaky = [v for v in values if v.metric == "latency_ms" and v.extra.get("unstable")]
    if shaky:
        worst = max(v.extra["spread"] for v in shaky)
        sizes = ", ".join(v.variant for v in shaky)
        log.warning(
            f"speed profile of {net.name} at {sizes}: {unstable_note(worst)}; quality metrics "
            "are unaffected, `python -m benchmark profile` remeasures speed"
        )
    return written


class _MetricsContext:
    """Prepares the protocol's metrics (classifier training or loading) only when a cell first
    needs them, so a finished grid reruns in seconds; records the classifier's own scores once."""

    def __init__(self, data: ProtocolData, cfg: RunConfig, located: Located) -> None:
        self.data, self.cfg, self.located, self._ctx = data, cfg, located, None

    def get(self) -> Any:
        if self._ctx is None:
            from benchmark import metrics

            data, cfg, protocol = self.data, self.cfg, self.data.protocol
            clf = self.located.load(protocol, data, cfg.device, cfg.cache_dir)
            log.info(
                f"protocol classifier {protocol.name}: {clf.id} ({clf.instrument}, {clf.path})"
            )
            self._ctx = metrics.prepare(
                protocol, data, cfg.device, cfg.cache_dir, cfg.weights_dir, seed=0, classifier=clf
            )
            ids = {
                "protocol": protocol.name,
                "protocol_hash": protocol.hash,
                "baseline": CLASSIFIER_ROW,
                "seed": 0,
                "config": "",
                "preset": cfg.preset.name,
            }
            base = _base_provenance(cfg, data)
            for value in self._ctx.classifier_report():
                record = to_record(value, base, **ids)
                if not rec.record_path(cfg.out, record).is_file():
                    rec.write(cfg.out, record)
        return self._ctx


def plan_cells(cfg: RunConfig, data: ProtocolData) -> list[str]:
    kind = data.protocol.kind
    return [b for b in cfg.baselines if how_to_run(baselines.get(b), kind) is not None]


def run(cfg: RunConfig) -> dict[str, int]:
    """Run the whole grid; returns the count of cells per outcome: done, skipped (finished
    earlier), failed, failed earlier (not retried), busy (left to another run)."""
    counts = {"done": 0, "skipped": 0, "failed": 0, "failed earlier": 0, "busy": 0}
    cfg.out.mkdir(parents=True, exist_ok=True)
    loaded = [load_protocol(name, cfg) for name in cfg.protocols]  # validate all data first
    for data in loaded:
        datasets.verify(data, cfg.cache_dir)
    located = {  # and find every instrument before any work
        d.protocol.name: instruments.locate(
            d.protocol,
            cfg.classifiers.get(d.protocol.name),
            cfg.weights_dir,
            cfg.train_classifiers,
        )
        for d in loaded
    }
    total = sum(len(plan_cells(cfg, d)) * len(cfg.seeds) for d in loaded)
    log.info(
        f"grid: {len(loaded)} protocols, {len(cfg.baselines)} baselines, {len(cfg.seeds)} seeds "
        f"= {total} cells (preset {cfg.preset.name}, device {devices.describe(cfg.device)})"
    )
    grid = Progress(total, "grid", every=0)
    start = time.monotonic()
    for data in loaded:
        protocol = data.protocol
        log.info(f"== {protocol.name} (protocol hash {protocol.hash})")
        mctx = _MetricsContext(data, cfg, located[protocol.name])
        for name in plan_cells(cfg, data):
            for seed in cfg.seeds:
                outcome = run_cell(data, mctx, name, seed, cfg)
                counts[outcome] += 1
                grid.update(detail=f"{protocol.name}/{name}/seed{seed} {outcome}", force=True)
    log.info(
        f"grid finished in {fmt_seconds(time.monotonic() - start)}: {counts['done']} run, "
        f"{counts['skipped']} already done, {counts['failed']} failed, "
        f"{counts['failed earlier']} failed in an earlier run, {counts['busy']} busy"
    )
    if cfg.report:
        from benchmark.report import render_all

        page = render_all(cfg.out, cfg.out / "report")
        log.info(f"leaderboard: {page}")
    failed = counts["failed"] + counts["failed earlier"]
    if failed:
        log.warning(
            f"{failed} cell(s) failed (reasons above and in the leaderboard); fix the cause and "
            "rerun the same command with --retry-failed to run them again"
        )
    if counts["busy"]:
        log.warning(
            f"{counts['busy']} cell(s) were being run by another process and were left to it; "
            "rerun the same command after it finishes to see them here"
        )
    return counts


# --- CLI ------------------------------------------------------------------------------------
def _kv(items: list[str], flag: str, allowed: list[str] | None = None) -> dict[str, Path]:
    """``NAME=PATH`` pairs; with ``allowed``, a name outside it is refused (a mistyped key
    must never fall back to a default silently)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"{flag} {item}: expected NAME=PATH")
        k, v = item.split("=", 1)
        if allowed is not None and k not in allowed:
            what = "baseline" if flag == "--checkpoint" else "protocol"
            raise UserError(
                f"{flag} {item}: '{k}' is not a {what} of this run (names are case-sensitive); "
                f"use one of {', '.join(allowed)}"
            )
        out[k] = Path(v)
    return out


def _checkpoints(given: dict[str, Path]) -> dict[str, Path]:
    """Every ``--checkpoint`` file exists before any work: a typo is one line, not a failed
    cell found an hour into a grid."""
    for name, path in given.items():
        if not path.is_file():
            raise UserError(f"--checkpoint {name}={path}: no such file; fix the path")
    return given


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocols", nargs="+", default=None, help="default: all")
    p.add_argument("--baselines", nargs="+", default=None, help="default: all")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0..N-1)")
    p.add_argument("--preset", default=presets.DEFAULT, choices=list(presets.PRESETS))
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding one dataset folder per protocol (DIR/afhq/train/...)",
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="dataset folder for one protocol (repeatable)",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="BASELINE=PATH",
        help="evaluate these weights instead of training (authors' files load as is)",
    )
    p.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="folder with standard extractor weights (Inception, AlexNet)",
    )
    p.add_argument(
        "--classifier",
        action="append",
        default=[],
        metavar="PROTOCOL=FILE",
        help="the protocol classifier file to measure with (default: the one the protocol pins)",
    )
    p.add_argument(
        "--train-classifiers",
        action="store_true",
        help="train a local classifier where none is pinned or given (records say so)",
    )
    p.add_argument("--out", type=Path, default=Path("results/latest"))
    p.add_argument("--cache-dir", type=Path, default=Path(".cache"))
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    p.add_argument("--no-profile", action="store_true", help="skip the per-cell speed profile")
    p.add_argument("--no-report", action="store_true", help="skip rendering the leaderboard")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    known_p, known_b = protocols.names(), baselines.names()
    chosen_p = args.protocols or known_p
    chosen_b = args.baselines or known_b
    for p in chosen_p:
        protocols.get(p)
    # a package.module:Class path becomes the class's own name (records and folders use it)
    chosen_b = list(dict.fromkeys(baselines.get(b).name for b in chosen_b))
    if args.seeds < 1:
        raise UserError("--seeds must be at least 1")
    dev = devices.resolve(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    return RunConfig(
        protocols=list(chosen_p),
        baselines=list(chosen_b),
        seeds=list(range(args.seeds)),
        preset=presets.get(args.preset),
        out=output_folder(args.out, "--out"),
        device=dev,
        data_root=args.data_root,
        data=_kv(args.data, "--data", list(chosen_p)),
        checkpoints=_checkpoints(_kv(args.checkpoint, "--checkpoint", list(chosen_b))),
        classifiers=_kv(args.classifier, "--classifier", list(chosen_p)),
        train_classifiers=args.train_classifiers,
        weights_dir=args.weights_dir,
        cache_dir=output_folder(args.cache_dir, "--cache-dir"),
        retry_failed=args.retry_failed,
        profile=not args.no_profile,
        report=not args.no_report,
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Exit 1 when a cell of the grid failed (now or in an earlier run, unretried): its reason
    is in the log and the leaderboard, and the results are incomplete."""
    counts = run(config_from_args(args))
    return 1 if counts["failed"] or counts["failed earlier"] else 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the grid: protocols x baselines x seeds")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
