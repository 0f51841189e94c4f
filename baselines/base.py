"""The Translator interface every baseline implements, and the task description it is built for.

A protocol never knows which baseline it runs and a baseline never knows which metric scores it:
the runner hands a baseline a ``TaskSpec`` and batches, and asks it to ``translate``.

Batches are dicts of tensors (images float in [-1, 1], shape (N, 3, S, S)):

- ``x``, ``y``: source images and their domain/class index (long, (N,)).
- ``x2``, ``y2``: second images. ``paired``: the aligned target of ``x``; ``unpaired``: images of
  domain 1 (``x`` is domain 0); ``multi_domain`` / ``few_shot``: independent images, any domain.
- ``x3``: another image of ``y2``'s domain/class (reference pairs, StarGAN v2 / FUNIT).
- ``a``, ``a2``: 0/1 float attribute vectors of ``x`` and ``x2`` (``attributes`` tasks).

``translate(x, *, target, latent, reference)`` semantics by task kind:

- ``paired`` / ``unpaired``: ``target`` is the direction's output domain, 1 (A->B, the default)
  or 0 (B->A); names from ``TaskSpec.domain_names`` work too.
- ``multi_domain``: ``target`` a domain index (int or long tensor (N,)).
- ``few_shot``: ``reference`` (N, K, 3, S, S), K images of the unseen target class.
- ``attributes``: ``target`` the desired 0/1 attribute vector, float (N, A).
- ``latent``: a code from the method's own prior (sampled when omitted); ``reference``: (N, 3,
  S, S) images whose style is taken, for reference-guided methods.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from baselines.schedule import Schedule
from benchmark.atomic import atomic_path
from benchmark.errors import UserError

CHECKPOINT_FORMAT = "i2i-bench/1"


@dataclass(frozen=True)
class TaskSpec:
    """What a baseline must know about the data it translates; nothing about metrics."""

    kind: str = "unpaired"
    image_size: int = 256
    channels: int = 3
    num_domains: int = 2  # domains, or source classes for few_shot
    domain_names: tuple[str, ...] = ("A", "B")
    attributes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def domain_index(self, target: Any) -> Any:
        """Resolve a domain given by name to its index; indices and tensors pass through."""
        if isinstance(target, str):
            if target not in self.domain_names:
                raise ValueError(f"unknown domain {target!r}; known: {self.domain_names}")
            return self.domain_names.index(target)
        return target


class Translator(nn.Module):
    """Base class: a registered image-to-image method (or a sanity oracle)."""

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""  # as papers write it ("StarGAN v2"); default: name
    supports: ClassVar[frozenset[str]] = frozenset()  # task kinds this method can run
    multimodal: ClassVar[bool] = False  # can it produce different outputs for one input?
    reference_guided: ClassVar[bool] = False  # does it take a style reference image?
    trainable: ClassVar[bool] = True
    # brackets a metric (copy the input, a real image, the ground truth): shown, never ranked;
    # written into every record so reports need not import the baselines
    oracle: ClassVar[bool] = False
    configs: ClassVar[tuple[str, ...]] = ("paper", "tiny")
    # a loss from train_step that must fall when training repeats on one fixed batch (the
    # interface tests check it); usually the reconstruction / cycle / L1 term
    monitor_loss: ClassVar[str | None] = None
    # how the authors trained it (steps, batch size, lr decay), used by the ``paper`` preset
    paper_schedule: ClassVar[Schedule | None] = None

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__()
        if task.kind not in self.supports:
            raise ValueError(f"{self.name} cannot run {task.kind} tasks (supports {self.supports})")
        self.task = task
        self.config = config
        self.step = 0

    # --- training -------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the losses by name (floats)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimizers, saved with the checkpoint so training resumes exactly."""
        return {}

    def prepare(self, data: Any) -> None:
        """Called once before sampling with the protocol's data (oracles index it)."""

    # --- inference ------------------------------------------------------------------------
    def translate(
        self,
        x: torch.Tensor,
        *,
        target: Any = None,
        latent: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

    # --- checkpoints ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Atomic checkpoint (weights, optimizers, step): a crash mid-save keeps the old file."""
        payload = {
            "format": CHECKPOINT_FORMAT,
            "baseline": self.name,
            "config": self.config,
            "task": self.task.to_dict(),
            "step": self.step,
            "nets": self.state_dict(),
            "optim": {k: o.state_dict() for k, o in self.optimizers().items()},
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def load(self, path: str | Path) -> None:
        """Load our own checkpoint, or the authors' released file via ``load_official``."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"checkpoint {path} does not exist; check the --checkpoint path")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except ModuleNotFoundError as exc:  # a release that pickles whole modules (Fader)
            raise UserError(
                f"checkpoint {path} pickles classes from module '{exc.name}'; put the authors' "
                "repository on PYTHONPATH to load it"
            ) from exc
        except Exception as exc:  # corrupt zip, pickle error, truncated file
            raise UserError(f"cannot read checkpoint {path} ({exc}); re-download it") from exc
        if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
            if obj.get("baseline") != self.name:
                raise UserError(
                    f"checkpoint {path} is for baseline {obj.get('baseline')!r}, not {self.name!r}"
                )
            self.load_state_dict(obj["nets"])
            for k, opt in self.optimizers().items():
                if k in obj.get("optim", {}):
                    opt.load_state_dict(obj["optim"][k])
            self.step = int(obj.get("step", 0))
        else:
            try:
                self.load_official(obj)
            except (KeyError, RuntimeError, ValueError) as exc:
                raise UserError(
                    f"checkpoint {path} does not match {self.name} ({self.config} config): "
                    f"{str(exc).splitlines()[0]}; use the authors' released file for this config"
                ) from exc

    def load_official(self, obj: Any) -> None:
        """Load the authors' released checkpoint object (already ``torch.load``-ed)."""
        raise UserError(f"{self.name} has no released checkpoint format to load")

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")
