"""The block family of Ming-Yu Liu's translation code (UNIT, MUNIT, FUNIT), with its key names.

Module and attribute names (``.conv``, ``.norm``, ``.fc``, ``.model``, ``.cnns``, ``conv_0``,
``conv_s``) reproduce the authors' ``state_dict`` keys so released checkpoints load strictly.
Facts from NVlabs/MUNIT ``networks.py`` (a82e222; UNIT's PyTorch code in mingyuliutw/UNIT is the
same file) and NVlabs/FUNIT ``blocks.py`` / ``networks.py`` (198f430):

- ``Conv2dBlock``: pad (reflect/zero), conv, norm, activation; FUNIT adds ``activation_first``
  (pre-activation, its discriminator) and ``use_bias``.
- ``in``: ``InstanceNorm2d`` without affine or running stats (PyTorch >= 0.4 defaults); files
  saved by PyTorch 0.3 carry running_mean/var keys for it, which the authors'
  ``utils.pytorch03_to_pytorch04`` deletes (``drop_legacy_norm_stats`` here).
- ``ln``: MUNIT's own LayerNorm: per sample over (C, H, W), *unbiased* std, ``eps`` added to the
  std (not the variance), per-channel ``gamma`` (init U(0, 1)) and ``beta``.
- ``adain``: ``AdaptiveInstanceNorm2d``: instance statistics always (``F.batch_norm`` in training
  mode on a (1, N*C, H, W) view, also at test time); its weight/bias are assigned from the MLP
  before every decode and are not state; ``running_mean``/``running_var`` are dummy buffers that
  are saved but never change (batch_norm updates repeated copies).
- Decoder upsampling: nearest x2 then a 5x5 conv; LayerNorm in MUNIT/UNIT, InstanceNorm in FUNIT.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from baselines.base import TaskSpec, Translator
from baselines.components.init import init_weights
from baselines.components.losses import GANLoss, set_requires_grad
from baselines.schedule import Schedule

_PADS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}


def _activation(kind: str) -> nn.Module | None:
    if kind == "relu":
        return nn.ReLU()
    if kind == "lrelu":
        return nn.LeakyReLU(0.2)
    if kind == "tanh":
        return nn.Tanh()
    if kind == "none":
        return None
    raise ValueError(f"unsupported activation {kind!r}")


class LayerNorm(nn.Module):
    """MUNIT's LayerNorm (networks.py): normalise each sample over all of (C, H, W)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        mean = flat.mean(1).reshape(shape)
        std = flat.std(1).reshape(shape)
        x = (x - mean) / (std + self.eps)
        affine = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.gamma.reshape(affine) + self.beta.reshape(affine)


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance norm whose per-sample scale/shift come from the MLP (``assign_adain_params``)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight: torch.Tensor | None = None  # (N * C,), assigned before each decode
        self.bias: torch.Tensor | None = None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("AdaIN weight/bias must be assigned from the MLP before decoding")
        b, c = x.shape[:2]
        out = F.batch_norm(
            x.contiguous().reshape(1, b * c, *x.shape[2:]),
            self.running_mean.repeat(b),
            self.running_var.repeat(b),
            self.weight,
            self.bias,
            True,
            self.momentum,
            self.eps,
        )
        return out.reshape(x.shape)


def _norm(kind: str, dim: int) -> nn.Module | None:
    if kind == "in":
        return nn.InstanceNorm2d(dim)
    if kind == "ln":
        return LayerNorm(dim)
    if kind == "adain":
        return AdaptiveInstanceNorm2d(dim)
    if kind == "none":
        return None
    raise ValueError(f"unsupported normalization {kind!r}")


