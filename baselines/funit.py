"""FUNIT (Liu et al., "Few-Shot Unsupervised Image-to-Image Translation", ICCV 2019).

Facts, from NVlabs/FUNIT (198f430) ``networks.py``, ``blocks.py``, ``funit_model.py``,
``trainer.py``, ``train.py``, ``test_k_shot.py`` and ``configs/funit_animals.yaml``:

- ``FewShotGen``: content encoder (3 downsamples, 2 InstanceNorm res blocks, nf 64 -> 512),
  class-model encoder (MUNIT's style encoder: 4 downsamples, no norm, global pool, 1x1 conv to
  latent_dim 64), MLP (3 layers, width 256) -> AdaIN parameters of the decoder's 2 res blocks;
  the decoder upsamples with *InstanceNorm* (not MUNIT's LayerNorm).
- ``GPPatchMcResDis``: 7x7 conv, 5 stages of two pre-activation res blocks (width doubling to
  1024; 3x3 avg-pool stride 2 after all but the last), lrelu + 1x1 conv to one map per *source
  class*; the output for the image's class is selected. Its class count is
  ``task.num_domains`` (119 on Animal Faces).
- Per iteration (train.py): dis_update then gen_update. D: hinge on real class images ``xb``
  (label ``lb``) and on translations of content ``xa`` with ``xb``'s class code, plus
  ``10 * calc_grad2`` (squared gradient of the *mean* real response, summed, / batch).
  G: 0.5 * (hinge adv of translation + of reconstruction), r_w 0.1 * L1 reconstruction of
  ``xa`` from its own class code, fm_w 1 * L1 between spatially pooled D features of
  (reconstruction, xa) and (translation, xb); gan_w 1. RMSprop (torch defaults otherwise) with
  lr 1e-4 for both nets, weight decay 1e-4, kaiming init. Training uses one class image per
  content image (K = 1).
- ``gen_test`` is an EMA copy of ``gen`` (``update_average``, beta 0.999, parameters only,
  after every G step), made by deepcopy after init.
- Test time (test_k_shot.py, funit_model.translate_simple / compute_k_style): ``gen_test``
  only; the class code is the *mean of the K shots' class codes*; ``gen_test.decode(
  gen_test.enc_content(x), code)``. Eval mode changes nothing (no running statistics used).
- Release ``animal149_gen.pt`` = ``{'gen': ..., 'gen_test': ...}`` loaded strictly
  (``Trainer.load_ckpt``); the discriminator is not released.
- Tiny config only: EMA beta 0.99, so the test copy follows a few-hundred-step run.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.ema import ema_update
from baselines.components.init import init_weights
from baselines.components.liu import (
    MLP,
    ActFirstResBlock,
    ContentEncoder,
    Conv2dBlock,
    Decoder,
    StyleEncoder,
    adain_decode,
    check_image_size,
    num_adain_params,
)
from baselines.components.losses import GANLoss, r1_penalty, set_requires_grad
from baselines.schedule import Schedule


class FewShotGen(nn.Module):
    def __init__(
        self,
        nf: int,
        n_res_blks: int,
        nf_mlp: int,
        latent_dim: int,
        n_mlp_blks: int,
        n_downs_content: int,
        n_downs_class: int,
    ) -> None:
        super().__init__()
        self.enc_class_model = StyleEncoder(
            n_downs_class, 3, nf, latent_dim, "none", "relu", "reflect"
        )
        self.enc_content = ContentEncoder(
            n_downs_content, n_res_blks, 3, nf, "in", "relu", "reflect"
        )
        self.dec = Decoder(
            n_downs_content,
            n_res_blks,
            self.enc_content.output_dim,
            3,
            "adain",
            "in",
            "relu",
            "reflect",
        )
        self.mlp = MLP(latent_dim, num_adain_params(self.dec), nf_mlp, n_mlp_blks, "relu")

    def class_code(self, shots: torch.Tensor) -> torch.Tensor:
        """(N, K, 3, S, S) -> (N, latent, 1, 1): the mean of the K shots' class codes."""
        n, k = shots.shape[:2]
        codes = self.enc_class_model(shots.reshape(n * k, *shots.shape[2:]))
        return codes.reshape(n, k, *codes.shape[1:]).mean(1)

    def decode(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return adain_decode(self.dec, self.mlp, content, code)


class GPPatchMcResDis(nn.Module):
    def __init__(self, nf: int, n_res_blks: int, num_classes: int) -> None:
        super().__init__()
        if n_res_blks % 2:
            raise ValueError("GPPatchMcResDis needs an even n_res_blks")
        n_layers = n_res_blks // 2
        layers: list[nn.Module] = [Conv2dBlock(3, nf, 7, 1, 3, "none", "none", "reflect")]
        for _ in range(n_layers - 1):
            nf_out = min(nf * 2, 1024)
            layers += [
                ActFirstResBlock(nf, nf),
                ActFirstResBlock(nf, nf_out),
                nn.ReflectionPad2d(1),
                nn.AvgPool2d(kernel_size=3, stride=2),
            ]
            nf = nf_out
        nf_out = min(nf * 2, 1024)
        layers += [ActFirstResBlock(nf, nf), ActFirstResBlock(nf, nf_out)]
        self.cnn_f = nn.Sequential(*layers)
        self.cnn_c = nn.Sequential(
            Conv2dBlock(nf_out, num_classes, 1, 1, 0, "none", "lrelu", activation_first=True)
        )
        self.min_size = 2**n_layers  # res blocks after the last pool need >= 2 px

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class-``y`` response map (N, H, W), features (N, C, H, W))."""
        feat = self.cnn_f(x)
        out = self.cnn_c(feat)
        return out[torch.arange(out.shape[0], device=out.device), y], feat


@register
class FUNIT(Translator):
    name = "funit"
    display_name = "FUNIT"
    supports = frozenset({"few_shot"})
    multimodal = False
    reference_guided = True
    monitor_loss = "recon_x"
    paper_task = TaskSpec(
        kind="few_shot",
        image_size=128,
        num_domains=119,
        domain_names=tuple(f"source{i:03d}" for i in range(119)),
    )
    # configs/funit_animals.yaml @e735bb7: max_iter 100000, batch_size 64 (over 8 GPUs), no
    # lr_policy (constant)
    paper_schedule = Schedule(
        length=100_000,
        batch_size=64,
        source="NVlabs/FUNIT configs/funit_animals.yaml (max_iter 100000, batch_size 64)",
    )
    CONFIGS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {
            "gen": {
                "nf": 64,
                "n_res_blks": 2,
                "nf_mlp": 256,
                "latent_dim": 64,
                "n_mlp_blks": 3,
                "n_downs_content": 3,
                "n_downs_class": 4,
            },
            "dis": {"nf": 64, "n_res_blks": 10},
            "ema_beta": 0.999,
        },
        "tiny": {
            "gen": {
                "nf": 16,
                "n_res_blks": 1,
                "nf_mlp": 32,
                "latent_dim": 16,
                "n_mlp_blks": 3,
                "n_downs_content": 2,
                "n_downs_class": 3,
            },
            "dis": {"nf": 16, "n_res_blks": 4},
            "ema_beta": 0.99,
        },
    }
    LOSS_W: ClassVar[dict[str, float]] = {"gan": 1.0, "r": 0.1, "fm": 1.0, "reg": 10.0}
    OPTIM: ClassVar[dict[str, float]] = {"lr": 1e-4, "weight_decay": 1e-4}

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in self.CONFIGS:
            raise ValueError(f"funit: unknown config {config!r}")
        cfg = self.CONFIGS[config]
        self.ema_beta = cfg["ema_beta"]
        self.gen = FewShotGen(**cfg["gen"])
        self.dis = GPPatchMcResDis(num_classes=task.num_domains, **cfg["dis"])
        check_image_size(self.name, task.image_size, self)
        init_weights(self, "kaiming")
        self.gen_test = copy.deepcopy(self.gen)
        self.gen_opt = torch.optim.RMSprop(self.gen.parameters(), **self.OPTIM)
        self.dis_opt = torch.optim.RMSprop(self.dis.parameters(), **self.OPTIM)
        self.hinge = GANLoss("hinge")

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"gen": self.gen_opt, "dis": self.dis_opt}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """``x``/``y``: content images and their source classes; ``x2``/``y2``: class images."""
        dev = self.device
        xa, la = batch["x"].to(dev), batch["y"].to(dev)
        xb, lb = batch["x2"].to(dev), batch["y2"].to(dev)
        w = self.LOSS_W

        # D (funit_model 'dis_update')
        self.dis_opt.zero_grad(set_to_none=True)
        xb_req = xb.detach().requires_grad_()
        resp_real, _ = self.dis(xb_req, lb)
        with torch.no_grad():
            xt = self.gen.decode(self.gen.enc_content(xa), self.gen.enc_class_model(xb))
        resp_fake, _ = self.dis(xt, lb)
        # calc_grad2 = sum |d mean(resp)/dx|^2 / N = 2 * r1_penalty of the mean response
        reg = 2.0 * r1_penalty(resp_real / resp_real.numel(), xb_req)
        loss_d = w["gan"] * self.hinge.dis(resp_real, resp_fake) + w["reg"] * reg
        loss_d.backward()
        self.dis_opt.step()

        # G (funit_model 'gen_update'); D frozen, its features of real images are targets only
        set_requires_grad([self.dis], False)
        self.gen_opt.zero_grad(set_to_none=True)
        c_xa = self.gen.enc_content(xa)
        s_xa, s_xb = self.gen.enc_class_model(xa), self.gen.enc_class_model(xb)
        xt = self.gen.decode(c_xa, s_xb)
        xr = self.gen.decode(c_xa, s_xa)
        resp_t, feat_t = self.dis(xt, lb)
        resp_r, feat_r = self.dis(xr, la)
        with torch.no_grad():
            feat_b = self.dis(xb, lb)[1].mean((2, 3))
            feat_a = self.dis(xa, la)[1].mean((2, 3))
        adv = 0.5 * (self.hinge.gen(resp_t) + self.hinge.gen(resp_r))
        recon_x = F.l1_loss(xr, xa)
        fm_c = F.l1_loss(feat_r.mean((2, 3)), feat_a)
        fm_m = F.l1_loss(feat_t.mean((2, 3)), feat_b)
        total = w["gan"] * adv + w["r"] * recon_x + w["fm"] * (fm_c + fm_m)
        total.backward()
        self.gen_opt.step()
        set_requires_grad([self.dis], True)
        ema_update(self.gen_test, self.gen, self.ema_beta)
        self.step += 1
        losses = {
            "dis": loss_d,
            "reg": reg,
            "gen": total,
            "adv": adv,
            "recon_x": recon_x,
            "fm_c": fm_c,
            "fm_m": fm_m,
        }
        return {k: v.item() for k, v in losses.items()}

    def translate(self, x, *, target=None, latent=None, reference=None):
        """``reference``: (N, K, 3, S, S) shots of the target class ((N, 3, S, S) means K = 1);
        decoded by the EMA generator ``gen_test`` with the shots' mean class code."""
        if reference is None:
            raise ValueError(
                "funit translates to a class given by reference images (N, K, 3, S, S)"
            )
        reference = reference.to(x.device)
        if reference.dim() == 4:
            reference = reference.unsqueeze(1)
        g = self.gen_test
        return g.decode(g.enc_content(x), g.class_code(reference))

    def load_official(self, obj: Any) -> None:
        """Trainer.load_ckpt: strict loads of ``gen`` and ``gen_test``."""
        if not isinstance(obj, dict) or not {"gen", "gen_test"} <= set(obj):
            raise ValueError("expected the authors' generator file {'gen': ..., 'gen_test': ...}")
        self.gen.load_state_dict(obj["gen"])
        self.gen_test.load_state_dict(obj["gen_test"])
