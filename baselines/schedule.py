"""Training schedules: how many steps, at what batch size, and how the learning rate moves.

Under the ``paper`` preset each method trains as its authors' code trained it (its class's
``paper_schedule``, facts cited there); the CPU presets use a constant schedule of their own
length. The learning rate is a pure function of the step, so a resumed run sets exactly the rate
an uninterrupted one would have had.

Decay rules, each the authors' own formula on the 0-based step or epoch index ``u`` (plus
``offset`` where their scheduler counts from elsewhere):

- ``constant``.
- ``linear`` (pytorch-CycleGAN-and-pix2pix / BicycleGAN / DRIT ``lambda_rule``, per epoch):
  ``1 - max(0, u + offset - decay_start) / (length - decay_start + 1)``.
- ``step`` (UNIT / MUNIT ``StepLR`` stepped before every iteration): ``gamma ** ((u + offset)
  // every)``.
- ``stargan`` (yunjey/stargan ``solver.train``): after iteration ``j`` (1-based) with
  ``j % every == 0`` and ``j > length - decay_len``, the rate drops by ``lr0 / decay_len``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

DECAYS = ("constant", "linear", "step", "stargan")
UNITS = ("iters", "epochs")


@dataclass(frozen=True)
class Schedule:
    length: int  # in ``unit``s
    batch_size: int
    unit: str = "iters"  # "epochs": one epoch = ceil(epoch_size / (batch_size x batches))
    decay: str = "constant"
    decay_start: int = 0  # linear: units at the full rate (see ``offset``)
    offset: int = 0  # added to the unit index: pix2pix's epoch_count, MUNIT's early step()
    batches_per_step: int = 1  # loader batches one train_step stands for (DRIT's d_iter)
    max_steps: int | None = None  # a hard cap on steps in the authors' loop (DRIT's max_it)
    every: int = 1  # step: units per gamma; stargan: iterations between drops
    gamma: float = 0.5
    decay_len: int = 0  # stargan: num_iters_decay
    source: str = ""  # where the numbers come from (repository, file, option)

    def __post_init__(self) -> None:
        if self.decay not in DECAYS or self.unit not in UNITS:
            raise ValueError(f"decay must be one of {DECAYS} and unit one of {UNITS}")
        if min(self.length, self.batch_size, self.every, self.batches_per_step) < 1:
            raise ValueError("length, batch_size, every and batches_per_step must be >= 1")

    def steps_per_unit(self, epoch_size: int) -> int:
        if self.unit == "iters":
            return 1
        if epoch_size < 1:
            raise ValueError("an epoch-based schedule needs the training set size")
        return max(1, math.ceil(epoch_size / (self.batch_size * self.batches_per_step)))

    def total_steps(self, epoch_size: int = 0) -> int:
        steps = self.length * self.steps_per_unit(epoch_size)
        return steps if self.max_steps is None else min(steps, self.max_steps)

    def lr_factor(self, step: int, epoch_size: int = 0) -> float:
        """Multiplier of the initial learning rate for the (0-based) optimisation ``step``."""
        u = step // self.steps_per_unit(epoch_size) + self.offset
        if self.decay == "linear":
            return 1.0 - max(0, u - self.decay_start) / float(self.length - self.decay_start + 1)
        if self.decay == "step":
            return self.gamma ** (u // self.every)
        if self.decay == "stargan":
            # drops happened after iterations j <= u with j % every == 0 and j > length - decay_len
            first = (self.length - self.decay_len) // self.every * self.every + self.every
            drops = 0 if u < first else (u - first) // self.every + 1
            return 1.0 - drops / float(self.decay_len)
        return 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def constant(steps: int, batch_size: int, source: str) -> Schedule:
    """The CPU presets' schedule: ``steps`` iterations at the initial rate."""
    return Schedule(length=steps, batch_size=batch_size, source=source)


def set_lr(optimizers: dict[str, torch.optim.Optimizer], factor: float) -> None:
    """Every param group's rate = its initial rate x ``factor``. The initial rate is kept in the
    group as ``initial_lr`` (as torch's schedulers do), so it is saved with the optimizer."""
    for opt in optimizers.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor
