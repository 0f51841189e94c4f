"""DRIT's networks (HsinYingLee/DRIT src/networks.py, f19f50a8), composed by baselines/drit.py.

Class names, attribute names and Sequential indices reproduce networks.py's state_dict keys, so
the authors' released ``example.pth`` loads strictly. Facts and deviations: baselines/drit.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NZ = 8  # attribute code size (model.py: self.nz = 8; G's MLP input is hard-coded to 8)


# --- blocks (names and Sequential indices reproduce networks.py's state_dict keys) ----------
class LeakyReLUConv2d(nn.Module):
    def __init__(self, n_in: int, n_out: int, kernel: int, stride: int, padding: int = 0):
        super().__init__()
        self.model = nn.Sequential(
            nn.ReflectionPad2d(padding),
            nn.Conv2d(n_in, n_out, kernel, stride),
            nn.LeakyReLU(inplace=True),  # default slope 0.01, as the authors
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ReLUINSConv2d(nn.Module):
    def __init__(self, n_in: int, n_out: int, kernel: int, stride: int, padding: int = 0):
        super().__init__()
        self.model = nn.Sequential(
            nn.ReflectionPad2d(padding),
            nn.Conv2d(n_in, n_out, kernel, stride),
            nn.InstanceNorm2d(n_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class INSResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.model = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(ch, ch, 3),
            nn.InstanceNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class GaussianNoiseLayer(nn.Module):
    """Adds N(0, 1) noise to content codes in train mode only (regularises the shared space)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) if self.training else x


class LayerNorm(nn.Module):
    """DRIT's (from MUNIT) per-sample LayerNorm over (C, H, W) with (C, 1, 1) affine params."""

    def __init__(self, ch: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(ch, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape), self.eps)


class ReLUINSConvTranspose2d(nn.Module):
    """Stride-2 transposed conv + LayerNorm + ReLU (the name says IN; the code uses LayerNorm)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.model = nn.Sequential(
            nn.ConvTranspose2d(n_in, n_out, 3, 2, padding=1, output_padding=1),
            LayerNorm(n_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class BasicBlock(nn.Module):
    """E_attr_concat's residual down block (norm_layer=None, LeakyReLU(0.2))."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.ReflectionPad2d(1),
            nn.Conv2d(n_in, n_in, 3),
            nn.LeakyReLU(0.2),
            nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(n_in, n_out, 3), nn.AvgPool2d(2, 2)),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(n_in, n_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class MisINSResBlock(nn.Module):
    """Residual block that injects a per-block slice of the attribute MLP output (concat 0)."""

    def __init__(self, dim: int, dim_extra: int):
        super().__init__()

        def conv3(d: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3)), nn.InstanceNorm2d(d)
            )

        def mix(d: int, e: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(d + e, d + e, 1), nn.ReLU(), nn.Conv2d(d + e, d, 1), nn.ReLU()
            )

        self.conv1, self.conv2 = conv3(dim), conv3(dim)
        self.blk1, self.blk2 = mix(dim, dim_extra), mix(dim, dim_extra)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        zt = tile(z, x)
        o2 = self.blk1(torch.cat([self.conv1(x), zt], 1))
        return x + self.blk2(torch.cat([self.conv2(o2), zt], 1))


def tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return z[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])


# --- encoders and generators ---------------------------------------------------------------
class EContent(nn.Module):
    def __init__(self, in_a: int, in_b: int, ch: int, n_res: int):
        super().__init__()

        def branch(c_in: int) -> nn.Sequential:
            layers: list[nn.Module] = [LeakyReLUConv2d(c_in, ch, 7, 1, 3)]
            layers += [ReLUINSConv2d(ch, ch * 2, 3, 2, 1), ReLUINSConv2d(ch * 2, ch * 4, 3, 2, 1)]
            layers += [INSResBlock(ch * 4) for _ in range(n_res)]
            return nn.Sequential(*layers)

        self.convA, self.convB = branch(in_a), branch(in_b)
        self.conv_share = nn.Sequential(INSResBlock(ch * 4), GaussianNoiseLayer())

    def forward_a(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_share(self.convA(x))

    def forward_b(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_share(self.convB(x))


class EAttrConcat(nn.Module):
    """Returns (mu, logvar) per domain."""

    def __init__(self, in_a: int, in_b: int, ndf: int, nz: int = NZ, n_blocks: int = 4):
        super().__init__()

        def branch(c_in: int) -> tuple[nn.Sequential, int]:
            layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, ndf, 4, 2)]
            for n in range(1, n_blocks):
                layers.append(BasicBlock(ndf * min(4, n), ndf * min(4, n + 1)))
            layers += [nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1)]
            return nn.Sequential(*layers), ndf * min(4, n_blocks)

        self.conv_A, out = branch(in_a)
        self.fc_A, self.fcVar_A = (
            nn.Sequential(nn.Linear(out, nz)),
            nn.Sequential(nn.Linear(out, nz)),
        )
        self.conv_B, out = branch(in_b)
        self.fc_B, self.fcVar_B = (
            nn.Sequential(nn.Linear(out, nz)),
            nn.Sequential(nn.Linear(out, nz)),
        )

    def forward_a(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_A(x).flatten(1)
        return self.fc_A(h), self.fcVar_A(h)

    def forward_b(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_B(x).flatten(1)
        return self.fc_B(h), self.fcVar_B(h)


class EAttr(nn.Module):
    """Deterministic attribute encoder of ``--concat 0``."""

    def __init__(self, in_a: int, in_b: int, dim: int, nz: int = NZ):
        super().__init__()

        def branch(c_in: int) -> nn.Sequential:
            layers: list[nn.Module] = [
                nn.ReflectionPad2d(3),
                nn.Conv2d(c_in, dim, 7),
                nn.ReLU(True),
            ]
            widths = [dim, dim * 2, dim * 4, dim * 4, dim * 4]
            for w_in, w_out in zip(widths[:-1], widths[1:]):
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(w_in, w_out, 4, 2), nn.ReLU(True)]
            layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim * 4, nz, 1)]
            return nn.Sequential(*layers)

        self.model_a, self.model_b = branch(in_a), branch(in_b)

    def forward_a(self, x: torch.Tensor) -> torch.Tensor:
        return self.model_a(x).flatten(1)

    def forward_b(self, x: torch.Tensor) -> torch.Tensor:
        return self.model_b(x).flatten(1)


