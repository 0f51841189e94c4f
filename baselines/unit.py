"""UNIT (Liu, Breuel, Kautz, "Unsupervised Image-to-Image Translation Networks", NeurIPS 2017).

Facts, from the PyTorch code mingyuliutw/UNIT (28d5982) and the identical UNIT parts of
NVlabs/MUNIT (``networks.VAEGen``, ``trainer.UNIT_Trainer``, ``test.py --trainer UNIT``):

- Per domain a ``VAEGen``: content encoder (7x7 conv, 2 stride-2 downsamples, 4 res blocks, all
  InstanceNorm, reflect padding, dim 64) and decoder (4 InstanceNorm res blocks, 2 x (nearest
  upsample, 5x5 conv, LayerNorm), 7x7 conv + tanh). The shared latent space comes from the
  losses, not shared weights ("no weight sharing in this PyTorch version", manifest).
- Reduced VAE: the encoder output is the mean, the posterior has unit variance, so training
  decodes ``h + N(0, I)`` and the KL term is ``mean(h^2)`` (``__compute_kl``).
- Objective (configs/unit_edges2shoes_folder.yaml): gan_w 1 (LSGAN, MsImageDis: dim 64, 4
  layers, 3 scales, lrelu, no norm), recon_x_w 10, recon_kl_w 0.01, recon_x_cyc_w 10,
  recon_kl_cyc_w 0.01, vgg_w 0; Adam lr 1e-4, betas (0.5, 0.999), weight decay 1e-4, kaiming
  init. (The gta2city release was trained with vgg_w 1, a VGG16 perceptual loss whose caffe
  weights cannot be fetched offline; it is not used here.)
- Test time (test.py): ``content, _ = encode(image); decode(content)`` in eval mode: the mean,
  no noise, so UNIT is unimodal. Eval mode changes nothing else (InstanceNorm has no running
  statistics; LayerNorm is mode-free).
- Release: ``unit_gta2city.pt`` = ``{'a': gen_a, 'b': gen_b}`` (GTA -> Cityscapes, 512 px);
  test.py falls back to ``pytorch03_to_pytorch04``, which deletes 38 InstanceNorm running-stat
  keys (tests/fixtures/manifests/unit_gen.json).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec
from baselines.components.liu import (
    ContentEncoder,
    Decoder,
    LiuPairTranslator,
    step_schedule,
)
from baselines.components.losses import kl_standard_normal


class VAEGen(nn.Module):
    def __init__(
        self, in_dim: int, dim: int, n_downsample: int, n_res: int, activ: str, pad_type: str
    ) -> None:
        super().__init__()
        self.enc = ContentEncoder(n_downsample, n_res, in_dim, dim, "in", activ, pad_type)
        self.dec = Decoder(
            n_downsample, n_res, self.enc.output_dim, in_dim, "in", "ln", activ, pad_type
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent mean; training adds unit-variance noise itself."""
        return self.enc(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.dec(h)


@register
class UNIT(LiuPairTranslator):
    name = "unit"
    display_name = "UNIT"
    multimodal = False
    reference_guided = False
    paper_task = TaskSpec(kind="unpaired", image_size=512, domain_names=("gta", "cityscapes"))
    paper_schedule = step_schedule("mingyuliutw/UNIT configs/unit_edges2shoes_folder.yaml @25e99af")
    GEN = {
        "paper": {"dim": 64, "n_downsample": 2, "n_res": 4, "activ": "relu", "pad_type": "reflect"},
        "tiny": {"dim": 16, "n_downsample": 2, "n_res": 1, "activ": "relu", "pad_type": "reflect"},
    }
    LOSS_W = {"adv": 1.0, "recon_x": 10.0, "kl": 0.01, "cyc_x": 10.0, "kl_cyc": 0.01}

    def make_gen(self, cfg: dict[str, Any]) -> nn.Module:
        return VAEGen(self.task.channels, **cfg)

    def _cross(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h_a, h_b = self.gen_a.encode(x_a), self.gen_b.encode(x_b)
        x_ba = self.gen_a.decode(h_b + torch.randn_like(h_b))
        x_ab = self.gen_b.decode(h_a + torch.randn_like(h_a))
        return x_ba, x_ab

    def _gen_losses(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """UNIT_Trainer.gen_update: within-domain, cross-domain and cycle reconstructions, each
        latent sampled with unit-variance noise."""
        h_a, h_b = self.gen_a.encode(x_a), self.gen_b.encode(x_b)
        z_a, z_b = h_a + torch.randn_like(h_a), h_b + torch.randn_like(h_b)
        x_a_recon, x_b_recon = self.gen_a.decode(z_a), self.gen_b.decode(z_b)
        x_ba, x_ab = self.gen_a.decode(z_b), self.gen_b.decode(z_a)
        h_b_recon, h_a_recon = self.gen_a.encode(x_ba), self.gen_b.encode(x_ab)
        x_aba = self.gen_a.decode(h_a_recon + torch.randn_like(h_a_recon))
        x_bab = self.gen_b.decode(h_b_recon + torch.randn_like(h_b_recon))
        return {
            "adv": self._adv(self.dis_a, x_ba) + self._adv(self.dis_b, x_ab),
            "recon_x": F.l1_loss(x_a_recon, x_a) + F.l1_loss(x_b_recon, x_b),
            "kl": kl_standard_normal(h_a) + kl_standard_normal(h_b),
            "cyc_x": F.l1_loss(x_aba, x_a) + F.l1_loss(x_bab, x_b),
            "kl_cyc": kl_standard_normal(h_a_recon) + kl_standard_normal(h_b_recon),
        }

    def translate(self, x, *, target=None, latent=None, reference=None):
        src, dst = (
            (self.gen_a, self.gen_b) if self._direction(target) == 1 else (self.gen_b, self.gen_a)
        )
        return dst.decode(src.encode(x))
