"""Fader Networks: Manipulating Images by Sliding Attributes (Lample et al., NIPS 2017). Code facts
from facebookresearch/FaderNetworks (src/model.py, src/training.py, src/utils.py, src/loader.py,
train.py, interpolate.py, README).

- Auto-encoder (``build_layers``): encoder layer i = Conv 4x4 stride 2 pad 1 (+ BatchNorm for
  i > 0) + LeakyReLU(0.2); decoder layer = ConvTranspose 4x4 stride 2 pad 1 without bias on
  [features, attribute code tiled to the feature size] + BatchNorm + ReLU, the last one Tanh.
  The attribute code has 2 entries per boolean attribute, ``[a == 0, a == 1]`` = ``[1 - a, a]``
  (``loader.load_images``); ``interpolate.py`` feeds ``[1 - alpha, alpha]`` to slide it.
- Paper architecture (paper Sec. 5, recalled; not in the repo): C16-C32-C64-C128-C256-C512-C512,
  so a 256 px image becomes a 512 x 2 x 2 code. Our "paper" config keeps the 2 x 2 code at other
  power-of-two sizes (depth = log2(size) - 1). The code's own defaults differ: ``train.py``
  ``--n_layers 6 --init_fm 32`` (a 512 x 4 x 4 code).
- Latent discriminator (``LatentDiscriminator``): the encoder's layers continued down to 1 x 1
  (one C512 at 256 px, with BatchNorm and Dropout 0.3), then Linear(512, 512) - LeakyReLU(0.2) -
  Linear(512, 2 per attribute); trained with a per-attribute cross-entropy on the true
  attributes, with the auto-encoder in eval mode (``Trainer.lat_dis_step``).
- Auto-encoder loss (``Trainer.autoencoder_step``): MSE reconstruction + lambda * cross-entropy
  of the discriminator against the flipped attributes, the discriminator in eval mode; lambda
  grows linearly from 0 to 1e-4 over 500k iterations (``--lambda_lat_dis 0.0001
  --lambda_schedule 500000``, ``utils.get_lambda``); gradient norms clipped to 5 for both nets.
- Optimiser: Adam betas (0.5, 0.999) (``utils.get_optimizer``), lr 0.002 as the paper states
  (recalled; ``train.py``'s default string is ``adam,lr=0.0002``), batch size 32.
- Test time (``interpolate.py``): the pickled auto-encoder is loaded and put in ``.eval()``
  (BatchNorm running statistics), ``decode(encode(x), code)[-1]``.
- Released files (``models/download.sh``: male.pth, young.pth, eyeglasses.pth, ...): whole
  pickled ``AutoEncoder`` modules (``torch.save(model)`` in ``Trainer.save_model``), one
  boolean attribute each; ``torch.load`` needs FaderNetworks' ``src`` package importable. Their
  hyper-parameters are not documented, so ``load_official`` checks the module's own attributes
  against this build and says which one differs.

"tiny": widths 8..64, hidden 64, and lambda reaches 1e-4 after 500 steps instead of 500k (the
paper's schedule would leave the adversarial term at zero for any CPU-sized run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines import register
from baselines.base import TaskSpec, Translator
from baselines.components.losses import set_requires_grad
from baselines.schedule import Schedule

BETAS = (0.5, 0.999)
CLIP = 5.0
LAMBDA_LAT_DIS = 1e-4
LAT_DIS_DROPOUT = 0.3


@dataclass(frozen=True)
class _Arch:
    init_fm: int
    max_fm: int
    hid_dim: int
    lr: float
    schedule: int  # steps over which lambda_lat_dis grows from 0 to its value


ARCHS = {
    "paper": _Arch(init_fm=16, max_fm=512, hid_dim=512, lr=2e-3, schedule=500_000),
    "tiny": _Arch(init_fm=8, max_fm=64, hid_dim=64, lr=2e-3, schedule=500),
}


def _widths(n: int, img_fm: int, init_fm: int, max_fm: int) -> list[tuple[int, int]]:
    """(in, out) channels of encoder layers 0..n-1 (build_layers' n_in / n_out)."""
    out, n_in, n_out = [], img_fm, init_fm
    for _ in range(n):
        out.append((n_in, n_out))
        n_in, n_out = n_out, min(2 * n_out, max_fm)
    return out


def _enc_layer(i: int, n_in: int, n_out: int, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(n_in, n_out, 4, 2, 1)]
    if i > 0:
        layers.append(nn.BatchNorm2d(n_out))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def attribute_code(a: torch.Tensor) -> torch.Tensor:
    """(N, A) attribute values -> (N, 2A) decoder code, ``[1 - a_k, a_k]`` per attribute."""
    return torch.stack([1 - a, a], dim=2).reshape(a.shape[0], -1)


def attribute_loss(logits: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """model.get_attr_loss for boolean attributes: the sum over attributes of the batch-mean
    cross-entropy of each attribute's two logits."""
    n_attr = a.shape[1]
    return F.cross_entropy(logits.reshape(-1, 2), a.reshape(-1).long()) * n_attr


class AutoEncoder(nn.Module):
    """Keys ``enc_layers.*`` / ``dec_layers.*`` as the authors' module (n_skip 0, BatchNorm,
    convtranspose, no decoder dropout: the defaults)."""

    def __init__(self, img_fm: int, n_layers: int, init_fm: int, max_fm: int, n_attr: int):
        super().__init__()
        enc, dec = [], []
        for i, (n_in, n_out) in enumerate(_widths(n_layers, img_fm, init_fm, max_fm)):
            enc.append(_enc_layer(i, n_in, n_out))
            up: list[nn.Module] = [nn.ConvTranspose2d(n_out + n_attr, n_in, 4, 2, 1, bias=False)]
            up += [nn.BatchNorm2d(n_in), nn.ReLU(inplace=True)] if i > 0 else [nn.Tanh()]
            dec.insert(0, nn.Sequential(*up))
        self.enc_layers = nn.ModuleList(enc)
        self.dec_layers = nn.ModuleList(dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.enc_layers:
            x = layer(x)
        return x

    def decode(self, z: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        out = z
        for layer in self.dec_layers:
            tiled = code[:, :, None, None].expand(-1, -1, out.shape[2], out.shape[3])
            out = layer(torch.cat([out, tiled], 1))
        return out


class LatentDiscriminator(nn.Module):
    def __init__(
        self,
        img_sz: int,
        img_fm: int,
        n_layers: int,
        init_fm: int,
        max_fm: int,
        hid_dim: int,
        n_attr: int,
    ):
        super().__init__()
        n_dis = int(math.log2(img_sz))  # encoder layers continued until 1 x 1
        widths = _widths(n_dis, img_fm, init_fm, max_fm)
        self.conv_layers = nn.Sequential(
            *[_enc_layer(i, *widths[i], dropout=LAT_DIS_DROPOUT) for i in range(n_layers, n_dis)]
        )
        conv_out = widths[-1][1]
        self.proj_layers = nn.Sequential(
            nn.Linear(conv_out, hid_dim),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hid_dim, n_attr),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj_layers(self.conv_layers(z).flatten(1))


@register
class Fader(Translator):
    name = "fader"
    display_name = "Fader Networks"
    supports = frozenset({"attributes"})
    monitor_loss = "rec"
    # models/male.pth: one boolean attribute, CelebA at 256 px
    paper_task = TaskSpec(
        kind="attributes",
        image_size=256,
        num_domains=1,
        domain_names=("face",),
        attributes=("Male",),
    )
    # train.py @ed88966: n_epochs 1000 x range(0, epoch_size 50000, batch_size 32) = 1563
    # iterations per epoch (random samples with replacement, not passes over the data); constant
    # lr (src/utils.get_optimizer)
    paper_schedule = Schedule(
        length=1000 * 1563,
        batch_size=32,
        source="facebookresearch/FaderNetworks train.py (n_epochs 1000, epoch_size 50000, "
        "batch_size 32)",
    )

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in ARCHS:
            raise ValueError(f"unknown Fader config {config!r}; choose from {tuple(ARCHS)}")
        size = task.image_size
        if size < 4 or not math.log2(size).is_integer():
            raise ValueError(f"Fader Networks need a power-of-two image size >= 4 (got {size})")
        if not task.attributes:
            raise ValueError("Fader Networks need at least one attribute in the task")
        arch = self.arch = ARCHS[config]
        self.n_layers = int(math.log2(size)) - 1  # the paper's 2 x 2 latent code
        n_attr = 2 * len(task.attributes)
        self.ae = AutoEncoder(task.channels, self.n_layers, arch.init_fm, arch.max_fm, n_attr)
        self.lat_dis = LatentDiscriminator(
            size, task.channels, self.n_layers, arch.init_fm, arch.max_fm, arch.hid_dim, n_attr
        )
        self._opts = {
            "ae": torch.optim.Adam(self.ae.parameters(), lr=arch.lr, betas=BETAS),
            "lat_dis": torch.optim.Adam(self.lat_dis.parameters(), lr=arch.lr, betas=BETAS),
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    def lambda_lat_dis(self) -> float:
        """utils.get_lambda: linear warm-up over ``schedule`` iterations."""
        return LAMBDA_LAT_DIS * min(self.step, self.arch.schedule) / self.arch.schedule

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        x, a = batch["x"], batch["a"].float()
        # lat_dis_step: encoder frozen in eval mode, discriminator learns the true attributes
        self.ae.eval()
        self.lat_dis.train()
        with torch.no_grad():
            z = self.ae.encode(x)
        loss_dis = attribute_loss(self.lat_dis(z), a)
        self._opts["lat_dis"].zero_grad(set_to_none=True)
        loss_dis.backward()
        nn.utils.clip_grad_norm_(self.lat_dis.parameters(), CLIP)
        self._opts["lat_dis"].step()

        # autoencoder_step: reconstruct with the true code, fool the discriminator (eval mode)
        self.ae.train()
        self.lat_dis.eval()
        set_requires_grad([self.lat_dis], False)
        z = self.ae.encode(x)
        rec = (x - self.ae.decode(z, attribute_code(a))).pow(2).mean()
        adv = attribute_loss(self.lat_dis(z), 1 - a)  # flipped: 1 - a for boolean attributes
        loss = rec + self.lambda_lat_dis() * adv
        self._opts["ae"].zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.ae.parameters(), CLIP)
        self._opts["ae"].step()
        set_requires_grad([self.lat_dis], True)

        self.step += 1
        return {"rec": rec.item(), "adv": adv.item(), "lat_dis": loss_dis.item()}

    def translate(
        self,
        x: torch.Tensor,
        *,
        target: Any = None,
        latent: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """interpolate.py: eval mode, decode(encode(x), [1 - t, t]); ``target`` may be
        fractional or beyond [0, 1] to slide an attribute, as the authors' alpha."""
        if target is None:
            raise ValueError("Fader Networks need target: the wanted attribute vector (N, A)")
        t = torch.as_tensor(target, dtype=x.dtype, device=x.device).reshape(x.shape[0], -1)
        if t.shape[1] != len(self.task.attributes):
            raise ValueError(f"target has {t.shape[1]} attributes, the task {self.task.attributes}")
        self.ae.eval()
        return self.ae.decode(self.ae.encode(x), attribute_code(t))

    def load_official(self, obj: Any) -> None:
        """A released pickled AutoEncoder (or its state_dict): checks its hyper-parameters, adds
        the BatchNorm ``num_batches_tracked`` buffers that pre-0.4 PyTorch files lack, loads
        strictly."""
        if isinstance(obj, nn.Module):
            self._check_release(obj)
            obj = obj.state_dict()
        if not isinstance(obj, dict) or not any(str(k).startswith("enc_layers.") for k in obj):
            raise ValueError("not a Fader Networks auto-encoder (no enc_layers.* weights)")
        state = dict(obj)
        for key in self.ae.state_dict():
            if key.endswith("num_batches_tracked") and key not in state:
                state[key] = torch.tensor(0, dtype=torch.long)
        self.ae.load_state_dict(state)

    def _check_release(self, ae: nn.Module) -> None:
        ours = {
            "img_sz": self.task.image_size,
            "img_fm": self.task.channels,
            "n_layers": self.n_layers,
            "init_fm": self.arch.init_fm,
            "max_fm": self.arch.max_fm,
            "n_attr": 2 * len(self.task.attributes),
            "n_skip": 0,
            "instance_norm": False,
            "deconv_method": "convtranspose",
        }
        for key, want in ours.items():
            have = getattr(ae, key, want)
            if have != want:
                raise ValueError(f"released model has {key}={have}, this build {key}={want}")
        names = tuple(name for name, _ in getattr(ae, "attr", []))
        if names and names != tuple(self.task.attributes):
            raise ValueError(f"released model edits {names}, the task {self.task.attributes}")
