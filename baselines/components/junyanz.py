"""Blocks of the pytorch-CycleGAN-and-pix2pix / BicycleGAN code family (Zhu, Park, Isola et al.).

Layer order, and so every state_dict key, follows the authors' code so that their released
``.pth`` files load strictly (facts read from, not code copied from):

- junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` @78913853: ``get_norm_layer``,
  ``ResnetGenerator``/``ResnetBlock``, ``UnetGenerator``/``UnetSkipConnectionBlock``,
  ``NLayerDiscriminator``; ``models/base_model.py`` ``load_networks`` (release loading).
- junyanz/BicycleGAN ``models/networks.py`` @65ebe9f (the classes are unchanged at 40b9d52):
  ``G_Unet_add_all``/``UnetBlock_with_z``, ``E_ResNet``/``BasicBlock``, ``D_NLayersMulti``.

Concatenation order matters for loading their weights: a pix2pix level outputs ``[x, up]``,
a BicycleGAN level ``[up, x]``. (The pix2pix block's in-place LeakyReLU also rewrites the skip
tensor; that is invisible, since the parent level's ReLU follows: relu(lrelu(x)) = relu(x).)
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from baselines.schedule import Schedule

NormFactory = Callable[[int], nn.Module] | None


def norm_layer(kind: str) -> NormFactory:
    """``get_norm_layer``: batch = BatchNorm2d(affine, running stats); instance =
    InstanceNorm2d(affine=False, track_running_stats=False); none = no layer."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "none":
        return None
    raise ValueError(f"unknown norm {kind!r}; choose batch, instance or none")


def conv_bias(kind: str) -> bool:
    """pix2pix/CycleGAN convs before a norm carry a bias only for instance norm
    (``use_bias = norm_layer.func == nn.InstanceNorm2d``)."""
    return kind == "instance"


def nonlinearity(kind: str) -> Callable[[], nn.Module]:
    """BicycleGAN ``get_non_linearity``: relu, lrelu (slope 0.2), elu; all in place."""
    if kind == "relu":
        return functools.partial(nn.ReLU, inplace=True)
    if kind == "lrelu":
        return functools.partial(nn.LeakyReLU, negative_slope=0.2, inplace=True)
    if kind == "elu":
        return functools.partial(nn.ELU, inplace=True)
    raise ValueError(f"unknown nonlinearity {kind!r}")


def unet_depth(size: int) -> int:
    """Number of stride-2 levels that take ``size`` to a 1x1 bottleneck (8 at 256 = unet_256,
    7 at 128 = unet_128); the authors' U-Nets need at least 5."""
    depth = int(round(math.log2(size))) if size > 0 else 0
    if 2**depth != size or depth < 5:
        raise ValueError(f"the U-Net needs a power-of-two image size >= 32, got {size}")
    return depth


def unet_levels(num_downs: int, ngf: int) -> list[tuple[int, int, bool]]:
    """(outer_nc, inner_nc, dropout) per level, outermost first: ngf, 2, 4, 8 x ngf, then
    ``num_downs - 5`` 8x levels with dropout, then the 8x innermost level. Shared by the pix2pix
    U-Net and G_Unet_add_all (which builds the same widths; the outermost outer_nc is the image)."""
    levels = [(ngf, ngf, False), (ngf, 2 * ngf, False), (2 * ngf, 4 * ngf, False)]
    levels += [(4 * ngf, 8 * ngf, False)]
    levels += [(8 * ngf, 8 * ngf, True)] * (num_downs - 5)
    levels += [(8 * ngf, 8 * ngf, False)]
    return levels


