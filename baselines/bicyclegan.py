"""BicycleGAN (Zhu et al., NeurIPS 2017, "Toward Multimodal Image-to-Image Translation"):
cVAE-GAN (encode B with E, reconstruct it) + cLR-GAN (random z, recover it with E) on one U-Net
generator with z added at every encoder level.

Facts from junyanz/BicycleGAN:
- ``models/bicycle_gan_model.py``: each batch is split in halves; the first half gives
  z_encoded = mu + eps * std from E(B) and z_random ~ N(0, I); fake_B_encoded and fake_B_random
  both come from the first half's A. G+E step: D(fake_enc) + D2(fake_rand) + lambda_L1 L1 +
  KL (sum, times lambda_kl); then lambda_z |E(fake_rand).mu - z_random| with E frozen (updates G
  alone). D step: D on (B_enc, fake_enc), D2 on (B of the second half, fake_rand). Adam for G,
  E, D, D2, lr 2e-4, betas (0.5, 0.999).
- ``options/train_options.py``: lambda_L1 10, lambda_kl 0.01, lambda_z 0.5, lambda_GAN(2) 1,
  gan_mode lsgan; ``options/base_options.py``: nz 8, netG unet_256, where_add all, netE
  resnet_256, netD/netD2 basic_256_multi with num_Ds 2, norm instance, nl relu, upsample basic,
  conditional_D off, init xavier gain 0.02. ``scripts/train_edges2shoes.sh``: --use_dropout,
  input_nc 1. The multi-scale GANLoss sums over scales and loss_D = fake + real (no 0.5).
- ``test.py`` calls ``model.eval()``; ``test()`` uses z ~ N(0, I) or, to encode, the mean of
  E(real_B) (``z0, _ = self.netE(self.real_B)``). So ``translate`` runs G in eval mode (dropout
  off) and takes the mean for a reference.
- edges are read as one channel (``input_nc 1``): ``data/aligned_dataset.py`` (@bccbc42) takes
  0.299 R + 0.587 G + 0.114 B of the normalised image; later versions use
  ``transforms.Grayscale(1)``, the same ITU-R 601-2 luma weights. ``translate`` takes RGB and
  converts when the source domain is "edges".
- Released files (``pretrained_models/download_model.sh``): ``edges2shoes_net_G.pth`` and
  ``edges2shoes_net_E.pth``, bare state_dicts (manifests bicyclegan_edges2shoes_{G,E}.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.init import init_weights
from baselines.components.junyanz import (
    EResNet,
    MultiscalePatchGAN,
    UnetGeneratorZ,
    authors_test_mode,
    encoder_blocks,
    linear_schedule,
    load_released,
    one_way_target,
    unet_depth,
)
from baselines.components.losses import GANLoss, kl_standard_normal, set_requires_grad


@dataclass(frozen=True)
class _Config:
    ngf: int
    nef: int
    ndf: int
    nz: int
    num_ds: int


CONFIGS = {"paper": _Config(64, 64, 64, 8, 2), "tiny": _Config(8, 8, 8, 8, 2)}
LAMBDA_L1, LAMBDA_KL, LAMBDA_Z = 10.0, 0.01, 0.5
LR, BETAS = 2e-4, (0.5, 0.999)
GRAYSCALE_SOURCES = frozenset({"edges"})  # the authors train edges2* with input_nc 1
LUMA = (0.299, 0.587, 0.114)


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma of an RGB batch in [-1, 1], one channel (weights sum to 1, so it is the
    same on [-1, 1] as on [0, 1])."""
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


