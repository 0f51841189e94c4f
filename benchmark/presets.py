"""Run presets: how big a grid is. A preset scales the protocol (so it has its own hash), picks
the baseline config and the training length; the numbers are budgets for 2 CPU cores (smoke,
quick) or the papers' settings (paper, for GPUs and real data: each method's own schedule,
``paper_schedule`` on its class, see baselines/schedule.py)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.errors import UserError


@dataclass(frozen=True)
class Preset:
    name: str
    config: str  # baseline config: "tiny" or "paper"
    image_size: int | None  # None: the protocol's own resolution
    max_inputs: int | None  # cap on test inputs per task (None: the protocol's count)
    max_outputs: int | None  # cap on outputs per input
    train_steps: int | None  # None: each method's paper_schedule (length, batch, lr decay)
    batch_size: int | None
    checkpoint_every: int
    save_inputs: int  # inputs per task whose images are saved as PNG for sample grids
    profile_batch_sizes: tuple[int, ...]
    profile_repeats: int
    synthetic_size: int  # resolution of a generated synthetic twin


PRESETS = {
    "smoke": Preset("smoke", "tiny", 32, 6, 3, 4, 4, 2, 2, (1,), 2, 32),
    "quick": Preset("quick", "tiny", 32, 16, 4, 60, 8, 30, 4, (1, 8), 5, 32),
    "paper": Preset("paper", "paper", None, None, None, None, None, 5_000, 16, (1, 8, 32), 20, 256),
}
DEFAULT = "quick"


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}'; choose from {', '.join(PRESETS)}")
    return PRESETS[name]
