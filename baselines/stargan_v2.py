"""StarGAN v2 (Choi et al., CVPR 2020): one generator for all domains, steered by a style code
from a mapping network (latent-guided, z ~ N(0, I)) or a style encoder (reference-guided).

Facts, from clovaai/stargan-v2 @875b70a:

- core/model.py. ``ResBlk``: pre-activation residual block (IN(affine) -> LeakyReLU(0.2) -> conv3x3,
  optional 2x avg-pool, IN -> LReLU -> conv3x3), 1x1 conv shortcut (no bias) when channels
  change, output divided by sqrt(2). ``AdaIN``: ``InstanceNorm2d(affine=False)`` then
  ``(1 + gamma) * IN(x) + beta`` with (gamma, beta) = ``fc(s)``. ``AdainResBlk``: the same
  block with AdaIN and nearest 2x upsampling; with ``w_hpf == 0`` the shortcut is added and the
  sum divided by sqrt(2). ``Generator(img_size=256, style_dim=64, max_conv_dim=512, w_hpf)``:
  ``from_rgb`` conv3x3 to ``2**14 // img_size`` channels, ``log2(img_size) - 4`` down ResBlks
  (channels doubling up to 512) + 2 bottleneck ResBlks in ``encode``, the mirror AdainResBlks in
  ``decode``, ``to_rgb`` = IN(affine) -> LReLU -> conv1x1; no tanh. ``MappingNetwork(latent_dim
  16, style_dim 64, num_domains)``: shared 4 x (Linear 512, ReLU), per-domain unshared heads of
  3 x (Linear 512, ReLU) + Linear to style_dim. ``StyleEncoder`` and ``Discriminator`` share a
  trunk: conv3x3, ``log2(img_size) - 2`` down ResBlks, LReLU, conv4x4, LReLU; then per-domain
  Linear heads (E) or a 1x1 conv to num_domains (D); the output of domain ``y`` is picked.
  AFHQ uses ``w_hpf 0`` (README), so no HighPass filter and no FAN landmark network.
- core/solver.py. He init (``utils.he_init``: kaiming_normal fan_in for conv/linear, zero bias)
  on the online nets only; ``build_model`` deep-copies the EMA nets before that, so they start
  at PyTorch's default init. Each iteration: a D step with a latent-made fake, a D step with a
  reference-made fake (non-saturating BCE + lambda_reg * R1 on reals), a G step with style codes
  from z and z2 that updates G, F and E, a G step with style codes from x_ref and x_ref2 that
  updates G only; G loss = adv + lambda_sty * |E(G(x, s)) - s|_1 - lambda_ds * |G(x, s) -
  G(x, s2)|_1 (second output detached) + lambda_cyc * |G(G(x, s), E(x, y_org)) - x|_1; then
  ``moving_average`` (lerp, beta 0.999) into G_ema, F_ema, E_ema; lambda_ds falls linearly to 0
  over ``ds_iter`` (100000) iterations.
- main.py: latent_dim 16, style_dim 64, lambda_reg = lambda_sty = lambda_ds = lambda_cyc = 1,
  lr 1e-4 (D, E, G), f_lr 1e-6 (F), Adam betas (0.0, 0.99), weight_decay 1e-4, img_size 256,
  total_iters 100000, batch_size 8; the README's AFHQ command sets lambda_ds 2 and w_hpf 0.
- metrics/eval.py (test path): under ``torch.no_grad()`` with the EMA nets,
  ``s = mapping_network(torch.randn(N, latent_dim), y_trg)`` (latent) or
  ``s = style_encoder(x_ref, y_trg)`` (reference), then ``generator(x_src, s)``. No ``eval()``
  call; the nets have no dropout or running statistics, so the mode changes nothing. Outputs
  are saved as PNG after clamping to [-1, 1]; ``translate`` returns that clamped image.
- Released ``100000_nets_ema.ckpt`` (download.sh pretrained-network-afhq) = ``{'generator',
  'mapping_network', 'style_encoder'}`` state dicts without a ``module.`` prefix, loaded
  strictly by core/checkpoint.CheckpointIO into the EMA nets.

The ``tiny`` config is the same code with 8 base channels (max 32), style_dim 16, a 64-wide
mapping network (a 32 px step costs about 0.17 CPU-core seconds at batch 8), an EMA beta of 0.99
and ds_iter 1000, because a few hundred CPU steps would leave a 0.999-EMA near its initial
weights.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.ema import ema_update
from baselines.components.losses import GANLoss, r1_penalty, set_requires_grad
from baselines.schedule import Schedule

EMA_NETS = ("generator", "mapping_network", "style_encoder")


@dataclass(frozen=True)
class StarGANv2Config:
    dim_in: int | None  # base channels; None: 2**14 // img_size as model.py
    max_conv_dim: int
    style_dim: int
    hidden_dim: int
    latent_dim: int = 16
    lr: float = 1e-4
    f_lr: float = 1e-6
    betas: tuple[float, float] = (0.0, 0.99)
    weight_decay: float = 1e-4
    lambda_reg: float = 1.0
    lambda_sty: float = 1.0
    lambda_ds: float = 1.0
    lambda_cyc: float = 1.0
    ds_iter: int = 100_000
    ema_beta: float = 0.999


CONFIGS = {
    # lambda_ds 2: the README's AFHQ training command (main.py's default 1 is CelebA-HQ's)
    "paper": StarGANv2Config(
        dim_in=None, max_conv_dim=512, style_dim=64, hidden_dim=512, lambda_ds=2.0
    ),
    "tiny": StarGANv2Config(
        dim_in=8, max_conv_dim=32, style_dim=16, hidden_dim=64, ds_iter=1000, ema_beta=0.99
    ),
}


class ResBlk(nn.Module):
    def __init__(
        self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False
    ) -> None:
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        return F.avg_pool2d(x, 2) if self.downsample else x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.conv1(F.leaky_relu(x, 0.2))
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(F.leaky_relu(x, 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    def __init__(self, style_dim: int, num_features: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """AdaIN residual block, ``w_hpf == 0`` form (shortcut always added)."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self._up(F.leaky_relu(self.norm1(x, s), 0.2)))
        h = self.conv2(F.leaky_relu(self.norm2(h, s), 0.2))
        sc = self._up(x)
        if self.learned_sc:
            sc = self.conv1x1(sc)
        return (h + sc) / math.sqrt(2)


