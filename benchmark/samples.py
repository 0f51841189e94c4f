"""What the runner hands the metrics: per task, the inputs, every output, and what was wanted.

Everything a metric needs to score one baseline on one protocol task lives here, so metrics
never call a baseline and baselines never see a metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class TaskSamples:
    """Outputs of one baseline on one protocol task in one synthesis mode.

    Images are float tensors on the CPU: inputs in [-1, 1], outputs as the method returned them
    (finite; each metric clamps or quantises them as its protocol says).
    """

    task: str  # "edges2shoes", "cat2dog", "Blond_Hair", "k=5"
    mode: str  # "latent" (own prior / deterministic) or "reference" (style from an image)
    inputs: torch.Tensor  # (U, 3, S, S): each distinct input once (U = N unless input_index)
    outputs: torch.Tensor  # (N, K, 3, S, S): K outputs per input
    target_class: torch.Tensor  # (N,) long: the domain/class index the output should belong to
    real_target: torch.Tensor  # (M, 3, S, S): real images of the target (FID/KID reference set)
    real_target_name: str  # stable name of that set, e.g. "afhq:train:dog" (feature cache key)
    target_attrs: torch.Tensor | None = None  # (N, A) wanted attribute vector (attributes)
    edited_attr: int | None = None  # index of the attribute this task edits (attributes)
    ground_truth: torch.Tensor | None = None  # (N, 3, S, S) paired target (paired)
    # (n, R, 3, S, S): the reference images of the first n inputs, those saved as samples
    references: torch.Tensor | None = None
    input_factors: list[dict[str, Any]] | None = None  # synthetic content factors of inputs
    multimodal: bool = True  # False: the baseline is deterministic (diversity is 0 by design)
    extra: dict[str, Any] = field(default_factory=dict)
    # (M,) class of each real_target image: FID/KID become per-class means (FUNIT's mFID) when
    # the protocol sets param fid_per_class
    real_target_labels: torch.Tensor | None = None
    # (N,) row of ``inputs`` behind each output group, when inputs repeat (few-shot: each content
    # image goes into every class; at paper scale 30,000 groups share 1,000 images)
    input_index: torch.Tensor | None = None

    def input(self, i: int) -> torch.Tensor:
        """The input image of output group ``i``."""
        return self.inputs[i if self.input_index is None else int(self.input_index[i])]

    def expand_inputs(self, per_input: torch.Tensor) -> torch.Tensor:
        """Rows computed once per distinct input (features, say), one per output group."""
        return per_input if self.input_index is None else per_input[self.input_index]

    @property
    def num_inputs(self) -> int:
        return int(self.outputs.shape[0])

    @property
    def outputs_per_input(self) -> int:
        return int(self.outputs.shape[1])

    def flat_outputs(self) -> torch.Tensor:
        return self.outputs.reshape(-1, *self.outputs.shape[2:])
