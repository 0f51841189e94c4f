"""DRIT: Diverse Image-to-Image Translation via Disentangled Representations (Lee et al., ECCV
2018). Code facts from HsinYingLee/DRIT (src/networks.py, src/model.py, src/options.py,
src/test.py, src/test_transfer.py; the manifest commit f19f50a8).

- Content encoder ``E_content``: per-domain ``convA``/``convB`` (LeakyReLU(0.01) conv7, two
  ReLU-IN stride-2 convs, three IN residual blocks) and a shared last residual block
  ``conv_share`` followed by a Gaussian noise layer that is active in train mode only.
  (``LeakyReLUConv2d`` compares the string literal ``'norm' == 'Instance'``, so it never
  normalises; we keep that behaviour because the released weights were trained with it.)
- Attribute encoder: ``--concat 1`` (the default and the released ``example.pth``) uses the
  VAE-like ``E_attr_concat`` (BasicBlocks, LeakyReLU(0.2), mu / logvar heads, nz = 8);
  ``--concat 0`` uses ``E_attr`` (plain convs, a deterministic code). Our config "paper" is
  concat 1; "paper_concat0" builds the concat 0 networks (``G`` with ``MisINSResBlock``s and an
  MLP), the variant the README recommends for cat2dog / portrait. "tiny" is concat 1, narrow.
- Generator: ``G_concat`` tiles the code z and concatenates it before every decoder stage
  (custom per-sample LayerNorm after the transposed convs); ``G`` injects the MLP of z into four
  ``MisINSResBlock``s.
- Discriminators: ``disA``/``disB`` (on encoded-attribute translations) and ``disA2``/``disB2``
  (on random-attribute translations) are 3-scale ``MultiScaleDis`` (no norm, no spectral norm:
  the defaults), plus ``disContent`` on content codes.
- Losses (``model.py``): BCE GAN on the domains summed over scales, content adversarial loss
  (D: a-content fake / b-content real; encoder target 0.5), cross-cycle L1 x10, self
  reconstruction L1 x10, KL on the attribute code x0.01 (summed over elements for concat 1;
  ``mean(z^2)`` for concat 0), ``mean(z_c^2)`` x0.01 on content, latent regression L1 x10 (its
  gradient updates only E_c and G: ``update_EG`` steps ``enc_a`` after the first backward only).
- Optimisation: Adam lr 1e-4, betas (0.5, 0.999), weight decay 1e-4 for every net;
  ``disContent`` lr 1e-4/2.5 with gradient norm clipped to 5; ``--d_iter 3`` (two content-D-only
  updates per full update). Conv weights ~ N(0, 0.02), other parameters keep PyTorch defaults
  (``gaussian_weights_init``).
- Test time (``test.py``): ``model.eval()`` (noise off), content from the source domain's
  encoder, z ~ N(0, I_8) into the target domain's decoder: A->B is ``gen.forward_b(
  enc_c.forward_a(x), z)``. ``test_transfer.py`` (reference-guided) takes z from the reference
  through the target domain's attribute encoder, sampling z = mu + eps * std for concat 1.
- Released file (``models/download_model.sh`` -> ``example.pth``, yosemite summer<->winter, crop
  216): one dict ``{'disA', 'disA2', 'disB', 'disB2', 'disContent', 'enc_c', 'enc_a', 'gen',
  '*_opt', 'ep', 'total_it'}``; ``resume(train=False)`` loads only ``enc_c``/``enc_a``/``gen``,
  strictly. We do the same.

Adaptations to the Translator interface, with why:
- ``train_step`` is one full iteration (``update_D`` + ``update_EG``) preceded by the two
  content-D-only updates of ``--d_iter 3``, on the batch given (the authors draw new batches).
- The authors split a batch into an "encoded" first half and a "random" second half
  (batch 2 -> 1 + 1); we split a batch of N into N//2 and the rest.
- ``update_EG``'s second backward reuses the first forward after the optimizers have stepped,
  which PyTorch >= 1.5 rejects (in-place modification); we compute both gradients from the
  same forward before stepping, then step the optimizers in the authors' order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.drit import (
    NZ,
    DisContent,
    EAttr,
    EAttrConcat,
    EContent,
    G,
    GConcat,
    MultiScaleDis,
    gaussian_conv_init,
)
from baselines.components.losses import GANLoss, kl_standard_normal, set_requires_grad
from baselines.schedule import Schedule

LR = 1e-4
BETAS = (0.5, 0.999)
WEIGHT_DECAY = 1e-4
D_ITER = 3
CONTENT_CLIP = 5.0
W_L1, W_KL, W_LATENT = 10.0, 0.01, 10.0


@dataclass(frozen=True)
class _Arch:
    concat: bool
    ch: int  # first encoder width; content codes have 4 * ch channels (256 in the release)
    n_res: int  # residual blocks in convA/convB and in G_concat's decA1 (3 in the release)
    attr_ndf: int  # E_attr_concat / E_attr base width (64)
    dis_ch: int  # MultiScaleDis base width (64)
    dis_scales: int  # --dis_scale 3
    dis_layers: int  # n_layer 4
    cdis_down: int  # stride-2 layers of Dis_content (3, kernel 7)
    cdis_kernel: int


ARCHS = {
    "paper": _Arch(True, 64, 3, 64, 64, 3, 4, 3, 7),
    "paper_concat0": _Arch(False, 64, 3, 64, 64, 3, 4, 3, 7),
    "tiny": _Arch(True, 8, 1, 8, 8, 2, 3, 1, 3),
}


def _fits(arch: _Arch, size: int) -> bool:
    """Whether Dis_content (on the size/4 content code) and every discriminator scale still have
    a non-empty output at this image size."""
    s = size // 4
    for _ in range(arch.cdis_down):
        s = (s + 2 - arch.cdis_kernel) // 2 + 1
    return s >= 4 and size // 2 ** (arch.dis_scales - 1) >= 2**arch.dis_layers


def _check_size(arch: _Arch, size: int) -> None:
    if size % 4:
        raise ValueError(f"DRIT needs an image size divisible by 4 (got {size})")
    if not _fits(arch, size):
        smallest = next(s for s in range(4, 4096, 4) if _fits(arch, s))
        raise ValueError(
            f"DRIT's content discriminator needs images of at least {smallest} px in this config "
            f"(got {size})"
        )


@register
class DRIT(Translator):
    name = "drit"
    display_name = "DRIT"
    supports = frozenset({"unpaired", "paired"})
    multimodal = True
    reference_guided = True
    configs = ("paper", "paper_concat0", "tiny")
    monitor_loss = "l1_self"
    # example.pth: yosemite summer<->winter, test-time Resize(256) + CenterCrop(216)
    paper_task = TaskSpec(kind="unpaired", image_size=216, domain_names=("summer", "winter"))
    # src/options.py @e26a45a: n_ep 1200, n_ep_decay 600, batch_size 2, lr_policy lambda
    # (networks.get_scheduler, stepped per epoch); an epoch is max(|A|, |B|) / 2 loader batches,
    # a third of them full updates (d_iter 3: one train_step here); train.py stops at
    # max_it = 500000 full updates
    paper_schedule = Schedule(
        length=1200,
        unit="epochs",
        batch_size=2,
        decay="linear",
        decay_start=600,
        batches_per_step=3,
        max_steps=500_000,
        source="HsinYingLee/DRIT src/options.py (n_ep 1200, n_ep_decay 600, batch_size 2, "
        "d_iter 3), networks.get_scheduler lambda, train.py max_it 500000",
    )

    NETS = ("disA", "disA2", "disB", "disB2", "disContent", "enc_c", "enc_a", "gen")

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in ARCHS:
            raise ValueError(f"unknown DRIT config {config!r}; choose from {tuple(ARCHS)}")
        arch = self.arch = ARCHS[config]
        _check_size(arch, task.image_size)
        c = task.channels
        self.enc_c = EContent(c, c, arch.ch, arch.n_res)
        if arch.concat:
            self.enc_a: nn.Module = EAttrConcat(c, c, arch.attr_ndf)
            self.gen: nn.Module = GConcat(c, c, arch.ch * 4, arch.n_res)
        else:
            self.enc_a = EAttr(c, c, arch.attr_ndf)
            self.gen = G(c, c, arch.ch * 4)
        for name in ("disA", "disA2", "disB", "disB2"):
            setattr(self, name, MultiScaleDis(c, arch.dis_ch, arch.dis_scales, arch.dis_layers))
        self.disContent = DisContent(arch.ch * 4, arch.cdis_down, arch.cdis_kernel)
        gaussian_conv_init(self)
        self._opts = {
            k: torch.optim.Adam(
                getattr(self, k).parameters(),
                lr=LR / 2.5 if k == "disContent" else LR,
                betas=BETAS,
                weight_decay=WEIGHT_DECAY,
            )
            for k in self.NETS
        }
        self.gan = GANLoss("vanilla")  # sigmoid + BCE, as backward_D / backward_G_GAN

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    # --- codes --------------------------------------------------------------------------
    def _attr(self, x: torch.Tensor, domain: int) -> tuple[torch.Tensor, Any]:
        """Attribute code of images of ``domain`` (0 = A, 1 = B) and (mu, logvar) if VAE-like."""
        enc = self.enc_a.forward_b if domain else self.enc_a.forward_a
        if not self.arch.concat:
            return enc(x), None
        mu, logvar = enc(x)
        return mu + torch.randn_like(mu) * logvar.mul(0.5).exp(), (mu, logvar)

    def _regress(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """The code the latent-regression loss compares with z (mu for concat 1)."""
        enc = self.enc_a.forward_b if domain else self.enc_a.forward_a
        return enc(x)[0] if self.arch.concat else enc(x)

    def _kl_attr(self, z: torch.Tensor, stats: Any) -> torch.Tensor:
        if stats is None:
            return kl_standard_normal(z) * W_KL
        mu, logvar = stats  # the authors sum the element-wise KL
        return kl_standard_normal(mu, logvar) * mu.numel() * W_KL

    # --- training -----------------------------------------------------------------------
    def _dis_loss(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real_pred, fake_pred = net(real), net(fake.detach())
        n = len(real_pred) if isinstance(real_pred, list) else 1
        return self.gan.dis(real_pred, fake_pred) * n  # summed over scales

    def _gen_loss(self, net: nn.Module, fake: torch.Tensor) -> torch.Tensor:
        pred = net(fake)
        return self.gan.gen(pred) * len(pred)

    def _content_dis_step(self, zc_a: torch.Tensor, zc_b: torch.Tensor) -> float:
        """backward_contentD: content of A is 'fake', content of B 'real'; clip to 5."""
        opt = self._opts["disContent"]
        opt.zero_grad(set_to_none=True)
        loss = self._dis_loss(self.disContent, zc_b.detach(), zc_a)
        loss.backward()
        nn.utils.clip_grad_norm_(self.disContent.parameters(), CONTENT_CLIP)
        opt.step()
        return loss.item()

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.train()
        real_a, real_b = batch["x"], batch["x2"]
        n = min(len(real_a), len(real_b))
        if n < 2:
            raise ValueError("DRIT trains on batches of at least 2 (an encoded and a random half)")
        h = n // 2
        a, b, a_rand, b_rand = real_a[:h], real_b[:h], real_a[h:n], real_b[h:n]

        for _ in range(D_ITER - 1):  # update_D_content iterations of --d_iter 3
            with torch.no_grad():  # the content discriminator sees detached codes
                zc_a, zc_b = self.enc_c.forward_a(a), self.enc_c.forward_b(b)
            self._content_dis_step(zc_a, zc_b)

        # forward(): content, attributes, two cross translations, latent regression
        zc_a, zc_b = self.enc_c.forward_a(a), self.enc_c.forward_b(b)
        za_a, stats_a = self._attr(a, 0)
        za_b, stats_b = self._attr(b, 1)
        z_rand = torch.randn(h, NZ, device=a.device)
        fake_a = self.gen.forward_a(torch.cat([zc_b, zc_a, zc_b]), torch.cat([za_a, za_a, z_rand]))
        fake_b = self.gen.forward_b(torch.cat([zc_a, zc_b, zc_a]), torch.cat([za_b, za_b, z_rand]))
        fake_a_enc, fake_aa, fake_a_rand = torch.split(fake_a, h)
        fake_b_enc, fake_bb, fake_b_rand = torch.split(fake_b, h)
        zc_rec_b, zc_rec_a = self.enc_c.forward_a(fake_a_enc), self.enc_c.forward_b(fake_b_enc)
        za_rec_a, _ = self._attr(fake_a_enc, 0)
        za_rec_b, _ = self._attr(fake_b_enc, 1)
        fake_a_rec = self.gen.forward_a(zc_rec_a, za_rec_a)
        fake_b_rec = self.gen.forward_b(zc_rec_b, za_rec_b)
        z_reg_a, z_reg_b = self._regress(fake_a_rand, 0), self._regress(fake_b_rand, 1)

        # update_D
        losses: dict[str, float] = {}
        for name, real, fake in (
            ("disA", a, fake_a_enc),
            ("disA2", a_rand, fake_a_rand),
            ("disB", b, fake_b_enc),
            ("disB2", b_rand, fake_b_rand),
        ):
            opt = self._opts[name]
            opt.zero_grad(set_to_none=True)
            loss = self._dis_loss(getattr(self, name), real, fake)
            loss.backward()
            opt.step()
            losses[f"d_{name[3:]}"] = loss.item()
        losses["d_content"] = self._content_dis_step(zc_a, zc_b)

        # update_EG: backward_EG (E_c, E_a, G) then backward_G_alone (E_c, G)
        dis = [getattr(self, k) for k in self.NETS[:5]]
        set_requires_grad(dis, False)
        pred_a, pred_b = self.disContent(zc_a), self.disContent(zc_b)  # target 0.5 for both
        gan_content = F.binary_cross_entropy_with_logits(
            pred_a, torch.full_like(pred_a, 0.5)
        ) + F.binary_cross_entropy_with_logits(pred_b, torch.full_like(pred_b, 0.5))
        gan = self._gen_loss(self.disA, fake_a_enc) + self._gen_loss(self.disB, fake_b_enc)
        kl_za = self._kl_attr(za_a, stats_a) + self._kl_attr(za_b, stats_b)
        kl_zc = (kl_standard_normal(zc_a) + kl_standard_normal(zc_b)) * W_KL
        l1_cc = (F.l1_loss(fake_a_rec, a) + F.l1_loss(fake_b_rec, b)) * W_L1
        l1_self = (F.l1_loss(fake_aa, a) + F.l1_loss(fake_bb, b)) * W_L1
        loss_eg = gan + gan_content + l1_self + l1_cc + kl_zc + kl_za
        gan2 = self._gen_loss(self.disA2, fake_a_rand) + self._gen_loss(self.disB2, fake_b_rand)
        l1_latent = ((z_reg_a - z_rand).abs().mean() + (z_reg_b - z_rand).abs().mean()) * W_LATENT
        loss_alone = gan2 + l1_latent

        eg = [self._opts[k] for k in ("enc_c", "enc_a", "gen")]
        for opt in eg:
            opt.zero_grad(set_to_none=True)
        loss_eg.backward(retain_graph=True)
        alone_params = [*self.enc_c.parameters(), *self.gen.parameters()]
        grads = torch.autograd.grad(loss_alone, alone_params, allow_unused=True)
        for opt in eg:
            opt.step()
        for p, g in zip(alone_params, grads):
            p.grad = g
        self._opts["enc_c"].step()
        self._opts["gen"].step()
        set_requires_grad(dis, True)

        self.step += 1
        losses.update(
            gan=gan.item(),
            gan_content=gan_content.item(),
            kl_za=kl_za.item(),
            kl_zc=kl_zc.item(),
            l1_cc=l1_cc.item(),
            l1_self=l1_self.item(),
            gan2=gan2.item(),
            l1_latent=l1_latent.item(),
        )
        return losses

    # --- inference ----------------------------------------------------------------------
    def translate(
        self,
        x: torch.Tensor,
        *,
        target: Any = None,
        latent: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """test.py / test_transfer.py: eval mode (no content noise); z from N(0, I) or, with a
        reference of the target domain, from its attribute encoder."""
        self.eval()
        n = x.shape[0]
        dirs = torch.as_tensor(self.task.domain_index(1 if target is None else target))
        dirs = dirs.reshape(-1).to(x.device).expand(n) if dirs.numel() == 1 else dirs.to(x.device)
        out = torch.empty_like(x)
        for d in dirs.unique().tolist():
            if d not in (0, 1):
                raise ValueError(f"DRIT translates between domains 0 and 1, not {d}")
            m = dirs == d
            content = self.enc_c.forward_a(x[m]) if d == 1 else self.enc_c.forward_b(x[m])
            if reference is not None:
                z, _ = self._attr(reference[m].to(x.device), d)
            elif latent is not None:
                z = latent[m].to(x.device)
            else:
                z = torch.randn(int(m.sum()), NZ, device=x.device)
            out[m] = self.gen.forward_b(content, z) if d == 1 else self.gen.forward_a(content, z)
        return out

    # --- the authors' checkpoint -------------------------------------------------------
    def load_official(self, obj: Any) -> None:
        """model.DRIT.save's dict; resume(train=False) loads enc_c, enc_a, gen strictly."""
        if not isinstance(obj, dict):
            raise ValueError(f"expected DRIT's checkpoint dict, got {type(obj).__name__}")
        missing = [k for k in ("enc_c", "enc_a", "gen") if k not in obj]
        if missing:
            raise KeyError(f"not a DRIT checkpoint: no {missing} entries")
        file_concat = not any(k.startswith("model_a.") for k in obj["enc_a"])
        if file_concat != self.arch.concat:
            want = "paper" if file_concat else "paper_concat0"
            raise ValueError(f"file holds a --concat {int(file_concat)} model; use config {want}")
        for k in ("enc_c", "enc_a", "gen"):
            getattr(self, k).load_state_dict(obj[k])
