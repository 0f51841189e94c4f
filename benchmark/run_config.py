"""What one run of the grid was asked for: the parsed command line, as the layers below see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmark import presets


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
