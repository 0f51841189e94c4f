"""One registry shape for everything found by name: baselines, protocols, metric families,
feature extractors and subcommands.

A name is registered once: a second, different object under a taken name is refused with both
origins named (a silent overwrite would score the wrong method). Entries come from the built-in
modules, from installed packages through an entry-point group (``i2i_bench.baselines``,
``i2i_bench.protocols``, ``i2i_bench.metrics``), and from a ``package.module:Name`` path, imported
when first asked for (as lm-evaluation-harness takes ``module:object`` paths).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from benchmark.errors import UserError

T = TypeVar("T")
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]*")


def origin_of(obj: object) -> str:
    """Where an object was defined, for messages: ``module.Name (path/to/file.py)``."""
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    try:
        where = inspect.getsourcefile(target) or "?"
    except TypeError:
        where = "?"
    return f"{target.__module__}.{target.__qualname__} ({where})"


def import_path(path: str, kind: str) -> object:
    """``package.module:Name`` -> the object; a bad path is one line saying what to fix."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UserError(f"{kind} '{path}': write a path as package.module:Name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"{kind} '{path}': cannot import {module_name} ({exc}); install the package or put "
            "it on PYTHONPATH"
        ) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"{kind} '{path}': {module_name} has no {attr}")
        obj = getattr(obj, part)
    return obj


def import_modules(package: str, skip: tuple[str, ...] = ()) -> None:
    """Import every module of ``package`` found by file name, except ``skip`` (shared code),
    so a new built-in entry is one new file and no list to keep (as pytorch-CycleGAN-and-pix2pix
    finds ``models/<name>_model.py``); sorted, so registration order is the same everywhere."""
    found = importlib.import_module(package).__path__
    for info in sorted(pkgutil.iter_modules(found), key=lambda m: m.name):
        if not info.ispkg and not info.name.startswith("_") and info.name not in skip:
            importlib.import_module(f"{package}.{info.name}")


class Registry(Generic[T]):
    """Named objects of one kind; ``builtins`` imports the modules that register the suite's
    own, once, on first use."""

    def __init__(self, kind: str, group: str, builtins: Callable[[], None]) -> None:
        self.kind, self.group, self._builtins = kind, group, builtins
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False

    def add(self, name: str, obj: T) -> T:
        if not name or not NAME.fullmatch(name):
            raise ValueError(f"{self.kind} name {name!r} must be letters, digits, _ . - or :")
        have = self._items.get(name)
        if have is not None and have is not obj:
            raise UserError(
                f"{self.kind} name '{name}' is claimed twice: by {self._origins[name]} and by "
                f"{origin_of(obj)}; rename one of them"
            )
        self._items[name], self._origins[name] = obj, origin_of(obj)
        return obj

    def remove(self, name: str) -> None:
        """Forget ``name`` (a test's throwaway entry); unknown names are ignored."""
        self._items.pop(name, None)
        self._origins.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self._builtins()
        for ep in entry_points(group=self.group):
            obj = ep.load()
            if self._items.get(ep.name) is not obj:  # a decorator may have added it already
                self.add(ep.name, obj)

    def get(self, name: str, resolve: Callable[[object], T] | None = None) -> T:
        """The entry ``name``, or the object at a ``package.module:Name`` path (``resolve``
        checks it and may register it under its own name)."""
        self._load()
        if name in self._items:
            return self._items[name]
        if ":" in name:
            obj = import_path(name, self.kind)
            return self.add(name, resolve(obj) if resolve else obj)  # type: ignore[arg-type]
        raise UserError(
            f"unknown {self.kind} '{name}'; known: {', '.join(self._items)} (or a "
            "package.module:Name path)"
        )

    def names(self) -> list[str]:
        """Registered names in registration order (``package.module:Name`` paths asked for by
        ``get`` are aliases, not names)."""
        self._load()
        return [n for n in self._items if ":" not in n]

    def items(self) -> dict[str, T]:
        self._load()
        return {n: self._items[n] for n in self.names()}

    def origin(self, name: str) -> str:
        self._load()
        return self._origins[name]
