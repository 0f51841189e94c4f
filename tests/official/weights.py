"""Seeded stand-ins for the torchvision weights files StarGAN v2's metrics load.

The released ImageNet weights cannot be downloaded here, and default-initialised networks are a
poor test bed: their BN layers hold running mean 0 / var 1, so activations drift by orders of
magnitude through Inception and features barely differ between images. These builders write
files of the exact torchvision names and key sets whose networks give O(1), image-dependent
features, so a reference pipeline and the suite can be compared on numbers that mean something.
Nothing is cached here: callers cache one file per test session.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

# torchvision models/inception.py Inception_V3_Weights.IMAGENET1K_V1 (metrics/fid.py:30 builds
# inception_v3(pretrained=True), i.e. this file)
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
# torchvision models/alexnet.py AlexNet_Weights.IMAGENET1K_V1 (metrics/lpips.py:23)
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LOGIT_SPREAD = 3.0  # target std of a logit across calibration images
CALIBRATION_IMAGES = 8  # two of each kind; ~0.1 s each through Inception on 2 CPU cores


def _he_normal_(module: nn.Module, generator: torch.Generator) -> None:
    """He-normal (fan_in, ReLU gain) weights and zero biases for every conv/linear layer."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                if m.bias is not None:
                    m.bias.zero_()


def calibration_images(n: int = 8, size: int = 299, seed: int = 0) -> torch.Tensor:
    """Varied [0, 1] RGB images (n, 3, size, size): gradients, shapes, noise, mixtures.

    Varied content gives BN statistics that neither a flat nor a pure-noise set would.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        kind = i % 4
        if kind == 0:  # linear colour gradient in a random direction
            a = rng.uniform(0, 2 * np.pi)
            t = np.cos(a) * xx + np.sin(a) * yy
            t = (t - t.min()) / (np.ptp(t) + 1e-6)
            c0, c1 = rng.uniform(0, 1, (2, 3, 1, 1))
            img = c0 + (c1 - c0) * t[None]
        elif kind == 1:  # random rectangles and discs on a flat background
            img = np.broadcast_to(rng.uniform(0, 1, (3, 1, 1)), (3, size, size)).copy()
            for _ in range(6):
                col = rng.uniform(0, 1, (3, 1))
                cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.3)
                if rng.random() < 0.5:
                    mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
                else:
                    mask = (abs(xx - cx) < r) & (abs(yy - cy) < r * rng.uniform(0.3, 1.0))
                img[:, mask] = col
        elif kind == 2:  # white noise
            img = rng.uniform(0, 1, (3, size, size))
        else:  # smooth blobs: upsampled coarse noise plus a sinusoid
            coarse = torch.from_numpy(rng.uniform(0, 1, (1, 3, 6, 6)).astype(np.float32))
            up = nn.functional.interpolate(coarse, size=size, mode="bicubic", align_corners=False)
            f = rng.uniform(2, 12)
            img = up[0].numpy() + 0.2 * np.sin(2 * np.pi * f * (xx + yy))[None]
        out[i] = np.clip(img, 0, 1)
    return torch.from_numpy(out)


def _imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _calibrate_bn_hooks(net: nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    """Hooks that set each BasicConv2d's BN running stats from its conv output, just before use.

    torchvision's BasicConv2d runs conv -> bn -> relu, so a forward hook on the conv sees exactly
    the batch the BN is about to normalise: one eval-mode pass calibrates every layer in order,
    each from inputs its (already calibrated) predecessors produced.
    """

    def hook(bn: nn.BatchNorm2d):
        def set_stats(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            bn.running_mean.copy_(out.mean(dim=(0, 2, 3)))
            bn.running_var.copy_(out.var(dim=(0, 2, 3), unbiased=False))
            bn.weight.data.fill_(1.0)
            bn.bias.data.zero_()

        return set_stats

    handles = []
    for m in net.modules():
        if hasattr(m, "conv") and isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
            handles.append(m.conv.register_forward_hook(hook(m.bn)))
    return handles


def torchvision_inception_file(folder: Path, seed: int = 0) -> Path:
    """Write a calibrated random ``inception_v3_google-0cc3c7bd.pth`` into ``folder``.

    Keys match ``inception_v3(weights=None, aux_logits=True, init_weights=False)`` (AuxLogits
    included), so a strict ``load_state_dict`` works. Calibration runs the blocks in the order
    StarGAN v2's wrapper does (metrics/fid.py:31-46), so ``transform_input`` never runs.
    """
    gen = torch.Generator().manual_seed(seed)
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    _he_normal_(net, gen)
    net.eval()
    x = _imagenet_normalize(calibration_images(CALIBRATION_IMAGES, 299, seed))
    handles = _calibrate_bn_hooks(net)
    with torch.no_grad():
        x = net.Conv2d_1a_3x3(x)
        x = net.Conv2d_2a_3x3(x)
        x = net.Conv2d_2b_3x3(x)
        x = nn.functional.max_pool2d(x, kernel_size=3, stride=2)
        x = net.Conv2d_3b_1x1(x)
        x = net.Conv2d_4a_3x3(x)
        x = nn.functional.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a"):
            x = getattr(net, name)(x)
        for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(net, name)(x)
        aux = net.AuxLogits(x)  # calibrates the aux head's BNs too
        for name in ("Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(net, name)(x)
        pool = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        for fc, logits in ((net.fc, net.fc(pool)), (net.AuxLogits.fc, aux)):
            # biases are zero, so logits scale with the weights; then centre them on the set
            gain = LOGIT_SPREAD / float(logits.std(dim=0).mean())
            fc.weight.mul_(gain)
            fc.bias.copy_(-gain * logits.mean(dim=0))
    for h in handles:
        h.remove()
    path = Path(folder) / INCEPTION_FILE
    torch.save(net.state_dict(), path)
    return path


def alexnet_file(folder: Path, seed: int = 0) -> Path:
    """Write a He-normal random ``alexnet-owt-7be5be79.pth`` (torchvision alexnet keys).

    LPIPS normalises every feature vector to unit length, so scale does not matter; He scaling
    only keeps activations finite while the random filters still separate different images.
    """
    gen = torch.Generator().manual_seed(seed)
    net = torchvision.models.alexnet(weights=None)
    _he_normal_(net, gen)
    path = Path(folder) / ALEXNET_FILE
    torch.save(net.state_dict(), path)
    return path
