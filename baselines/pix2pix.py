"""pix2pix (Isola et al., CVPR 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): a U-Net generator and a conditional 70x70 PatchGAN trained with a vanilla cGAN loss
plus lambda_L1 = 100 times L1 to the paired target.

Facts from junyanz/pytorch-CycleGAN-and-pix2pix:
- ``models/pix2pix_model.py``: netG unet_256, norm batch, gan_mode vanilla, lambda_L1 100, D on
  cat(A, B) (input_nc 6), loss_D = 0.5 (fake + real), D step then G step; Adam lr 2e-4,
  betas (0.5, 0.999) (``options/train_options.py``); dropout on in the generator.
- ``models/networks.py`` @78913853: UnetGenerator (num_downs 8 at 256), NLayerDiscriminator
  (n_layers 3), init normal(0, 0.02).
- ``test.py``: batch_size is forced to 1 and ``model.eval()`` runs only with ``--eval`` (off by
  default): at test time batch norm uses each image's own statistics and dropout stays on. The
  comment there says pix2pix was used this way. ``translate`` does the same, one image at a time.
- Released G (``scripts/download_pix2pix_model.sh``: edges2shoes, facades_label2photo, ...): a bare
  state_dict of the unet_256 G, see tests/fixtures/manifests/pix2pix_unet256_G.json. No D is
  released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.init import init_weights
from baselines.components.junyanz import (
    NLayerDiscriminator,
    UnetGenerator,
    authors_test_mode,
    load_released,
    one_way_target,
    unet_depth,
)
from baselines.components.losses import GANLoss, set_requires_grad
from baselines.schedule import Schedule


@dataclass(frozen=True)
class _Config:
    ngf: int
    ndf: int
    n_layers_d: int


CONFIGS = {"paper": _Config(ngf=64, ndf=64, n_layers_d=3), "tiny": _Config(8, 8, 2)}
LAMBDA_L1 = 100.0
LR, BETAS = 2e-4, (0.5, 0.999)


@register
class Pix2Pix(Translator):
    name = "pix2pix"
    display_name = "pix2pix"
    supports = frozenset({"paired"})
    multimodal = False
    monitor_loss = "G_L1"
    paper_task = TaskSpec(kind="paired", image_size=256, domain_names=("edges", "shoes"))
    # edges2shoes: 15 epochs at batch size 4 (pix2pix paper appendix, as recalled: not checked
    # against the PDF; the repo has no edges2shoes script). The paper's Torch code
    # (phillipi/pix2pix train.lua @0b30782) keeps the learning rate constant.
    paper_schedule = Schedule(
        length=15,
        unit="epochs",
        batch_size=4,
        source="pix2pix paper appendix (edges2shoes: 15 epochs, batch 4; recalled), "
        "phillipi/pix2pix train.lua (constant lr)",
    )

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in CONFIGS:
            raise ValueError(f"pix2pix has no config {config!r}")
        cfg = CONFIGS[config]
        c = task.channels
        self.netG = UnetGenerator(c, c, unet_depth(task.image_size), cfg.ngf, "batch", True)
        self.netD = NLayerDiscriminator(2 * c, cfg.ndf, cfg.n_layers_d, "batch")
        init_weights(self.netG, "normal", 0.02)
        init_weights(self.netD, "normal", 0.02)
        self.gan = GANLoss("vanilla")
        self.opt_G = torch.optim.Adam(self.netG.parameters(), lr=LR, betas=BETAS)
        self.opt_D = torch.optim.Adam(self.netD.parameters(), lr=LR, betas=BETAS)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.train()
        real_a, real_b = batch["x"].to(self.device), batch["x2"].to(self.device)
        fake_b = self.netG(real_a)
        # D: real pair vs fake pair, halved (pix2pix_model.backward_D)
        set_requires_grad([self.netD], True)
        self.opt_D.zero_grad()
        pred_fake = self.netD(torch.cat([real_a, fake_b.detach()], 1))
        pred_real = self.netD(torch.cat([real_a, real_b], 1))
        loss_d = 0.5 * self.gan.dis(pred_real, pred_fake)
        loss_d.backward()
        self.opt_D.step()
        # G: fool D + lambda_L1 * L1
        set_requires_grad([self.netD], False)
        self.opt_G.zero_grad()
        loss_gan = self.gan.gen(self.netD(torch.cat([real_a, fake_b], 1)))
        loss_l1 = F.l1_loss(fake_b, real_b) * LAMBDA_L1
        (loss_gan + loss_l1).backward()
        self.opt_G.step()
        set_requires_grad([self.netD], True)
        self.step += 1
        return {"G_GAN": loss_gan.item(), "G_L1": loss_l1.item(), "D": loss_d.item()}

    def translate(self, x, *, target=None, latent=None, reference=None):
        one_way_target(self.task, target, self.name, len(x))
        # test.py: batch_size 1, no eval() -> per-image batch-norm statistics, dropout on
        with authors_test_mode(self.netG, train=True):
            return torch.cat([self.netG(img[None]) for img in x.to(self.device)])

    def load_official(self, obj: Any) -> None:
        load_released(self.netG, obj)
