"""Baselines by name: ``baselines.build(name, config="paper"|"tiny", checkpoint=None, task=...)``.

Modules register their Translator class with ``@register``; every module of this package is a
built-in baseline, found by its file name (shared parts live in ``components/``, the interface in
``base.py``, training schedules in ``schedule.py``). A method from any installed package comes in through the entry-point group
``i2i_bench.baselines`` or as a ``package.module:Class`` path (benchmark.registry).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from baselines.base import TaskSpec, Translator
from benchmark.errors import UserError
from benchmark.registry import Registry, import_modules


def _builtins() -> None:
    import_modules("baselines", skip=("base", "schedule"))


REGISTRY: Registry[type[Translator]] = Registry("baseline", "i2i_bench.baselines", _builtins)


def register(cls: type[Translator]) -> type[Translator]:
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a name")
    return REGISTRY.add(cls.name, cls)


def _checked(obj: object) -> type[Translator]:
    """A class named by a path must be a Translator with a name of its own."""
    if not (inspect.isclass(obj) and issubclass(obj, Translator)):
        raise UserError(f"{obj!r} is not a subclass of baselines.Translator")
    if not obj.name:
        raise UserError(f"{obj.__qualname__} has no name; set its `name` class attribute")
    return REGISTRY.add(obj.name, obj)  # by its own name too; a clash names both origins


def names() -> list[str]:
    return REGISTRY.names()


def get(name: str) -> type[Translator]:
    return REGISTRY.get(name, _checked)


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
