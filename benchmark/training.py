"""Training a cell's models: the preset's or the paper's schedule, resumable from atomic checkpoints,
and the two-domain models a multi-domain protocol needs when a method translates only pairs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

import baselines
from baselines import schedule as schedules
from baselines.base import Translator
from benchmark import presets
from benchmark.errors import CellFailure, UserError
from benchmark.plan import (
    domain_pairs,
    epoch_size,
    how_to_run,
    make_sampler,
    pair_spec,
    task_spec_for,
)
from benchmark.progress import Progress, log
from benchmark.run_config import RunConfig
from protocols.base import ProtocolData


class Pairwise:
    """One two-domain model per unordered domain pair (as StarGAN v2 trained its baselines)."""

    def __init__(self, models: dict[tuple[int, int], Translator]) -> None:
        self.models = models

    def route(self, source: int, target: int) -> tuple[Translator, int]:
        pair = (min(source, target), max(source, target))
        return self.models[pair], 1 if target == pair[1] else 0


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


def checkpoint_dir(cfg: RunConfig, cell: Path) -> Path:
    """Where a cell's training checkpoints live (``cell`` is its records folder)."""
    return cfg.out / "checkpoints" / cell.relative_to(cfg.out / "records")


def build_models(
    name: str, data: ProtocolData, cfg: RunConfig, seed: int, cell: Path
) -> tuple[Translator | Pairwise, dict[str, Any]]:
    """Build (and train, or load a given checkpoint) what a cell evaluates."""
    cls = baselines.get(name)
    protocol = data.protocol
    how = how_to_run(cls, protocol.kind)
    info: dict[str, Any] = {"how": how, "losses": {}, "schedule": {}}
    ckpt_dir = checkpoint_dir(cfg, cell)

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
