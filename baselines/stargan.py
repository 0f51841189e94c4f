"""StarGAN (Choi et al., CVPR 2018): one generator for every domain, told the target by a label
tiled as extra input channels; a WGAN-GP discriminator with an auxiliary domain classifier.

Facts, from yunjey/stargan @94dd002 (model.py, solver.py, main.py):

- ``Generator(conv_dim=64, c_dim=5, repeat_num=6)``: 7x7 conv (3 + c_dim -> 64), two 4x4
  stride-2 convs (64 -> 128 -> 256), ``repeat_num`` ResidualBlocks (conv3x3-IN-ReLU-conv3x3-IN),
  two 4x4 stride-2 transposed convs (256 -> 128 -> 64), 7x7 conv to 3, tanh. Every conv has
  ``bias=False``; every IN is ``InstanceNorm2d(affine=True, track_running_stats=True)``.
- ``Discriminator(image_size=128, conv_dim=64, c_dim=5, repeat_num=6)``: ``repeat_num`` 4x4
  stride-2 convs with LeakyReLU(0.01), channels doubling from 64; ``conv1`` 3x3 -> 1 (PatchGAN
  real/fake map) and ``conv2`` with kernel ``image_size / 2**repeat_num`` -> c_dim (domain
  logits), both ``bias=False``. No norm layers. Default PyTorch init (the code calls none).
- solver.train: target labels are the batch's labels in a random permutation (``randperm``).
  D loss = -mean(D_src(x)) + mean(D_src(G(x, c_trg))) + lambda_cls * cls(D_cls(x), c_org)
  + lambda_gp * GP(interpolates); G (every ``n_critic`` iterations) = -mean(D_src(x_fake))
  + lambda_cls * cls(D_cls(x_fake), c_trg) + lambda_rec * |x - G(x_fake, c_org)|_1.
  CelebA: BCE-with-logits summed over attributes / N; RaFD (one-hot domains): cross entropy.
- main.py: lambda_cls 1, lambda_rec 10, lambda_gp 10, n_critic 5, g_lr = d_lr = 1e-4, Adam betas
  (0.5, 0.999), batch 16, 200000 iterations; lrs fall by ``lr / num_iters_decay`` (1e-9) every
  ``lr_update_step`` (1000) iterations after iteration 100000, i.e. by 0.1% in all (as written):
  ``paper_schedule``, applied by the runner (baselines/schedule.py, decay "stargan").
- solver.test: ``restore_model`` then ``G(x_real, c_trg)`` under ``torch.no_grad()`` with no
  ``G.eval()`` call: G runs in train mode, so every InstanceNorm normalises by each image's own
  statistics and the running statistics stored in the checkpoint are never read. ``translate``
  does the same in eval mode, without touching the stored buffers.
- Released weights (download.sh pretrained-celeba-128x128): bare state dicts ``200000-G.ckpt``
  and ``200000-D.ckpt`` at 128 px, c_dim 5 (Black_Hair, Blond_Hair, Brown_Hair, Male, Young);
  ``restore_model`` loads them strictly. Files from torch < 0.4.1 lack the 17 IN
  ``num_batches_tracked`` buffers, which are filled in here.

Task kinds: ``attributes`` (target = wanted 0/1 attribute vector, BCE classification, as CelebA)
and ``multi_domain`` (target = domain index, one-hot label, cross entropy, as RaFD).

The ``tiny`` config is the same code, narrower (16 channels), with 2 residual blocks, a
3-layer discriminator and ``n_critic`` 1 (a G update every iteration) so it learns in a few
hundred CPU steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.losses import GANLoss, gradient_penalty, set_requires_grad
from baselines.schedule import Schedule


@dataclass(frozen=True)
class StarGANConfig:
    g_conv_dim: int
    d_conv_dim: int
    g_repeat_num: int
    d_repeat_num: int
    n_critic: int
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)


CONFIGS = {
    "paper": StarGANConfig(64, 64, 6, 6, n_critic=5),
    "tiny": StarGANConfig(16, 16, 2, 3, n_critic=1),
}


class TrainModeInstanceNorm(nn.InstanceNorm2d):
    """``InstanceNorm2d(affine, track_running_stats)`` that normalises by the input's own
    statistics in eval mode too (solver.test never calls ``G.eval()``); in eval mode it leaves
    the running buffers alone, in train mode it updates them exactly as torch does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def _norm(ch: int) -> nn.Module:
    return TrainModeInstanceNorm(ch, affine=True, track_running_stats=True)


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))): key names ``main.{0,1,3,4}`` as model.py."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            _norm(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class Generator(nn.Module):
    def __init__(self, conv_dim: int, c_dim: int, repeat_num: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            _norm(conv_dim),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), _norm(dim * 2), nn.ReLU(True)]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False),
                _norm(dim // 2),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        layers += [nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.view(c.size(0), c.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class Discriminator(nn.Module):
    def __init__(self, image_size: int, conv_dim: int, c_dim: int, repeat_num: int) -> None:
        super().__init__()
        if image_size % 2**repeat_num:
            raise ValueError(
                f"StarGAN's discriminator needs an image size divisible by 2**{repeat_num} "
                f"(its classifier kernel is image_size / 2**{repeat_num}); got {image_size}"
            )
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, image_size // 2**repeat_num, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)


@register
class StarGAN(Translator):
    name = "stargan"
    display_name = "StarGAN"
    supports = frozenset({"attributes", "multi_domain"})
    monitor_loss = "D/loss_cls"  # logged every iteration (G losses only every n_critic)
    paper_task = TaskSpec(
        kind="attributes",
        image_size=128,
        num_domains=1,
        domain_names=("face",),
        attributes=("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"),
    )
    # main.py @f4a1c58: num_iters 200000, num_iters_decay 100000, lr_update_step 1000,
    # batch_size 16; solver.train's decay rule (see the module docstring)
    paper_schedule = Schedule(
        length=200_000,
        batch_size=16,
        decay="stargan",
        every=1000,
        decay_len=100_000,
        source="yunjey/stargan main.py (num_iters, num_iters_decay, lr_update_step, batch_size), "
        "solver.train",
    )

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        self.cfg = CONFIGS[config]
        c = self.cfg
        self.c_dim = len(task.attributes) if task.kind == "attributes" else task.num_domains
        if self.c_dim < 1:
            raise ValueError(f"StarGAN needs at least one attribute/domain; task has {task}")
        self.G = Generator(c.g_conv_dim, self.c_dim, c.g_repeat_num)
        self.D = Discriminator(task.image_size, c.d_conv_dim, self.c_dim, c.d_repeat_num)
        self.g_opt = torch.optim.Adam(self.G.parameters(), c.lr, betas=c.betas)
        self.d_opt = torch.optim.Adam(self.D.parameters(), c.lr, betas=c.betas)
        self.gan = GANLoss("wgan")

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.g_opt, "D": self.d_opt}

    # --- labels ---------------------------------------------------------------------------
    def _label_vector(self, label: torch.Tensor) -> torch.Tensor:
        """Generator input c: the attribute vector itself, or the one-hot domain."""
        if self.task.kind == "attributes":
            return label.float()
        return F.one_hot(label.long(), self.c_dim).float()

    def _cls_loss(self, logit: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.task.kind == "attributes":
            return F.binary_cross_entropy_with_logits(logit, label, reduction="sum") / logit.size(0)
        return F.cross_entropy(logit, label)

    # --- training -------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One solver.py iteration: a D update, and a G update every ``n_critic``-th step."""
        c = self.cfg
        dev = self.device
        x_real = batch["x"].to(dev)
        label_org = batch["a"] if self.task.kind == "attributes" else batch["y"]
        label_trg = label_org[torch.randperm(label_org.size(0))]
        label_org, label_trg = label_org.to(dev), label_trg.to(dev)
        c_org, c_trg = self._label_vector(label_org), self._label_vector(label_trg)

        # discriminator
        out_real, out_cls = self.D(x_real)
        d_loss_cls = self._cls_loss(out_cls, label_org)
        x_fake = self.G(x_real, c_trg)
        out_fake, _ = self.D(x_fake.detach())
        d_loss_adv = self.gan.dis(out_real, out_fake)  # -mean D(x) + mean D(G(x, c))
        alpha = torch.rand(x_real.size(0), 1, 1, 1).to(dev)
        x_hat = (alpha * x_real + (1 - alpha) * x_fake.detach()).requires_grad_(True)
        out_src, _ = self.D(x_hat)
        d_loss_gp = gradient_penalty(out_src, x_hat)
        d_loss = d_loss_adv + c.lambda_cls * d_loss_cls + c.lambda_gp * d_loss_gp
        self.g_opt.zero_grad()
        self.d_opt.zero_grad()
        d_loss.backward()
        self.d_opt.step()
        losses = {
            "D/loss_adv": d_loss_adv.item(),
            "D/loss_cls": d_loss_cls.item(),
            "D/loss_gp": d_loss_gp.item(),
        }

        if (self.step + 1) % c.n_critic == 0:
            set_requires_grad([self.D], False)  # D is not stepped by the G loss
            x_fake = self.G(x_real, c_trg)
            out_src, out_cls = self.D(x_fake)
            g_loss_fake = self.gan.gen(out_src)  # -mean D(G(x, c))
            g_loss_cls = self._cls_loss(out_cls, label_trg)
            g_loss_rec = (x_real - self.G(x_fake, c_org)).abs().mean()
            g_loss = g_loss_fake + c.lambda_rec * g_loss_rec + c.lambda_cls * g_loss_cls
            self.g_opt.zero_grad()
            g_loss.backward()
            self.g_opt.step()
            set_requires_grad([self.D], True)
            losses |= {
                "G/loss_fake": g_loss_fake.item(),
                "G/loss_rec": g_loss_rec.item(),
                "G/loss_cls": g_loss_cls.item(),
            }

        self.step += 1
        return losses

    # --- inference ------------------------------------------------------------------------
    def _target_vector(self, target: Any, n: int) -> torch.Tensor:
        if target is None:
            raise ValueError("StarGAN.translate needs a target (attribute vector or domain)")
        if self.task.kind == "attributes":
            vec = torch.as_tensor(target, dtype=torch.float32).reshape(n, self.c_dim)
            return vec.to(self.device)
        dom = torch.as_tensor(self.task.domain_index(target), dtype=torch.long).reshape(-1)
        return self._label_vector(dom.expand(n).to(self.device))

    def translate(
        self,
        x: torch.Tensor,
        *,
        target: Any = None,
        latent: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """solver.test: ``G(x, c_trg)`` with per-image IN statistics (see module docstring)."""
        was_training = self.G.training
        self.G.eval()  # instance statistics without updating the stored running buffers
        try:
            return self.G(x, self._target_vector(target, x.size(0)))
        finally:
            self.G.train(was_training)

    # --- released weights -----------------------------------------------------------------
    def load_official(self, obj: Any) -> None:
        """``200000-G.ckpt`` or ``200000-D.ckpt`` (bare state dicts), loaded strictly."""
        if not isinstance(obj, Mapping):
            raise ValueError(
                f"expected a bare state_dict (200000-G.ckpt / 200000-D.ckpt), got {type(obj)}"
            )
        net = self.D if "conv1.weight" in obj else self.G
        state = dict(obj)
        # torch < 0.4.1 wrote no num_batches_tracked; the module's own counter stands in
        for key, value in net.state_dict().items():
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = value
        net.load_state_dict(state)
