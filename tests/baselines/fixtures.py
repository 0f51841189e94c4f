"""Batches and task specs for baseline tests, one per task kind, deterministic and tiny."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from baselines.base import TaskSpec

MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"

SIZE = 32


def task_for(kind: str, size: int = SIZE) -> TaskSpec:
    if kind == "paired":
        return TaskSpec(kind="paired", image_size=size, domain_names=("edges", "shoes"))
    if kind == "unpaired":
        return TaskSpec(kind="unpaired", image_size=size, domain_names=("cat", "dog"))
    if kind == "multi_domain":
        return TaskSpec(
            kind="multi_domain", image_size=size, num_domains=3, domain_names=("cat", "dog", "wild")
        )
    if kind == "few_shot":
        return TaskSpec(
            kind="few_shot",
            image_size=size,
            num_domains=6,
            domain_names=tuple(f"c{i}" for i in range(6)),
        )
    if kind == "attributes":
        attrs = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
        return TaskSpec(
            kind="attributes",
            image_size=size,
            num_domains=1,
            domain_names=("face",),
            attributes=attrs,
        )
    raise ValueError(kind)


def make_batch(task: TaskSpec, n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    """A fixed batch with every key a task kind may use (see baselines.base)."""
    g = torch.Generator().manual_seed(seed)
    s = task.image_size

    def img() -> torch.Tensor:
        return torch.rand(n, 3, s, s, generator=g) * 2 - 1

    x, x2, x3 = img(), img(), img()
    if task.kind == "paired":
        x2 = (x * 0.5 + 0.2).clamp(-1, 1)  # a learnable mapping
        y, y2 = torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)
    elif task.kind == "unpaired":
        y, y2 = torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)
    else:
        k = max(task.num_domains, 1)
        y = torch.randint(k, (n,), generator=g)
        y2 = torch.randint(k, (n,), generator=g)
    batch = {"x": x, "y": y, "x2": x2, "y2": y2, "x3": x3}
    if task.kind == "attributes":
        a = len(task.attributes)
        batch["a"] = torch.randint(2, (n, a), generator=g).float()
        batch["a2"] = torch.randint(2, (n, a), generator=g).float()
    return batch


def translate_kwargs(task: TaskSpec, x: torch.Tensor, shots: int = 2) -> dict:
    """Arguments a runner would pass to translate() for this kind of task."""
    n, s = x.shape[0], task.image_size
    if task.kind in ("paired", "unpaired"):
        return {"target": 1}
    if task.kind == "multi_domain":
        return {"target": torch.arange(n) % task.num_domains}
    if task.kind == "few_shot":
        return {"reference": torch.rand(n, shots, 3, s, s) * 2 - 1}
    return {"target": torch.randint(2, (n, len(task.attributes))).float()}


def manifest(name: str) -> dict:
    """Key names and shapes of an authors' release (tests/fixtures/manifests/)."""
    return json.loads((MANIFESTS / f"{name}.json").read_text())


def random_state(shapes: dict[str, list[int]], gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Tensors of the manifest's shapes with values that keep activations in a useful range:
    weights ~ N(0, 1/fan_in), vectors ~ U(0.5, 1.5) (positive, so running_var and LayerNorm
    gamma are sane), biases small."""
    out = {}
    for key, shape in shapes.items():
        if len(shape) > 1:
            fan_in = math.prod(shape[1:])
            out[key] = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        elif key.endswith("bias") or key.endswith("beta"):
            out[key] = torch.randn(shape, generator=gen) * 0.1
        else:
            out[key] = torch.rand(shape, generator=gen) + 0.5
    return out