@register
class BicycleGAN(Translator):
    name = "bicyclegan"
    display_name = "BicycleGAN"
    supports = frozenset({"paired"})
    multimodal = True
    reference_guided = True
    monitor_loss = "G_L1"
    paper_task = TaskSpec(kind="paired", image_size=256, domain_names=("edges", "shoes"))
    # scripts/train_edges2shoes.sh @86d3319: NITER=30, NITER_DECAY=30 (batch_size stays at the
    # options default 2); networks.get_scheduler 'linear' with epoch_count 1, stepped per epoch
    paper_schedule = linear_schedule(
        30,
        30,
        batch_size=2,
        source="junyanz/BicycleGAN scripts/train_edges2shoes.sh (niter 30, niter_decay 30), "
        "options batch_size 2, networks.get_scheduler linear",
    )

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in CONFIGS:
            raise ValueError(f"bicyclegan has no config {config!r}")
        cfg = CONFIGS[config]
        self.nz = cfg.nz
        self.gray_input = task.domain_names[0] in GRAYSCALE_SOURCES
        in_nc, out_nc = (1 if self.gray_input else task.channels), task.channels
        size = task.image_size
        n_layers_d = 3 if size >= 256 and config == "paper" else 2  # basic_256 / basic_128_multi
        self.netG = UnetGeneratorZ(
            in_nc,
            out_nc,
            cfg.nz,
            unet_depth(size),
            cfg.ngf,
            "instance",
            "relu",
            use_dropout=True,
            z_at="all_down",
        )
        self.netE = EResNet(out_nc, cfg.nz, cfg.nef, encoder_blocks(size), "instance", "lrelu")
        self.netD = MultiscalePatchGAN(out_nc, cfg.ndf, n_layers_d, "instance", cfg.num_ds)
        self.netD2 = MultiscalePatchGAN(out_nc, cfg.ndf, n_layers_d, "instance", cfg.num_ds)
        for net in (self.netG, self.netE, self.netD, self.netD2):
            init_weights(net, "xavier", 0.02)
        self.gan = GANLoss("lsgan")
        self.opt_G = torch.optim.Adam(self.netG.parameters(), lr=LR, betas=BETAS)
        self.opt_E = torch.optim.Adam(self.netE.parameters(), lr=LR, betas=BETAS)
        self.opt_D = torch.optim.Adam(self.netD.parameters(), lr=LR, betas=BETAS)
        self.opt_D2 = torch.optim.Adam(self.netD2.parameters(), lr=LR, betas=BETAS)
        self._encoder_missing = False  # set when only a released G was loaded

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "E": self.opt_E, "D": self.opt_D, "D2": self.opt_D2}

    def _source(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return to_gray(x) if self.gray_input and x.shape[1] == 3 else x

    def _summed(self, loss: torch.Tensor, scales: int) -> torch.Tensor:
        """The shared GANLoss averages over scales; BicycleGAN's sums them."""
        return loss * scales

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.train()
        real_a, real_b = self._source(batch["x"]), batch["x2"].to(self.device)
        n = real_a.shape[0]
        half = max(n // 2, 1)
        a_enc, b_enc = real_a[:half], real_b[:half]
        b_rand = real_b[half:] if n > half else b_enc
        nd = self.netD.num_d

        mu, logvar = self.netE(b_enc)
        z_enc = torch.randn_like(mu) * logvar.mul(0.5).exp() + mu
        z_rand = torch.randn(half, self.nz, device=self.device)
        fake_enc = self.netG(a_enc, z_enc)
        fake_rand = self.netG(a_enc, z_rand)
        mu2, _ = self.netE(fake_rand)

        # G and E: GAN on both fakes, L1 on the encoded one, KL on E(B)
        set_requires_grad([self.netD, self.netD2], False)
        self.opt_E.zero_grad()
        self.opt_G.zero_grad()
        g_gan = self._summed(self.gan.gen(self.netD(fake_enc)), nd)
        g_gan2 = self._summed(self.gan.gen(self.netD2(fake_rand)), nd)
        kl = kl_standard_normal(mu, logvar) * mu.numel() * LAMBDA_KL  # official: a sum
        g_l1 = F.l1_loss(fake_enc, b_enc) * LAMBDA_L1
        (g_gan + g_gan2 + g_l1 + kl).backward(retain_graph=True)
        # latent regression updates G alone: E frozen while the gradient flows through it
        set_requires_grad([self.netE], False)
        z_l1 = F.l1_loss(mu2, z_rand) * LAMBDA_Z
        z_l1.backward()
        set_requires_grad([self.netE], True)
        self.opt_E.step()
        self.opt_G.step()

        # D on (B, fake_encoded), D2 on (second-half B, fake_random)
        set_requires_grad([self.netD, self.netD2], True)
        self.opt_D.zero_grad()
        loss_d = self._summed(self.gan.dis(self.netD(b_enc), self.netD(fake_enc.detach())), nd)
        loss_d.backward()
        self.opt_D.step()
        self.opt_D2.zero_grad()
        loss_d2 = self._summed(self.gan.dis(self.netD2(b_rand), self.netD2(fake_rand.detach())), nd)
        loss_d2.backward()
        self.opt_D2.step()
        self.step += 1
        return {
            "G_GAN": g_gan.item(),
            "G_GAN2": g_gan2.item(),
            "G_L1": g_l1.item(),
            "z_L1": z_l1.item(),
            "kl": kl.item(),
            "D": loss_d.item(),
            "D2": loss_d2.item(),
        }

    def translate(self, x, *, target=None, latent=None, reference=None):
        n = x.shape[0]
        one_way_target(self.task, target, self.name, n)
        if latent is not None and reference is not None:
            raise ValueError("give bicyclegan either a latent or a reference, not both")
        with authors_test_mode(self.netG, train=False), authors_test_mode(self.netE, train=False):
            if reference is not None:
                if self._encoder_missing:
                    raise ValueError(
                        "bicyclegan: the released E was not loaded (put *_net_E.pth next to "
                        "*_net_G.pth), so reference-guided translation is unavailable"
                    )
                z, _ = self.netE(reference.to(self.device))  # the mean, as test.py
            elif latent is None:
                z = torch.randn(n, self.nz, device=self.device)
            else:
                z = latent.to(self.device).reshape(n, self.nz)
            return self.netG(self._source(x), z)

    def load_official(self, obj: Any) -> None:
        """One released file: ``*_net_G.pth`` (keys ``model.*``) or ``*_net_E.pth``."""
        keys = list(obj) if isinstance(obj, dict) else []
        if keys and all(k.startswith("model.") for k in keys):
            load_released(self.netG, obj)
            self._encoder_missing = True
        elif keys and all(k.startswith(("conv.", "fc.", "fcVar.")) for k in keys):
            load_released(self.netE, obj)
            self._encoder_missing = False
        else:
            raise KeyError("neither a BicycleGAN G (model.*) nor E (conv.*, fc.*) state_dict")

    def load(self, path: str | Path) -> None:
        """Also load the released E that sits next to a released G (the authors ship the pair
        ``<name>_net_G.pth`` / ``<name>_net_E.pth``)."""
        super().load(path)
        sibling = Path(path).with_name(re.sub(r"G(\.pth?)$", r"E\1", Path(path).name))
        if self._encoder_missing and sibling != Path(path) and sibling.is_file():
            super().load(sibling)