class Conv2dBlock(nn.Module):
    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel: int,
        stride: int,
        padding: int = 0,
        norm: str = "none",
        activation: str = "relu",
        pad_type: str = "zero",
        use_bias: bool = True,
        activation_first: bool = False,
    ) -> None:
        super().__init__()
        if pad_type not in _PADS:
            raise ValueError(f"unsupported padding {pad_type!r}")
        self.activation_first = activation_first
        self.pad = _PADS[pad_type](padding)
        self.norm = _norm(norm, out_dim)
        self.activation = _activation(activation)
        self.conv = nn.Conv2d(in_dim, out_dim, kernel, stride, bias=use_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation_first and self.activation is not None:
            x = self.activation(x)
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if not self.activation_first and self.activation is not None:
            x = self.activation(x)
        return x


class LinearBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, activation: str = "relu") -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class ResBlock(nn.Module):
    """conv-norm-act, conv-norm, plus the input."""

    def __init__(self, dim: int, norm: str, activation: str, pad_type: str) -> None:
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm, activation, pad_type),
            Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class ResBlocks(nn.Module):
    def __init__(self, num_blocks: int, dim: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.Sequential(
            *[ResBlock(dim, norm, activation, pad_type) for _ in range(num_blocks)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ActFirstResBlock(nn.Module):
    """FUNIT discriminator block: pre-activation convs, 1x1 bias-free shortcut when fin != fout."""

    def __init__(self, fin: int, fout: int, activation: str = "lrelu", norm: str = "none"):
        super().__init__()
        self.learned_shortcut = fin != fout
        fhid = min(fin, fout)
        self.conv_0 = Conv2dBlock(
            fin, fhid, 3, 1, 1, norm, activation, "reflect", activation_first=True
        )
        self.conv_1 = Conv2dBlock(
            fhid, fout, 3, 1, 1, norm, activation, "reflect", activation_first=True
        )
        if self.learned_shortcut:
            self.conv_s = Conv2dBlock(fin, fout, 1, 1, activation="none", use_bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(x) if self.learned_shortcut else x
        return shortcut + self.conv_1(self.conv_0(x))


class MLP(nn.Module):
    """Style / class code -> AdaIN parameters: ``n_blk`` linear layers, no output activation."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, n_blk: int, activ: str = "relu"):
        super().__init__()
        layers = [LinearBlock(in_dim, dim, activ)]
        layers += [LinearBlock(dim, dim, activ) for _ in range(n_blk - 2)]
        layers += [LinearBlock(dim, out_dim, "none")]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], -1))


class ContentEncoder(nn.Module):
    """7x7 conv, ``n_down`` stride-2 4x4 convs doubling the width, then ``n_res`` res blocks."""

    def __init__(
        self, n_down: int, n_res: int, in_dim: int, dim: int, norm: str, activ: str, pad_type: str
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 7, 1, 3, norm, activ, pad_type)]
        for _ in range(n_down):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activ, pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, norm, activ, pad_type))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim
        self.size_multiple = 2**n_down
        self.min_size = 2 ** (n_down + 1)  # reflect-padded res blocks need >= 2 px

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class StyleEncoder(nn.Module):
    """MUNIT's style encoder = FUNIT's class-model encoder: two width-doubling downsamples, the
    rest at constant width, global average pooling, 1x1 conv to the code, (N, code_dim, 1, 1)."""

    def __init__(
        self,
        n_down: int,
        in_dim: int,
        dim: int,
        code_dim: int,
        norm: str,
        activ: str,
        pad_type: str,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 7, 1, 3, norm, activ, pad_type)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activ, pad_type))
            dim *= 2
        for _ in range(n_down - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, norm, activ, pad_type))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, code_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim
        self.min_size = 2**n_down  # the last reflect-padded 4x4 conv needs >= 2 px

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """``n_res`` res blocks (``res_norm``; AdaIN in MUNIT/FUNIT), ``n_up`` x (nearest x2, 5x5
    conv, ``up_norm``), 7x7 conv + tanh."""

    def __init__(
        self,
        n_up: int,
        n_res: int,
        dim: int,
        out_dim: int,
        res_norm: str,
        up_norm: str,
        activ: str,
        pad_type: str,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, res_norm, activ, pad_type)]
        for _ in range(n_up):
            layers += [
                nn.Upsample(scale_factor=2),
                Conv2dBlock(dim, dim // 2, 5, 1, 2, up_norm, activ, pad_type),
            ]
            dim //= 2
        layers.append(Conv2dBlock(dim, out_dim, 7, 1, 3, "none", "tanh", pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def num_adain_params(model: nn.Module) -> int:
    return sum(2 * m.num_features for m in model.modules() if isinstance(m, AdaptiveInstanceNorm2d))


def assign_adain_params(params: torch.Tensor, model: nn.Module) -> None:
    """Split (N, P) MLP output over the AdaIN layers in module order: [bias (mean), weight
    (std)] per layer, as ``assign_adain_params`` in MUNIT/FUNIT networks.py."""
    for m in model.modules():
        if isinstance(m, AdaptiveInstanceNorm2d):
            c = m.num_features
            m.bias = params[:, :c].contiguous().reshape(-1)
            m.weight = params[:, c : 2 * c].contiguous().reshape(-1)
            params = params[:, 2 * c :]


def adain_decode(
    dec: nn.Module, mlp: nn.Module, content: torch.Tensor, code: torch.Tensor
) -> torch.Tensor:
    """Decode ``content`` with AdaIN parameters from ``mlp(code)`` (MUNIT AdaINGen.decode,
    FUNIT FewShotGen.decode)."""
    assign_adain_params(mlp(code), dec)
    return dec(content)


class MsImageDis(nn.Module):
    """Multi-scale PatchGAN: the same net on the image and on 3x3 avg-pooled (stride 2) copies;
    returns one map per scale."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        n_layer: int,
        num_scales: int,
        norm: str,
        activ: str,
        pad_type: str,
    ) -> None:
        super().__init__()
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.cnns = nn.ModuleList(
            self._make_net(in_dim, dim, n_layer, norm, activ, pad_type) for _ in range(num_scales)
        )
        self.min_size = 2 ** (num_scales - 1 + n_layer)

    @staticmethod
    def _make_net(
        in_dim: int, dim: int, n_layer: int, norm: str, activ: str, pad_type: str
    ) -> nn.Sequential:
        layers: list[nn.Module] = [Conv2dBlock(in_dim, dim, 4, 2, 1, "none", activ, pad_type)]
        for _ in range(n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, norm, activ, pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for net in self.cnns:
            outputs.append(net(x))
            x = self.downsample(x)
        return outputs


def check_image_size(name: str, size: int, model: nn.Module) -> None:
    """Raise a clear ValueError when ``size`` does not fit the downsampling of ``model``'s nets
    (each states its ``size_multiple`` / ``min_size``)."""
    nets = list(model.modules())
    multiple = max(getattr(n, "size_multiple", 1) for n in nets)
    minimum = max(getattr(n, "min_size", 1) for n in nets)
    if size % multiple or size < minimum:
        raise ValueError(
            f"{name}: image size {size} does not fit this config (needs a multiple of "
            f"{multiple}, at least {minimum})"
        )


def drop_legacy_norm_stats(module: nn.Module, state: dict[str, torch.Tensor]) -> dict:
    """``state`` without the InstanceNorm running_mean/var keys a PyTorch-0.3 file carries for
    ``module`` (what ``utils.pytorch03_to_pytorch04`` deletes before the authors load)."""
    legacy = {
        f"{name}.running_{stat}"
        for name, m in module.named_modules()
        if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats
        for stat in ("mean", "var")
    }
    return {k: v for k, v in state.items() if k not in legacy}


def step_schedule(source: str) -> Schedule:
    """UNIT's and MUNIT's released edges2shoes configs (max_iter 1000000, batch_size 1,
    lr_policy step, step_size 100000, gamma 0.5) under the NVlabs train.py, which steps the
    StepLR before each iteration: iteration i runs at 0.5 ** ((i + 1) // 100000)."""
    return Schedule(
        length=1_000_000,
        batch_size=1,
        decay="step",
        every=100_000,
        gamma=0.5,
        offset=1,
        source=source,
    )


class LiuPairTranslator(Translator):
    """What UNIT and MUNIT share (NVlabs/MUNIT trainer.py, train.py): one generator and one
    MsImageDis per domain, LSGAN summed over scales, Adam(lr, betas, weight_decay) for all
    generator and all discriminator parameters, kaiming init then N(0, 0.02) discriminators,
    one D update then one G update per iteration, released file ``{'a': gen_a, 'b': gen_b}``.

    Subclasses set ``GEN`` / ``LOSS_W`` and implement ``make_gen``, ``_cross`` (the D step's
    translations) and ``_gen_losses``. On a paired task the pairing is ignored, as MUNIT did on
    edges2shoes (trainA/trainB folders)."""

    supports = frozenset({"unpaired", "paired"})
    monitor_loss = "recon_x"
    GEN: ClassVar[dict[str, dict[str, Any]]] = {}
    LOSS_W: ClassVar[dict[str, float]] = {}
    # configs/*_folder.yaml dis: dim 64, norm none, lrelu, n_layer 4, lsgan, 3 scales, reflect
    DIS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {
            "dim": 64,
            "n_layer": 4,
            "num_scales": 3,
            "norm": "none",
            "activ": "lrelu",
            "pad_type": "reflect",
        },
        "tiny": {
            "dim": 16,
            "n_layer": 2,
            "num_scales": 2,
            "norm": "none",
            "activ": "lrelu",
            "pad_type": "reflect",
        },
    }
    OPTIM: ClassVar[dict[str, Any]] = {"lr": 1e-4, "betas": (0.5, 0.999), "weight_decay": 1e-4}

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        if config not in self.GEN:
            raise ValueError(f"{self.name}: unknown config {config!r}")
        self.gen_a = self.make_gen(self.GEN[config])
        self.gen_b = self.make_gen(self.GEN[config])
        self.dis_a = MsImageDis(task.channels, **self.DIS[config])
        self.dis_b = MsImageDis(task.channels, **self.DIS[config])
        check_image_size(self.name, task.image_size, self)
        init_weights(self, "kaiming")
        init_weights(self.dis_a, "normal", 0.02)
        init_weights(self.dis_b, "normal", 0.02)
        gen_params = list(self.gen_a.parameters()) + list(self.gen_b.parameters())
        dis_params = list(self.dis_a.parameters()) + list(self.dis_b.parameters())
        self.gen_opt = torch.optim.Adam(gen_params, **self.OPTIM)
        self.dis_opt = torch.optim.Adam(dis_params, **self.OPTIM)
        self.gan = GANLoss("lsgan")

    # --- subclass hooks ---------------------------------------------------------------------
    def make_gen(self, cfg: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def _cross(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _gen_losses(self, x_a: torch.Tensor, x_b: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"gen": self.gen_opt, "dis": self.dis_opt}

    def _adv(self, dis: MsImageDis, fake: torch.Tensor) -> torch.Tensor:
        preds = dis(fake)  # calc_gen_loss sums the scales; GANLoss averages them
        return len(preds) * self.gan.gen(preds)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        x_a, x_b = batch["x"].to(self.device), batch["x2"].to(self.device)
        w = self.LOSS_W
        with torch.no_grad():
            x_ba, x_ab = self._cross(x_a, x_b)
        self.dis_opt.zero_grad(set_to_none=True)
        loss_d = 0.0
        for dis, real, fake in ((self.dis_a, x_a, x_ba), (self.dis_b, x_b, x_ab)):
            real_p, fake_p = dis(real), dis(fake)
            loss_d = loss_d + w["adv"] * len(real_p) * self.gan.dis(real_p, fake_p)
        loss_d.backward()
        self.dis_opt.step()

        set_requires_grad([self.dis_a, self.dis_b], False)
        self.gen_opt.zero_grad(set_to_none=True)
        losses = self._gen_losses(x_a, x_b)
        total = sum(w[k] * v for k, v in losses.items())
        total.backward()
        self.gen_opt.step()
        set_requires_grad([self.dis_a, self.dis_b], True)
        self.step += 1
        return {
            "dis": loss_d.item(),
            "gen": total.item(),
            **{k: v.item() for k, v in losses.items()},
        }

    def _direction(self, target: Any) -> int:
        """1 (A->B, the default) or 0 (B->A); a domain name or a uniform tensor works too."""
        target = self.task.domain_index(1 if target is None else target)
        values = torch.as_tensor(target).reshape(-1).unique()
        if len(values) != 1 or int(values[0]) not in (0, 1):
            raise ValueError(f"{self.name} translates one direction per call: target 0 or 1")
        return int(values[0])

    def load_official(self, obj: Any) -> None:
        """test.py: ``gen_a/gen_b.load_state_dict(state_dict['a'/'b'])``, retried after
        ``pytorch03_to_pytorch04`` drops the PyTorch-0.3 InstanceNorm running stats."""
        if not isinstance(obj, dict) or not {"a", "b"} <= set(obj):
            raise ValueError("expected the authors' generator file {'a': gen_a, 'b': gen_b}")
        state_a = drop_legacy_norm_stats(self.gen_a, obj["a"])
        state_b = drop_legacy_norm_stats(self.gen_b, obj["b"])
        self.gen_a.load_state_dict(state_a)
        self.gen_b.load_state_dict(state_b)
