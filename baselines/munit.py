"""MUNIT (Huang, Liu, Belongie, Kautz, "Multimodal Unsupervised Image-to-Image Translation",
ECCV 2018).

Facts, from NVlabs/MUNIT (a82e222) ``networks.py``, ``trainer.py``, ``test.py`` and
``configs/edges2shoes_folder.yaml``:

- Per domain an ``AdaINGen``: style encoder (4 downsamples, no norm, global pool, 1x1 conv to
  ``style_dim`` 8), content encoder (2 downsamples, 4 InstanceNorm res blocks), MLP (3 layers,
  width 256) producing the AdaIN parameters of the decoder's 4 res blocks, decoder upsampling
  with LayerNorm. dim 64, relu, reflect padding.
- Objective per iteration (dis_update, then gen_update): LSGAN on cross-domain translations
  with styles ~ N(0, I) (gan_w 1, MsImageDis 3 scales), within-domain image reconstruction
  (recon_x_w 10), style reconstruction of the sampled code (recon_s_w 1), content
  reconstruction (recon_c_w 1); explicit cycle (recon_x_cyc_w) is 0 for edges2shoes and the
  VGG perceptual loss (vgg_w) is 0. Adam lr 1e-4, betas (0.5, 0.999), weight decay 1e-4,
  kaiming init, discriminators N(0, 0.02).
- Test time (test.py, eval mode): ``content, _ = gen_a.encode(x)``; style either sampled
  ``torch.randn(num_style, style_dim, 1, 1)`` or, with ``--style``, ``_, style =
  gen_b.encode(style_image)`` (the *target* domain's style encoder); ``gen_b.decode(content,
  s)``. B->A swaps a and b. Eval mode changes nothing: AdaIN always normalises with instance
  statistics and InstanceNorm keeps no running statistics.
- Release: ``edges2shoes.pt`` = ``{'a': gen_a (edges), 'b': gen_b (shoes)}``; test.py loads
  strictly and on failure applies ``utils.pytorch03_to_pytorch04(state_dict, 'MUNIT')``, which
  deletes the 22 content-encoder InstanceNorm running-stat keys of PyTorch 0.3 files
  (tests/fixtures/manifests/munit_edges2shoes_gen.json).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec
from baselines.components.liu import (
    MLP,
    ContentEncoder,
    Decoder,
    LiuPairTranslator,
    StyleEncoder,
    adain_decode,
    num_adain_params,
    step_schedule,
)


class AdaINGen(nn.Module):
    def __init__(
        self,
        in_dim: int,
        dim: int,
        style_dim: int,
        n_downsample: int,
        n_res: int,
        mlp_dim: int,
        style_downsample: int,
        activ: str,
        pad_type: str,
    ) -> None:
        super().__init__()
        self.style_dim = style_dim
        self.enc_style = StyleEncoder(
            style_downsample, in_dim, dim, style_dim, "none", activ, pad_type
        )
        self.enc_content = ContentEncoder(n_downsample, n_res, in_dim, dim, "in", activ, pad_type)
        self.dec = Decoder(
            n_downsample, n_res, self.enc_content.output_dim, in_dim, "adain", "ln", activ, pad_type
        )
        self.mlp = MLP(style_dim, num_adain_params(self.dec), mlp_dim, 3, activ)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return adain_decode(self.dec, self.mlp, content, style)


@register
class MUNIT(LiuPairTranslator):
    name = "munit"
    display_name = "MUNIT"
    multimodal = True
    reference_guided = True
    paper_task = TaskSpec(kind="unpaired", image_size=256, domain_names=("edges", "shoes"))
    paper_schedule = step_schedule(
        "NVlabs/MUNIT configs/edges2shoes_folder.yaml @cd315e5, train.py"
    )
    GEN = {
        "paper": {
            "dim": 64,
            "style_dim": 8,
            "n_downsample": 2,
            "n_res": 4,
            "mlp_dim": 256,
            "style_downsample": 4,
            "activ": "relu",
            "pad_type": "reflect",
        },
        "tiny": {
            "dim": 16,
            "style_dim": 8,
            "n_downsample": 2,
            "n_res": 1,
            "mlp_dim": 32,
            "style_downsample": 3,
            "activ": "relu",
            "pad_type": "reflect",
        },
    }
    LOSS_W = {"adv": 1.0, "recon_x": 10.0, "recon_s": 1.0, "recon_c": 1.0}

    def make_gen(self, cfg: dict[str, Any]) -> nn.Module:
        return AdaINGen(self.task.channels, **cfg)

    @property
    def style_dim(self) -> int:
        return self.gen_a.style_dim

    def _random_style(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.style_dim, 1, 1, device=self.device)

    def _cross(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c_a, c_b = self.gen_a.enc_content(x_a), self.gen_b.enc_content(x_b)
        x_ba = self.gen_a.decode(c_b, self._random_style(len(x_b)))
        x_ab = self.gen_b.decode(c_a, self._random_style(len(x_a)))
        return x_ba, x_ab

    def _gen_losses(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """MUNIT_Trainer.gen_update with recon_x_cyc_w = vgg_w = 0 (terms not computed)."""
        s_a, s_b = self._random_style(len(x_a)), self._random_style(len(x_b))
        c_a, s_a_prime = self.gen_a.enc_content(x_a), self.gen_a.enc_style(x_a)
        c_b, s_b_prime = self.gen_b.enc_content(x_b), self.gen_b.enc_style(x_b)
        x_a_recon, x_b_recon = self.gen_a.decode(c_a, s_a_prime), self.gen_b.decode(c_b, s_b_prime)
        x_ba, x_ab = self.gen_a.decode(c_b, s_a), self.gen_b.decode(c_a, s_b)
        c_b_recon, s_a_recon = self.gen_a.enc_content(x_ba), self.gen_a.enc_style(x_ba)
        c_a_recon, s_b_recon = self.gen_b.enc_content(x_ab), self.gen_b.enc_style(x_ab)
        return {
            "adv": self._adv(self.dis_a, x_ba) + self._adv(self.dis_b, x_ab),
            "recon_x": F.l1_loss(x_a_recon, x_a) + F.l1_loss(x_b_recon, x_b),
            "recon_s": F.l1_loss(s_a_recon, s_a) + F.l1_loss(s_b_recon, s_b),
            "recon_c": F.l1_loss(c_a_recon, c_a) + F.l1_loss(c_b_recon, c_b),
        }

    def translate(self, x, *, target=None, latent=None, reference=None):
        """``latent``: style codes (N, style_dim[, 1, 1]); ``reference``: (N, 3, S, S) images of
        the target domain whose style is used; neither: styles sampled from N(0, I)."""
        src, dst = (
            (self.gen_a, self.gen_b) if self._direction(target) == 1 else (self.gen_b, self.gen_a)
        )
        n = x.shape[0]
        if reference is not None:
            style = dst.enc_style(reference.to(x.device))
        elif latent is not None:
            style = latent.to(x.device).reshape(n, self.style_dim, 1, 1)
        else:
            style = self._random_style(n)
        return dst.decode(src.enc_content(x), style)