class GConcat(nn.Module):
    """Decoder that concatenates the tiled attribute code before every stage (concat 1)."""

    def __init__(self, out_a: int, out_b: int, content_ch: int, n_res: int, nz: int = NZ):
        super().__init__()
        self.dec_share = nn.Sequential(INSResBlock(content_ch))
        for dom, c_out in (("A", out_a), ("B", out_b)):
            tch = content_ch + nz
            setattr(self, f"dec{dom}1", nn.Sequential(*[INSResBlock(tch) for _ in range(n_res)]))
            tch += nz
            setattr(self, f"dec{dom}2", nn.Sequential(ReLUINSConvTranspose2d(tch, tch // 2)))
            tch = tch // 2 + nz
            setattr(self, f"dec{dom}3", nn.Sequential(ReLUINSConvTranspose2d(tch, tch // 2)))
            tch = tch // 2 + nz
            setattr(self, f"dec{dom}4", nn.Sequential(nn.ConvTranspose2d(tch, c_out, 1), nn.Tanh()))

    def _decode(self, dom: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.dec_share(x)
        for i in range(1, 5):
            out = getattr(self, f"dec{dom}{i}")(torch.cat([out, tile(z, out)], 1))
        return out

    def forward_a(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("A", x, z)

    def forward_b(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("B", x, z)


class G(nn.Module):
    """Decoder with four MisINSResBlocks fed by an MLP of z (concat 0)."""

    def __init__(self, out_a: int, out_b: int, content_ch: int, nz: int = NZ):
        super().__init__()
        self.tch_add = content_ch
        for dom, c_out in (("A", out_a), ("B", out_b)):
            for i in range(1, 5):
                setattr(self, f"dec{dom}{i}", MisINSResBlock(content_ch, content_ch))
            setattr(
                self,
                f"dec{dom}5",
                nn.Sequential(
                    ReLUINSConvTranspose2d(content_ch, content_ch // 2),
                    ReLUINSConvTranspose2d(content_ch // 2, content_ch // 4),
                    nn.ConvTranspose2d(content_ch // 4, c_out, 1),
                    nn.Tanh(),
                ),
            )
            setattr(
                self,
                f"mlp{dom}",
                nn.Sequential(
                    nn.Linear(nz, 256),
                    nn.ReLU(True),
                    nn.Linear(256, 256),
                    nn.ReLU(True),
                    nn.Linear(256, content_ch * 4),
                ),
            )

    def _decode(self, dom: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        zs = torch.split(getattr(self, f"mlp{dom}")(z), self.tch_add, dim=1)
        out = x
        for i in range(1, 5):
            out = getattr(self, f"dec{dom}{i}")(out, zs[i - 1].contiguous())
        return getattr(self, f"dec{dom}5")(out)

    def forward_a(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("A", x, z)

    def forward_b(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("B", x, z)


# --- discriminators -----------------------------------------------------------------------
class MultiScaleDis(nn.Module):
    def __init__(self, c_in: int, ch: int, n_scale: int, n_layer: int):
        super().__init__()
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.Diss = nn.ModuleList()
        for _ in range(n_scale):
            layers: list[nn.Module] = [LeakyReLUConv2d(c_in, ch, 4, 2, 1)]
            tch = ch
            for _ in range(1, n_layer):
                layers.append(LeakyReLUConv2d(tch, tch * 2, 4, 2, 1))
                tch *= 2
            layers.append(nn.Conv2d(tch, 1, 1))
            self.Diss.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for dis in self.Diss:
            outs.append(dis(x))
            x = self.downsample(x)
        return outs


class DisContent(nn.Module):
    def __init__(self, ch: int, n_down: int, kernel: int):
        super().__init__()
        layers: list[nn.Module] = [LeakyReLUConv2d(ch, ch, kernel, 2, 1) for _ in range(n_down)]
        layers += [LeakyReLUConv2d(ch, ch, 4, 1, 0), nn.Conv2d(ch, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).reshape(-1)


def gaussian_conv_init(net: nn.Module) -> None:
    """networks.gaussian_weights_init: Conv*/ConvTranspose* weights ~ N(0, 0.02); biases and
    Linear layers keep PyTorch's defaults (unlike components.init.init_weights)."""
    for m in net.modules():
        if type(m).__name__.startswith("Conv"):
            nn.init.normal_(m.weight, 0.0, 0.02)
