"""Baselines by name: ``baselines.build(name, config="paper"|"tiny", checkpoint=None, task=...)``.

Modules register their Translator class with ``@register``; importing this package imports them
all, so a new baseline is one new file plus one line in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from baselines.base import TaskSpec, Translator
from benchmark.errors import UserError

REGISTRY: dict[str, type[Translator]] = {}

_MODULES = (
    "oracles",
    "pix2pix",
    "bicyclegan",
    "cyclegan",
    "unit",
    "munit",
    "drit",
    "stargan",
    "stargan_v2",
    "funit",
    "fader",
)


def register(cls: type[Translator]) -> type[Translator]:
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a name")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"baseline name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def _load_modules() -> None:
    for mod in _MODULES:
        importlib.import_module(f"baselines.{mod}")


def names() -> list[str]:
    _load_modules()
    return list(REGISTRY)


def get(name: str) -> type[Translator]:
    _load_modules()
    if name not in REGISTRY:
        raise UserError(f"unknown baseline '{name}'; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(
    name: str,
    config: str = "paper",
    checkpoint: str | Path | None = None,
    task: TaskSpec | None = None,
) -> Translator:
    """A ready Translator; ``task`` defaults to the setting of the paper's released weights."""
    cls = get(name)
    if config not in cls.configs:
        raise UserError(f"baseline {name} has no config {config!r}; choose from {cls.configs}")
    if task is None:
        task = getattr(cls, "paper_task", None) or TaskSpec(kind=sorted(cls.supports)[0])
    model = cls(task, config)
    if checkpoint is not None:
        model.load(checkpoint)
    return model


__all__ = ["REGISTRY", "TaskSpec", "Translator", "build", "get", "names", "register"]