# --- pix2pix U-Net ------------------------------------------------------------------------
class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level (keys ``model.<i>``): [lrelu, down, norm] -> submodule -> [relu, up,
    norm, dropout], output ``cat([x, up])``."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        *,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm = norm_layer(norm)
        bias = conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, uprelu, upconv, _norm(make_norm, outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, _norm(make_norm, inner_nc), submodule]
            layers += [uprelu, upconv, _norm(make_norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


def _norm(make_norm: NormFactory, channels: int) -> nn.Module:
    return make_norm(channels) if make_norm is not None else nn.Identity()


class UnetGenerator(nn.Module):
    """pix2pix ``UnetGenerator`` (keys ``model.model...``); ``num_downs`` 8 = unet_256."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        levels = unet_levels(num_downs, ngf)
        outer, inner, _ = levels[-1]
        block = UnetSkipConnectionBlock(outer, inner, innermost=True, norm=norm)
        for outer, inner, drop in reversed(levels[1:-1]):
            block = UnetSkipConnectionBlock(
                outer, inner, submodule=block, norm=norm, use_dropout=use_dropout and drop
            )
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc, block, outermost=True, norm=norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --- CycleGAN ResNet generator -----------------------------------------------------------
class ResnetBlock(nn.Module):
    """``conv_block``: [pad, conv3, norm, relu, (dropout), pad, conv3, norm]; out = x + block."""

    def __init__(self, dim: int, norm: str = "instance", use_dropout: bool = False) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias)]
        layers += [_norm(make_norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias)]
        layers.append(_norm(make_norm, dim))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Johnson-style generator CycleGAN uses: c7s1-ngf, two stride-2 downs, ``n_blocks`` residual
    blocks (9 = resnet_9blocks at 256, 6 at 128), two fractional-stride ups, c7s1-out, tanh."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
    ) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3)]
        layers += [nn.Conv2d(input_nc, ngf, 7, bias=bias), _norm(make_norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias)]
            layers += [_norm(make_norm, 2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(4 * ngf, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            up = nn.ConvTranspose2d(c, c // 2, 3, 2, padding=1, output_padding=1, bias=bias)
            layers += [up, _norm(make_norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --- PatchGAN discriminators -------------------------------------------------------------
def patchgan_layers(
    input_nc: int, ndf: int, n_layers: int, norm: str, bias: bool
) -> list[nn.Module]:
    """NLayerDiscriminator's stack: n_layers stride-2 4x4 convs (widths x2 up to 8 ndf), one
    stride-1 conv, a 1-channel 4x4 conv; n_layers=3 is the 70x70 PatchGAN."""
    make_norm = norm_layer(norm)
    layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1)]
    layers.append(nn.LeakyReLU(0.2, True))
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2**n, 8)
        stride = 2 if n < n_layers else 1
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias)]
        layers += [_norm(make_norm, ndf * mult), nn.LeakyReLU(0.2, True)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
    return layers


class NLayerDiscriminator(nn.Module):
    """pix2pix/CycleGAN PatchGAN (keys ``model.<i>``)."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        self.model = nn.Sequential(*patchgan_layers(input_nc, ndf, n_layers, norm, conv_bias(norm)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MultiscalePatchGAN(nn.Module):
    """BicycleGAN ``D_NLayersMulti``: ``num_d`` PatchGANs (``model_<i>``), scale i sees the
    image average-pooled i times and has ``round(ndf / 2**i)`` filters; returns a list."""

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
        num_d: int = 2,
    ) -> None:
        super().__init__()
        self.num_d = num_d
        for i in range(num_d):
            width = int(round(ndf / 2**i))
            # D_NLayersMulti.get_layers leaves every conv's bias on, whatever the norm
            self.add_module(
                f"model_{i}",
                nn.Sequential(*patchgan_layers(input_nc, width, n_layers, norm, bias=True)),
            )
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i in range(self.num_d):
            out.append(getattr(self, f"model_{i}")(x))
            if i < self.num_d - 1:
                x = self.down(x)
        return out


# --- BicycleGAN generator and encoder ----------------------------------------------------
def _tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return z.view(z.size(0), z.size(1), 1, 1).expand(-1, -1, like.size(2), like.size(3))


class UnetBlockZ(nn.Module):
    """BicycleGAN ``UnetBlock_with_z`` (keys ``down``/``submodule``/``up``), output
    ``cat([up, x])``. ``z`` is tiled and concatenated to the block input (``z_down``, as
    G_Unet_add_all does at every level) and/or to the up-conv input (``z_up``: noise in the
    decoder feature maps, the CycleGAN* baseline)."""

    def __init__(
        self,
        input_nc: int,
        outer_nc: int,
        inner_nc: int,
        nz: int,
        submodule: UnetBlockZ | None = None,
        *,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "instance",
        nl: str = "relu",
        use_dropout: bool = False,
        z_down: bool = True,
        z_up: bool = False,
    ) -> None:
        super().__init__()
        self.outermost, self.innermost = outermost, innermost
        self.nz = nz
        self.z_down, self.z_up = z_down and nz > 0, z_up and nz > 0
        make_norm = norm_layer(norm)
        zd, zu = (nz if self.z_down else 0), (nz if self.z_up else 0)
        downconv = nn.Conv2d(input_nc + zd, inner_nc, kernel_size=4, stride=2, padding=1)
        up_in = (inner_nc if innermost else inner_nc * 2) + zu
        upconv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1)
        uprelu = nonlinearity(nl)()
        if outermost:
            down: list[nn.Module] = [downconv]
            up: list[nn.Module] = [uprelu, upconv, nn.Tanh()]
        else:
            down = [nn.LeakyReLU(0.2, True), downconv]
            if not innermost and make_norm is not None:
                down.append(make_norm(inner_nc))
            up = [uprelu, upconv]
            if make_norm is not None:
                up.append(make_norm(outer_nc))
            if use_dropout and not innermost:
                up.append(nn.Dropout(0.5))
        self.down = nn.Sequential(*down)
        self.submodule = submodule
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        h = self.down(torch.cat([x, _tile(z, x)], 1) if self.z_down else x)
        if self.submodule is not None:
            h = self.submodule(h, z)
        h = self.up(torch.cat([h, _tile(z, h)], 1) if self.z_up else h)
        return h if self.outermost else torch.cat([h, x], 1)


