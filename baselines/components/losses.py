"""GAN objectives and regularisers shared by every baseline.

Multi-scale discriminators return a list of outputs; every loss here accepts a tensor or a list
and averages over scales, so a baseline never re-implements the reduction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Pred = torch.Tensor | Sequence[torch.Tensor]


def _as_list(pred: Pred) -> list[torch.Tensor]:
    return [pred] if torch.is_tensor(pred) else list(pred)


class GANLoss:
    """``vanilla`` (BCE on logits, pix2pix/BicycleGAN), ``lsgan`` (CycleGAN/MUNIT/UNIT),
    ``hinge`` (FUNIT), ``nonsat`` (StarGAN v2's non-saturating BCE, same as vanilla).

    ``gen(pred)`` is the generator's loss on fake predictions; ``dis(real, fake)`` the
    discriminator's loss.
    """

    MODES = ("vanilla", "nonsat", "lsgan", "hinge", "wgan")

    def __init__(self, mode: str = "lsgan") -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown GAN loss {mode!r}; choose from {self.MODES}")
        self.mode = mode

    def _term(self, p: torch.Tensor, real: bool, for_dis: bool) -> torch.Tensor:
        if self.mode in ("vanilla", "nonsat"):
            target = torch.ones_like(p) if real else torch.zeros_like(p)
            return F.binary_cross_entropy_with_logits(p, target)
        if self.mode == "lsgan":
            return F.mse_loss(p, torch.ones_like(p) if real else torch.zeros_like(p))
        if self.mode == "wgan":
            return -p.mean() if real else p.mean()
        # hinge
        if not for_dis:
            return -p.mean()
        return F.relu(1.0 - p).mean() if real else F.relu(1.0 + p).mean()

    def gen(self, fake_pred: Pred) -> torch.Tensor:
        preds = _as_list(fake_pred)
        return sum(self._term(p, True, False) for p in preds) / len(preds)

    def dis(self, real_pred: Pred, fake_pred: Pred) -> torch.Tensor:
        reals, fakes = _as_list(real_pred), _as_list(fake_pred)
        total = sum(self._term(p, True, True) for p in reals)
        total = total + sum(self._term(p, False, True) for p in fakes)
        return total / max(len(reals), len(fakes))


def r1_penalty(real_pred: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): 0.5 * E||grad_x D(x)||^2 on real images (StarGAN v2, FUNIT).
    ``x_real`` must have ``requires_grad`` set before the discriminator forward."""
    (grad,) = torch.autograd.grad(real_pred.sum(), x_real, create_graph=True)
    return 0.5 * grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


def gradient_penalty(d_out: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E(||grad D(x_hat)||_2 - 1)^2 on interpolates (StarGAN)."""
    (grad,) = torch.autograd.grad(d_out.sum(), x_hat, create_graph=True)
    norm = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
    return ((norm - 1) ** 2).mean()


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), averaged over elements; with ``logvar`` None the
    unit-variance form ``mean(mu^2)`` UNIT/MUNIT use for their shared latent."""
    if logvar is None:
        return mu.pow(2).mean()
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()


def set_requires_grad(nets: Sequence[torch.nn.Module], flag: bool) -> None:
    """Freeze the discriminators during a generator step (saves their gradient work)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)