def _check_size(img_size: int) -> None:
    if img_size < 32 or img_size & (img_size - 1):
        raise ValueError(
            f"StarGAN v2 needs a power-of-two image size >= 32 (its block count is "
            f"log2(img_size) - 4); got {img_size}"
        )


class Generator(nn.Module):
    def __init__(self, img_size: int, style_dim: int, max_conv_dim: int, dim_in: int) -> None:
        super().__init__()
        _check_size(img_size)
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(dim_in, 3, 1)
        )
        dim_out = dim_in
        for _ in range(int(math.log2(img_size)) - 4):
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, upsample=True))
            dim_in = dim_out
        for _ in range(2):
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = self.from_rgb(x)
        for block in self.encode:
            x = block(x)
        for block in self.decode:
            x = block(x, s)
        return self.to_rgb(x)


def _pick(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Row i of ``out`` (N, num_domains, ...) at domain ``y[i]``."""
    return out[torch.arange(y.size(0), device=y.device), y]


class MappingNetwork(nn.Module):
    def __init__(self, latent_dim: int, style_dim: int, num_domains: int, hidden: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(
            nn.Sequential(
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, style_dim),
            )
            for _ in range(num_domains)
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        return _pick(torch.stack([head(h) for head in self.unshared], dim=1), y)


def _trunk(img_size: int, dim_in: int, max_conv_dim: int) -> tuple[list[nn.Module], int]:
    """The conv trunk StyleEncoder.shared and Discriminator.main share, down to 1x1."""
    _check_size(img_size)
    blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(int(math.log2(img_size)) - 2):
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim_out


class StyleEncoder(nn.Module):
    def __init__(
        self, img_size: int, style_dim: int, num_domains: int, max_conv_dim: int, dim_in: int
    ) -> None:
        super().__init__()
        blocks, dim_out = _trunk(img_size, dim_in, max_conv_dim)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim_out, style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(x).flatten(1)
        return _pick(torch.stack([head(h) for head in self.unshared], dim=1), y)


class Discriminator(nn.Module):
    def __init__(self, img_size: int, num_domains: int, max_conv_dim: int, dim_in: int) -> None:
        super().__init__()
        blocks, dim_out = _trunk(img_size, dim_in, max_conv_dim)
        self.main = nn.Sequential(*blocks, nn.Conv2d(dim_out, num_domains, 1, 1, 0))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _pick(self.main(x).flatten(1), y)


def he_init(module: nn.Module) -> None:
    """core/utils.he_init: kaiming_normal (fan_in, relu) for conv and linear, zero bias."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


@register
class StarGANv2(Translator):
    name = "stargan_v2"
    display_name = "StarGAN v2"
    supports = frozenset({"multi_domain"})
    multimodal = True
    reference_guided = True
    monitor_loss = "G/latent_cyc"
    paper_task = TaskSpec(
        kind="multi_domain", image_size=256, num_domains=3, domain_names=("cat", "dog", "wild")
    )
    # main.py @0c7c192: total_iters 100000, batch_size 8; core/solver.py has no lr scheduler
    paper_schedule = Schedule(
        length=100_000,
        batch_size=8,
        source="clovaai/stargan-v2 main.py (total_iters 100000, batch_size 8); no lr decay",
    )

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        c = self.cfg = CONFIGS[config]
        size, k = task.image_size, task.num_domains
        _check_size(size)
        dim_in = c.dim_in or 2**14 // size
        nets = {
            "generator": Generator(size, c.style_dim, c.max_conv_dim, dim_in),
            "mapping_network": MappingNetwork(c.latent_dim, c.style_dim, k, c.hidden_dim),
            "style_encoder": StyleEncoder(size, c.style_dim, k, c.max_conv_dim, dim_in),
            "discriminator": Discriminator(size, k, c.max_conv_dim, dim_in),
        }
        # EMA copies are taken before He init, as build_model runs before Solver's init
        self.nets_ema = nn.ModuleDict({n: copy.deepcopy(nets[n]) for n in EMA_NETS})
        self.nets = nn.ModuleDict(nets)
        self.nets.apply(he_init)
        for net in self.nets_ema.values():
            net.requires_grad_(False)
        self.optims = {
            n: torch.optim.Adam(
                net.parameters(),
                lr=c.f_lr if n == "mapping_network" else c.lr,
                betas=c.betas,
                weight_decay=c.weight_decay,
            )
            for n, net in self.nets.items()
        }
        self.gan = GANLoss("nonsat")

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.optims

    # --- training -------------------------------------------------------------------------
    def _style(self, y: torch.Tensor, src: torch.Tensor, latent: bool) -> torch.Tensor:
        """Style code of domain ``y`` from a latent (mapping network) or an image (encoder)."""
        n = self.nets
        return n.mapping_network(src, y) if latent else n.style_encoder(src, y)

    def _d_loss(self, x_real, y_org, y_trg, src, latent: bool) -> tuple[torch.Tensor, dict]:
        """solver.compute_d_loss: BCE on real and fake + lambda_reg * R1 on the reals."""
        x_real = x_real.detach().requires_grad_(True)
        out_real = self.nets.discriminator(x_real, y_org)
        reg = r1_penalty(out_real, x_real)
        with torch.no_grad():
            x_fake = self.nets.generator(x_real, self._style(y_trg, src, latent))
        adv = self.gan.dis(out_real, self.nets.discriminator(x_fake, y_trg))
        loss = adv + self.cfg.lambda_reg * reg
        return loss, {"adv": adv.item(), "reg": reg.item()}

    def _g_loss(self, x_real, y_org, y_trg, srcs, latent: bool) -> tuple[torch.Tensor, dict]:
        """solver.compute_g_loss with two style sources (z, z2) or (x_ref, x_ref2)."""
        c, n = self.cfg, self.nets
        s_trg = self._style(y_trg, srcs[0], latent)
        x_fake = n.generator(x_real, s_trg)
        adv = self.gan.gen(n.discriminator(x_fake, y_trg))
        sty = (n.style_encoder(x_fake, y_trg) - s_trg).abs().mean()
        x_fake2 = n.generator(x_real, self._style(y_trg, srcs[1], latent)).detach()
        ds = (x_fake - x_fake2).abs().mean()
        x_rec = n.generator(x_fake, n.style_encoder(x_real, y_org))
        cyc = (x_rec - x_real).abs().mean()
        loss = adv + c.lambda_sty * sty - self.lambda_ds() * ds + c.lambda_cyc * cyc
        return loss, {"adv": adv.item(), "sty": sty.item(), "ds": ds.item(), "cyc": cyc.item()}

    def lambda_ds(self) -> float:
        """Diversity weight at this step: linear decay to 0 over ``ds_iter`` iterations."""
        return self.cfg.lambda_ds * max(0.0, 1.0 - self.step / self.cfg.ds_iter)

    def _zero_grad(self) -> None:
        for opt in self.optims.values():
            opt.zero_grad()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One solver.train iteration: D (latent, reference), G (latent, reference), EMA."""
        dev = self.device
        x, y = batch["x"].to(dev), batch["y"].to(dev)
        y_trg, x_ref, x_ref2 = batch["y2"].to(dev), batch["x2"].to(dev), batch["x3"].to(dev)
        z = torch.randn(x.size(0), self.cfg.latent_dim).to(dev)
        z2 = torch.randn(x.size(0), self.cfg.latent_dim).to(dev)
        logs: dict[str, float] = {}

        for tag, src, latent in (("latent", z, True), ("ref", x_ref, False)):
            loss, parts = self._d_loss(x, y, y_trg, src, latent)
            self._zero_grad()
            loss.backward()
            self.optims["discriminator"].step()
            logs |= {f"D/{tag}_{k}": v for k, v in parts.items()}

        set_requires_grad([self.nets.discriminator], False)  # D is not stepped by G losses
        loss, parts = self._g_loss(x, y, y_trg, (z, z2), latent=True)
        self._zero_grad()
        loss.backward()
        for name in EMA_NETS:
            self.optims[name].step()
        logs |= {f"G/latent_{k}": v for k, v in parts.items()}

        loss, parts = self._g_loss(x, y, y_trg, (x_ref, x_ref2), latent=False)
        self._zero_grad()
        loss.backward()
        self.optims["generator"].step()
        set_requires_grad([self.nets.discriminator], True)
        logs |= {f"G/ref_{k}": v for k, v in parts.items()}

        for name in EMA_NETS:
            ema_update(self.nets_ema[name], self.nets[name], self.cfg.ema_beta)
        logs["G/lambda_ds"] = self.lambda_ds()
        self.step += 1
        return logs

    # --- inference ------------------------------------------------------------------------
    def translate(
        self,
        x: torch.Tensor,
        *,
        target: Any = None,
        latent: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """metrics/eval.py with the EMA nets: style from ``reference`` (style encoder) or from
        ``latent`` (mapping network; z ~ N(0, I) from the global CPU RNG when omitted)."""
        if target is None:
            raise ValueError("StarGAN v2 translate needs a target domain")
        n, dev = x.size(0), x.device
        y = torch.as_tensor(self.task.domain_index(target), dtype=torch.long).reshape(-1)
        y = y.expand(n).to(dev)
        ema = self.nets_ema
        if reference is not None:
            s = ema.style_encoder(reference.to(dev), y)
        else:
            z = torch.randn(n, self.cfg.latent_dim) if latent is None else latent
            s = ema.mapping_network(z.to(dev), y)
        return ema.generator(x, s).clamp(-1, 1)

    # --- released weights -----------------------------------------------------------------
    def load_official(self, obj: Any) -> None:
        """``{step}_nets_ema.ckpt``: {'generator', 'mapping_network', 'style_encoder'} into the
        EMA nets (strict), as CheckpointIO.load does for sampling and evaluation."""
        if not isinstance(obj, Mapping) or not set(EMA_NETS) <= set(obj):
            keys = sorted(obj) if isinstance(obj, Mapping) else type(obj).__name__
            raise KeyError(f"expected a nets_ema checkpoint with keys {EMA_NETS}, got {keys}")
        for name in EMA_NETS:
            self.nets_ema[name].load_state_dict(obj[name])
