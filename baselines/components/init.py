"""Weight initialisation schemes the papers' code uses, by name."""

from __future__ import annotations

from torch import nn


def init_weights(net: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """``normal``/``xavier``/``kaiming``/``orthogonal`` for conv and linear weights, zero bias;
    BatchNorm weight ~ N(1, gain) (as the pix2pix/CycleGAN code initialises them)."""

    def apply(m: nn.Module) -> None:
        cls = m.__class__.__name__
        if hasattr(m, "weight") and m.weight is not None and ("Conv" in cls or "Linear" in cls):
            if kind == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif kind == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f"unknown init {kind!r}")
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif "BatchNorm2d" in cls and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(apply)
    return net
