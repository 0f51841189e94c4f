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


REGISTRY: dict[str, ProtocolDef] = {}


def register(cls: type[ProtocolDef]) -> type[ProtocolDef]:
    REGISTRY[cls.name] = cls()
    return cls


def _load() -> None:
    from protocols import (  # noqa: F401
        afhq,
        animal_faces,
        celeba_attributes,
        celeba_stargan,
        edges2shoes,
    )


def names() -> list[str]:
    _load()
    return list(REGISTRY)


def get(name: str) -> ProtocolDef:
    _load()
    if name not in REGISTRY:
        raise UserError(f"unknown protocol '{name}'; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


__all__ = ["Protocol", "ProtocolData", "ProtocolDef", "get", "names", "register"]
