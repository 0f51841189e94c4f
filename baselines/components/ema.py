"""Exponential moving average of generator weights, the copy FUNIT (``gen_test``) and StarGAN v2
(``nets_ema``) translate with at test time."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, beta: float) -> None:
    """``t = beta * t + (1 - beta) * s`` over parameters only (buffers are not averaged), as
    FUNIT's ``trainer.update_average`` and StarGAN v2's ``moving_average`` do."""
    src = dict(source.named_parameters())
    for name, p in target.named_parameters():
        p.lerp_(src[name], 1.0 - beta)
