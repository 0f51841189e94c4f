"""CycleGAN (Zhu et al., ICCV 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks") and the noise-injected CycleGAN* baseline of MUNIT.

CycleGAN facts from junyanz/pytorch-CycleGAN-and-pix2pix:
- ``models/cycle_gan_model.py``: G_A: A->B, G_B: B->A, D_A judges B, D_B judges A; LSGAN;
  lambda_A = lambda_B = 10 on the cycle L1; identity loss L1(G_A(B), B) * lambda_B * 0.5 (and
  symmetric); G_A and G_B share one Adam, D_A and D_B another (lr 2e-4, betas (0.5, 0.999));
  G step first, then D step with loss 0.5 (real + fake) on a fake drawn from a 50-image history
  (``util/image_pool.py``: while not full, store and return; then with p = 0.5 return a random
  stored image and store the new one in its place, else return the new one); no dropout.
- ``models/networks.py`` @78913853: netG resnet_9blocks (the paper: 9 blocks at 256, 6 at 128 and
  below), norm instance, NLayerDiscriminator n_layers 3, init normal(0, 0.02).
- ``test.py``: no eval() unless --eval; with instance norm (no running stats) and no dropout the
  mode changes nothing, so ``translate`` runs the generator as is.
- Released files (``scripts/download_cyclegan_model.sh``, e.g. horse2zebra.pth) hold ONE
  direction as a bare state_dict (manifest cyclegan_resnet9_G.json); ``load_official`` puts it in
  G_A (A->B) and ``translate`` then refuses target 0.

CycleGAN* (``cyclegan_noise``): MUNIT (Huang et al., ECCV 2018), Sec. 5.1 "Baselines", injects
noise vectors into both translation streams; as recalled from the paper (the PDF was not at hand,
so treat as UNVERIFIED): the authors used a U-Net (pix2pix) generator with the noise added to the
input and to the decoder feature maps, because CycleGAN's ResNet generator ignored the noise, and
kept dropout on at training and test time. Assumptions here: z ~ N(0, I_8) (8 = MUNIT's style
dimension), tiled and concatenated (not summed) at the input and at every decoder level, fresh
noise for every generator call in training, instance norm as CycleGAN. Everything else is
CycleGAN. It has no released weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.init import init_weights
from baselines.components.junyanz import (
    NLayerDiscriminator,
    ResnetGenerator,
    UnetGeneratorZ,
    authors_test_mode,
    linear_schedule,
    load_released,
    target_mask,
    unet_depth,
)
from baselines.components.losses import GANLoss, set_requires_grad
from benchmark.errors import UserError


@dataclass(frozen=True)
class _Config:
    ngf: int
    ndf: int
    n_layers_d: int
    n_blocks: int | None  # None: the paper's rule (9 at 256 and up, 6 below)
    nz: int


CONFIGS = {"paper": _Config(64, 64, 3, None, 8), "tiny": _Config(8, 8, 2, 2, 8)}
LAMBDA_CYCLE, LAMBDA_IDT = 10.0, 0.5
LR, BETAS = 2e-4, (0.5, 0.999)
POOL_SIZE = 50


class ImagePool(nn.Module):
    """CycleGAN's history of generated images. Kept in buffers (and so in checkpoints) so a
    resumed run draws from the same history; randomness from the global torch RNG."""

    def __init__(self, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.detach()
        out = []
        for img in images.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = img
                self.count += 1
                out.append(img)
            elif float(torch.rand(())) > 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = img
            else:
                out.append(img)
        return torch.stack(out)


@register
class CycleGAN(Translator):
    name = "cyclegan"
    display_name = "CycleGAN"
    supports = frozenset({"unpaired", "paired"})  # on paired data the pairing is ignored
    multimodal = False
    monitor_loss = "cycle"
    paper_task = TaskSpec(kind="unpaired", image_size=256, domain_names=("horse", "zebra"))
    # options/train_options.py @48ced5e: niter 100 + niter_decay 100 epochs, lr_policy linear
    # (epoch_count 1); base_options batch_size 1; an epoch is max(|A|, |B|) images
    paper_schedule = linear_schedule(
        100,
        100,
        batch_size=1,
        source="junyanz/pytorch-CycleGAN-and-pix2pix options (n_epochs 100, n_epochs_decay 100, "
        "batch_size 1), networks.get_scheduler linear",
    )

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in CONFIGS:
            raise ValueError(f"{self.name} has no config {config!r}")
        cfg = CONFIGS[config]
        c, s = task.channels, task.image_size
        if s % 4 or s < 32:
            raise ValueError(f"{self.name} needs an image size divisible by 4 and >= 32, got {s}")
        self.cfg = cfg
        self.netG_A = self._generator(c, cfg, s)
        self.netG_B = self._generator(c, cfg, s)
        self.netD_A = NLayerDiscriminator(c, cfg.ndf, cfg.n_layers_d, "instance")
        self.netD_B = NLayerDiscriminator(c, cfg.ndf, cfg.n_layers_d, "instance")
        for net in (self.netG_A, self.netG_B, self.netD_A, self.netD_B):
            init_weights(net, "normal", 0.02)
        self.pool_A = ImagePool(POOL_SIZE, (c, s, s))  # fakes of A, for D_B
        self.pool_B = ImagePool(POOL_SIZE, (c, s, s))  # fakes of B, for D_A
        self.gan = GANLoss("lsgan")
        gen_params = [*self.netG_A.parameters(), *self.netG_B.parameters()]
        dis_params = [*self.netD_A.parameters(), *self.netD_B.parameters()]
        self.opt_G = torch.optim.Adam(gen_params, lr=LR, betas=BETAS)
        self.opt_D = torch.optim.Adam(dis_params, lr=LR, betas=BETAS)
        self._only_a_to_b = False  # set when a released one-direction file was loaded

    def _generator(self, channels: int, cfg: _Config, size: int) -> nn.Module:
        n_blocks = cfg.n_blocks if cfg.n_blocks is not None else (9 if size >= 256 else 6)
        return ResnetGenerator(channels, channels, cfg.ngf, "instance", False, n_blocks)

    def _g(self, net: nn.Module, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return net(x)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.train()
        real_a, real_b = batch["x"].to(self.device), batch["x2"].to(self.device)
        fake_b = self._g(self.netG_A, real_a)
        rec_a = self._g(self.netG_B, fake_b)
        fake_a = self._g(self.netG_B, real_b)
        rec_b = self._g(self.netG_A, fake_a)

        set_requires_grad([self.netD_A, self.netD_B], False)
        self.opt_G.zero_grad()
        idt_a = F.l1_loss(self._g(self.netG_A, real_b), real_b) * LAMBDA_CYCLE * LAMBDA_IDT
        idt_b = F.l1_loss(self._g(self.netG_B, real_a), real_a) * LAMBDA_CYCLE * LAMBDA_IDT
        g_a = self.gan.gen(self.netD_A(fake_b))
        g_b = self.gan.gen(self.netD_B(fake_a))
        cycle_a = F.l1_loss(rec_a, real_a) * LAMBDA_CYCLE
        cycle_b = F.l1_loss(rec_b, real_b) * LAMBDA_CYCLE
        (g_a + g_b + cycle_a + cycle_b + idt_a + idt_b).backward()
        self.opt_G.step()

        set_requires_grad([self.netD_A, self.netD_B], True)
        self.opt_D.zero_grad()
        old_b, old_a = self.pool_B.query(fake_b), self.pool_A.query(fake_a)
        d_a = 0.5 * self.gan.dis(self.netD_A(real_b), self.netD_A(old_b))
        d_b = 0.5 * self.gan.dis(self.netD_B(real_a), self.netD_B(old_a))
        (d_a + d_b).backward()
        self.opt_D.step()
        self.step += 1
        return {
            "D_A": d_a.item(),
            "G_A": g_a.item(),
            "cycle_A": cycle_a.item(),
            "idt_A": idt_a.item(),
            "D_B": d_b.item(),
            "G_B": g_b.item(),
            "cycle_B": cycle_b.item(),
            "idt_B": idt_b.item(),
            "cycle": (cycle_a + cycle_b).item(),
        }

    def _latent(self, n: int, latent: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def translate(self, x, *, target=None, latent=None, reference=None):
        x = x.to(self.device)
        to_b = target_mask(self.task, target, x.shape[0]).to(x.device)
        if self._only_a_to_b and not bool(to_b.all()):
            raise ValueError(
                f"{self.name}: the released file holds only G_A (A->B); load the other "
                "direction's file into a second model for B->A"
            )
        z = self._latent(x.shape[0], latent)
        out = torch.empty_like(x)
        for mask, net in ((to_b, self.netG_A), (~to_b, self.netG_B)):
            if bool(mask.any()):
                out[mask] = self._run(net, x[mask], None if z is None else z[mask])
        return out

    def _run(self, net: nn.Module, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        return self._g(net, x, z)

    def load_official(self, obj: Any) -> None:
        load_released(self.netG_A, obj)
        self._only_a_to_b = True


@register
class CycleGANNoise(CycleGAN):
    """CycleGAN* of MUNIT: U-Net generators with z at the input and in the decoder, dropout on
    at test time too (see the module docstring for what is recalled and what is assumed)."""

    name = "cyclegan_noise"
    display_name = "CycleGAN*"  # as MUNIT (Huang et al., 2018) names it
    multimodal = True
    paper_task = TaskSpec(kind="unpaired", image_size=256, domain_names=("edges", "shoes"))

    def _generator(self, channels: int, cfg: _Config, size: int) -> nn.Module:
        return UnetGeneratorZ(
            channels,
            channels,
            cfg.nz,
            unet_depth(size),
            cfg.ngf,
            "instance",
            "relu",
            use_dropout=True,
            z_at="input_and_decoder",
        )

    def _g(self, net: nn.Module, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is None:
            z = torch.randn(x.shape[0], self.cfg.nz, device=x.device)
        return net(x, z)

    def _latent(self, n: int, latent: torch.Tensor | None) -> torch.Tensor:
        if latent is None:
            return torch.randn(n, self.cfg.nz, device=self.device)
        return latent.to(self.device).reshape(n, self.cfg.nz)

    def _run(self, net: nn.Module, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        with authors_test_mode(net, train=True):  # MUNIT: dropout at test time as well
            return self._g(net, x, z)

    def load_official(self, obj: Any) -> None:
        raise UserError(
            "cyclegan_noise has no released weights (it is CycleGAN plus noise); train it, or "
            "load one of our own checkpoints"
        )
