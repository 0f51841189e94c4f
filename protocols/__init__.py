"""Fixed, versioned evaluation protocols by name, each with a real loader and a synthetic twin.

``protocols.get(name)`` returns a ``ProtocolDef``: ``spec(...)`` (the frozen Protocol, scaled by a
preset), ``load(root, protocol)`` (validate the official on-disk layout and index it) and
``synthesize(out, size, seed)`` (write the synthetic twin in that same layout).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path

from benchmark.errors import UserError
from benchmark.registry import Registry, import_modules
from protocols.base import Protocol, ProtocolData


class ProtocolDef(ABC):
    name: str = ""
    paper: Protocol  # the protocol at the paper's scale
    synthetic_changes: dict = {}  # fields the synthetic twin differs in (e.g. fewer classes)

    def spec(
        self,
        *,
        image_size: int | None = None,
        max_inputs: int | None = None,
        max_outputs: int | None = None,
        synthetic: bool = False,
        preset: str = "paper",
    ) -> Protocol:
        """The paper protocol, optionally scaled down (a scaled protocol has its own hash)."""
        p = self.paper
        if synthetic:
            p = dataclasses.replace(p, **self.synthetic_changes)
        n = p.num_test_inputs
        if max_inputs is not None:
            n = max_inputs if n == 0 else min(n, max_inputs)
        k = p.outputs_per_input if max_outputs is None else min(p.outputs_per_input, max_outputs)
        return dataclasses.replace(
            p,
            image_size=image_size or p.image_size,
            num_test_inputs=n,
            outputs_per_input=k,
            synthetic=synthetic,
            preset=preset,
        )

    @abstractmethod
    def load(self, root: Path, protocol: Protocol) -> ProtocolData: ...

    @abstractmethod
    def synthesize(self, out: Path, *, size: int = 32, seed: int = 0) -> Path: ...


def _builtins() -> None:
    import_modules("protocols", skip=("base", "synth"))


# classes by name (entry-point group ``i2i_bench.protocols``; a second class under a taken name
# is refused); one instance of each is made when first asked for
REGISTRY: Registry[type[ProtocolDef]] = Registry("protocol", "i2i_bench.protocols", _builtins)
_INSTANCES: dict[type[ProtocolDef], ProtocolDef] = {}


def register(cls: type[ProtocolDef]) -> type[ProtocolDef]:
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a name")
    return REGISTRY.add(cls.name, cls)


def _checked(obj: object) -> type[ProtocolDef]:
    if not (isinstance(obj, type) and issubclass(obj, ProtocolDef) and obj.name):
        raise UserError(f"{obj!r} is not a named subclass of protocols.ProtocolDef")
    return obj


def names() -> list[str]:
    return REGISTRY.names()


def get(name: str) -> ProtocolDef:
    cls = REGISTRY.get(name, _checked)
    if cls not in _INSTANCES:
        _INSTANCES[cls] = cls()
    return _INSTANCES[cls]


__all__ = ["Protocol", "ProtocolData", "ProtocolDef", "get", "names", "register"]