class UnetGeneratorZ(nn.Module):
    """A U-Net that takes a latent ``z`` (keys ``model.down``, ``model.submodule...``).

    ``z_at="all_down"`` is BicycleGAN's G_Unet_add_all (z into every encoder level);
    ``z_at="input_and_decoder"`` adds z to the input and to every decoder level's input.
    """

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        nz: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "instance",
        nl: str = "relu",
        use_dropout: bool = False,
        z_at: str = "all_down",
    ) -> None:
        super().__init__()
        if z_at not in ("all_down", "input_and_decoder"):
            raise ValueError(f"unknown z placement {z_at!r}")
        self.nz = nz
        inner_z = {"z_down": z_at == "all_down", "z_up": z_at == "input_and_decoder"}
        kw = {"norm": norm, "nl": nl}
        levels = unet_levels(num_downs, ngf)
        outer, inner, _ = levels[-1]
        block = UnetBlockZ(outer, outer, inner, nz, innermost=True, **kw, **inner_z)
        for outer, inner, drop in reversed(levels[1:-1]):
            block = UnetBlockZ(
                outer, outer, inner, nz, block, use_dropout=use_dropout and drop, **kw, **inner_z
            )
        self.model = UnetBlockZ(
            input_nc,
            output_nc,
            ngf,
            nz,
            block,
            outermost=True,
            z_down=True,
            z_up=inner_z["z_up"],
            **kw,
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        return self.model(x, z)


class BasicBlock(nn.Module):
    """E_ResNet's residual down block: conv = [norm, nl, conv3, norm, nl, (conv3, avgpool2)],
    shortcut = (avgpool2, conv1)."""

    def __init__(self, inplanes: int, outplanes: int, norm: str, nl: str) -> None:
        super().__init__()
        make_norm, act = norm_layer(norm), nonlinearity(nl)
        layers: list[nn.Module] = []
        if make_norm is not None:
            layers.append(make_norm(inplanes))
        layers += [act(), nn.Conv2d(inplanes, inplanes, 3, padding=1)]
        if make_norm is not None:
            layers.append(make_norm(inplanes))
        layers += [
            act(),
            nn.Sequential(nn.Conv2d(inplanes, outplanes, 3, padding=1), nn.AvgPool2d(2, 2)),
        ]
        self.conv = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(inplanes, outplanes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


def encoder_blocks(size: int) -> int:
    """E_ResNet ``n_blocks`` for an image size: the conv stack must end at 8x8 for its
    AvgPool2d(8) (resnet_256 = 5 blocks, resnet_128 = 4)."""
    n = int(round(math.log2(size))) - 3 if size > 0 else 0
    if n < 1 or 2 ** (n + 3) != size:
        raise ValueError(f"E_ResNet needs a power-of-two image size >= 16, got {size}")
    return n


class EResNet(nn.Module):
    """BicycleGAN ``E_ResNet`` (keys ``conv``, ``fc``, ``fcVar``); with ``vae_like`` it returns
    (mu, logvar)."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ndf: int = 64,
        n_blocks: int = 5,
        norm: str = "instance",
        nl: str = "lrelu",
        vae_like: bool = True,
    ) -> None:
        super().__init__()
        self.vae_like = vae_like
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1)]
        out_ndf = ndf
        for n in range(1, n_blocks):
            in_ndf, out_ndf = ndf * min(4, n), ndf * min(4, n + 1)
            layers.append(BasicBlock(in_ndf, out_ndf, norm, nl))
        layers += [nonlinearity(nl)(), nn.AvgPool2d(8)]
        self.fc = nn.Sequential(nn.Linear(out_ndf, output_nc))
        if vae_like:
            self.fcVar = nn.Sequential(nn.Linear(out_ndf, output_nc))
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> Any:
        flat = self.conv(x).view(x.size(0), -1)
        if self.vae_like:
            return self.fc(flat), self.fcVar(flat)
        return self.fc(flat)


# --- two-domain targets -------------------------------------------------------------------
def target_mask(task: Any, target: Any, n: int) -> torch.Tensor:
    """Per-sample direction of a two-domain ``translate``: True = A->B (target 1, the default),
    False = B->A; names from ``task.domain_names`` work too."""
    t = task.domain_index(1 if target is None else target)
    t = torch.as_tensor(t).reshape(-1).cpu()
    if t.numel() not in (1, n) or not set(t.tolist()) <= {0, 1}:
        raise ValueError(
            f"target must be 0 (B->A) or 1 (A->B), one or one per input; got {target!r}"
        )
    return t.expand(n).bool() if t.numel() == 1 else t.bool()


def one_way_target(task: Any, target: Any, name: str, n: int = 1) -> None:
    """Paired methods (pix2pix, BicycleGAN) are trained A->B only."""
    if not bool(target_mask(task, target, n).all()):
        raise ValueError(f"{name} is trained A->B only; target must be 1 (got {target!r})")


# --- test-time mode and released checkpoints ---------------------------------------------
@contextlib.contextmanager
def authors_test_mode(net: nn.Module, *, train: bool) -> Iterator[None]:
    """Run ``net`` in the mode the authors' test script leaves it in, then restore it.

    ``train=True`` (pix2pix test.py without ``--eval``): batch norm normalises with the batch's
    own statistics and dropout stays on; the running statistics are frozen meanwhile, so
    sampling leaves the checkpoint untouched. ``train=False``: eval() (BicycleGAN test.py).
    """
    modes = [(m, m.training) for m in net.modules()]
    bns = [
        m
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    try:
        net.train(train)
        if train:
            for m in bns:
                m.track_running_stats = False  # batch stats, no running-stat update
        yield
    finally:
        for m in bns:
            m.track_running_stats = True
        for m, mode in modes:
            m.training = mode


_INSTANCE_NORM_LEGACY = ("running_mean", "running_var", "num_batches_tracked")


def load_released(net: nn.Module, state: Any) -> None:
    """Load a released state_dict the way ``BaseModel.load_networks`` does: drop ``_metadata``,
    pop the InstanceNorm running stats / counters that pre-0.4 (or mid-2018) torch saved, then
    load strictly. BatchNorm ``num_batches_tracked`` missing from old files is filled by torch
    (no metadata -> legacy version), as in the authors' loader."""
    if not isinstance(state, Mapping):
        raise ValueError(f"expected a state_dict, got {type(state).__name__}")
    sd = dict(state.items())  # a plain dict carries no _metadata
    modules = dict(net.named_modules())
    for key in list(sd):
        owner, _, leaf = key.rpartition(".")
        mod = modules.get(owner)
        if (
            isinstance(mod, nn.InstanceNorm2d)
            and leaf in _INSTANCE_NORM_LEGACY
            and getattr(mod, leaf, None) is None
        ):
            del sd[key]
    net.load_state_dict(sd, strict=True)


def linear_schedule(niter: int, niter_decay: int, batch_size: int, source: str) -> Schedule:
    """The code family's ``lr_policy linear`` (``networks.get_scheduler`` with epoch_count 1,
    stepped once per epoch): ``niter`` epochs at the initial rate, then ``niter_decay`` epochs
    decaying linearly towards zero."""
    return Schedule(
        length=niter + niter_decay,
        unit="epochs",
        batch_size=batch_size,
        decay="linear",
        decay_start=niter,
        offset=1,
        source=source,
    )
