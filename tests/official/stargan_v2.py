"""StarGAN v2's evaluation pipeline (FID and LPIPS), rebuilt from torchvision, scipy and numpy.

An independent reference for the suite's ``stargan-v2`` protocol: nothing here comes from the
suite's packages, and each step restates one fact of clovaai/stargan-v2 (master, 875b70a), cited
as file:line. Differences from the authors' code that cannot change a number are noted where
they occur (file order instead of a shuffled loader, CPU instead of CUDA).
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from scipy import linalg
from torch import nn
from torchvision import transforms

IMAGENET_MEAN = [0.485, 0.456, 0.406]  # core/data_loader.py:129
IMAGENET_STD = [0.229, 0.224, 0.225]  # core/data_loader.py:130
# metrics/lpips.py:57-59: "imagenet normalization for range [-1, 1]"
LPIPS_SHIFT = [-0.03, -0.088, -0.188]
LPIPS_SCALE = [0.458, 0.448, 0.450]
LPIPS_EPS = 1e-10  # metrics/lpips.py:16
EXTENSIONS = ("png", "jpg", "jpeg", "JPG")  # core/data_loader.py:28-29

PathsLike = str | Path | Sequence[str | Path]


# ----------------------------------------------------------------------------- images


def save_png(x: torch.Tensor, path: str | Path) -> None:
    """Save a generator output in [-1, 1] (3, H, W) as eval.py:89-93 does via core/utils.py.

    ``denormalize`` (core/utils.py:52-54) maps to [0, 1] and clamps; ``save_image``
    (core/utils.py:57-59) hands that to torchvision's ``save_image(nrow=1, padding=0)``, which
    quantises as ``mul(255).add_(0.5).clamp_(0, 255)`` then uint8 (round half up). FID later
    reads these PNGs, so FID sees quantised pixels while LPIPS (eval.py:95) sees raw floats.
    """
    out = ((x.detach() + 1) / 2).clamp_(0, 1)
    torchvision.utils.save_image(out.cpu(), str(path), nrow=1, padding=0)


def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` as DefaultDataset finds them (core/data_loader.py:27-36).

    Recursive ``rglob('*.' + ext)`` per extension, concatenated, then ``sort()``. On Linux the
    glob is case-sensitive, so ``.PNG``/``.JPEG``/``.Jpg`` files are silently skipped.
    """
    files = list(chain(*[list(Path(root).rglob("*." + ext)) for ext in EXTENSIONS]))
    files.sort()
    return files


def resolve_images(paths: PathsLike) -> list[Path]:
    """A folder (listed like DefaultDataset) or an explicit list of image files."""
    if isinstance(paths, str | Path):
        return list_images(paths)
    return [Path(p) for p in paths]


def eval_transform(img_size: int = 256, imagenet_normalize: bool = True) -> transforms.Compose:
    """``get_eval_loader``'s transform (core/data_loader.py:123-141).

    Two PIL resizes (default bilinear): first to ``img_size`` square, then to 299 square for
    Inception (a second interpolation, not a no-op, when img_size != 299); LPIPS inputs
    (``imagenet_normalize=False``, eval.py:50-53) stay at img_size and map to [-1, 1].
    """
    if imagenet_normalize:
        size, mean, std = 299, IMAGENET_MEAN, IMAGENET_STD
    else:
        size, mean, std = img_size, [0.5] * 3, [0.5] * 3
    return transforms.Compose(
        [
            transforms.Resize([img_size, img_size]),
            transforms.Resize([size, size]),
            transforms.ToTensor(),
            transforms.Normalize(mean=mean, std=std),
        ]
    )


def load_batch(files: Sequence[Path], transform: transforms.Compose) -> torch.Tensor:
    """Stack ``transform(Image.open(f).convert('RGB'))`` (core/data_loader.py:40-45)."""
    return torch.stack([transform(Image.open(f).convert("RGB")) for f in files])


# ----------------------------------------------------------------------------- FID


class InceptionPool(nn.Module):
    """metrics/fid.py:27-53: torchvision Inception-v3 called block by block, pooled to 2048.

    Calling the blocks directly skips ``Inception3.forward``, so ``transform_input`` (which
    ``inception_v3(pretrained=True)`` switches on) never runs: inputs are plain ImageNet-
    normalised tensors from ``eval_transform``.
    """

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        # inception_v3(pretrained=True) (metrics/fid.py:30) builds aux_logits=True,
        # init_weights=False, then loads the file strictly
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        self.blocks = nn.Sequential(
            net.Conv2d_1a_3x3,
            net.Conv2d_2a_3x3,
            net.Conv2d_2b_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1,
            net.Conv2d_4a_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b,
            net.Mixed_5c,
            net.Mixed_5d,
            net.Mixed_6a,
            net.Mixed_6b,
            net.Mixed_6c,
            net.Mixed_6d,
            net.Mixed_6e,
            net.Mixed_7a,
            net.Mixed_7b,
            net.Mixed_7c,
            nn.AdaptiveAvgPool2d(output_size=(1, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).flatten(1)


@torch.no_grad()
def inception_activations(
    paths: PathsLike,
    weights_path: str | Path,
    img_size: int = 256,
    batch_size: int = 50,
    net: InceptionPool | None = None,
) -> np.ndarray:
    """(N, 2048) float32 pool features of the images, as metrics/fid.py:66-75 collects them.

    Eval mode, no grad, CPU. The authors' loader shuffles (core/data_loader.py:124, 146); mean
    and covariance ignore order up to float rounding, so files are read in sorted order here.
    batch_size defaults to fid.py:63's 50 (eval.py:136 passes val_batch_size, main.py:121: 32);
    in eval mode it only changes float summation order.
    """
    net = (net if net is not None else InceptionPool(weights_path)).eval()
    files = resolve_images(paths)
    tf = eval_transform(img_size, imagenet_normalize=True)
    acts = [
        net(load_batch(files[i : i + batch_size], tf)) for i in range(0, len(files), batch_size)
    ]
    return torch.cat(acts, dim=0).numpy()


def frechet_distance(mu: np.ndarray, cov: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """metrics/fid.py:56-59: ``sqrtm(np.dot(cov, cov2), disp=False)``, real part of the sum.

    ``disp`` is deprecated since SciPy 1.16 (removed in 1.18); it only changes what is returned
    besides the root, so the call falls back to plain ``sqrtm`` where it is gone. Slow: ~20 s
    (real Schur) to ~75 s (complex) for 2048x2048 on 2 CPU cores.
    """
    product = np.dot(cov, cov2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cc, _ = linalg.sqrtm(product, disp=False)
    except TypeError:  # SciPy >= 1.18: no disp argument
        cc = linalg.sqrtm(product)
    dist = np.sum((mu - mu2) ** 2) + np.trace(cov + cov2 - 2 * cc)
    return float(np.real(dist))


def fid_from_activations(real: np.ndarray, fake: np.ndarray) -> float:
    """metrics/fid.py:69-78 after the forward: real statistics first, then fake.

    ``np.mean`` of float32 activations stays float32 (so the mean term is a float32 sum);
    ``np.cov`` promotes to float64.
    """
    stats = [(np.mean(a, axis=0), np.cov(a, rowvar=False)) for a in (real, fake)]
    return frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])


def fid_given_paths(
    real_paths: PathsLike,
    fake_paths: PathsLike,
    weights_path: str | Path,
    img_size: int = 256,
    batch_size: int = 50,
) -> float:
    """``calculate_fid_given_paths`` (metrics/fid.py:62-79) with one network for both sets.

    In eval.py:130-131 the real set is the *training* images of the target domain and the fake
    set is every generated PNG of the task (num_outs_per_domain per source image).
    """
    net = InceptionPool(weights_path)
    real = inception_activations(real_paths, weights_path, img_size, batch_size, net)
    fake = inception_activations(fake_paths, weights_path, img_size, batch_size, net)
    return fid_from_activations(real, fake)


# ----------------------------------------------------------------------------- LPIPS


def lpips_linear_weights() -> list[torch.Tensor]:
    """The lpips package's v0.1 AlexNet 1x1 weights, (1, C, 1, 1) for C = 64, 192, 384, 256, 256.

    StarGAN v2 ships its own metrics/lpips_weights.ckpt (loaded at metrics/lpips.py:61-70, keys
    ``lpips_weights.{i}.main.1.weight``); it was compared to ``lpips/weights/v0.1/alex.pth``
    (keys ``lin{i}.model.1.weight``) for this module: all five tensors are bit-identical.
    """
    ref = importlib.resources.files("lpips") / "weights" / "v0.1" / "alex.pth"
    with importlib.resources.as_file(ref) as path:
        state = torch.load(path, map_location="cpu", weights_only=True)
    return [state[f"lin{i}.model.1.weight"] for i in range(5)]


class StarGanLpips(nn.Module):
    """metrics/lpips.py:49-82 rebuilt: torchvision AlexNet features + lpips v0.1 linear weights.

    Not ``lpips.LPIPS``: that normalises as ``x / (sqrt(sum x^2) + eps)`` while StarGAN v2 uses
    ``x * rsqrt(sum x^2 + eps)`` (lpips.py:16-17), and it averages per image where StarGAN v2
    takes one ``torch.mean`` over batch and space per layer (lpips.py:81). The Dropout before
    each 1x1 conv (lpips.py:41-43) is inactive in eval mode (lpips.py:89), so it is omitted.
    """

    def __init__(self, alexnet_weights_path: str | Path) -> None:
        super().__init__()
        alexnet = torchvision.models.alexnet(weights=None)
        state = torch.load(alexnet_weights_path, map_location="cpu", weights_only=True)
        alexnet.load_state_dict(state)
        self.features = alexnet.features  # metrics/lpips.py:23
        for i, w in enumerate(lpips_linear_weights()):
            self.register_buffer(f"lin{i}", w)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))

    def fmaps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every ReLU output of ``alexnet.features`` (metrics/lpips.py:29-35): 5 maps.

        The ReLUs are in-place but each is followed by a pool or conv, so no map is overwritten.
        """
        maps = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                maps.append(x)
        return maps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scalar distance of two (N, 3, H, W) batches in [-1, 1], unclamped (lpips.py:72-82)."""
        fx = self.fmaps((x - self.shift) / self.scale)
        fy = self.fmaps((y - self.shift) / self.scale)
        total = torch.zeros((), dtype=x.dtype)
        for i, (a, b) in enumerate(zip(fx, fy)):
            a = a * torch.rsqrt(torch.sum(a**2, dim=1, keepdim=True) + LPIPS_EPS)
            b = b * torch.rsqrt(torch.sum(b**2, dim=1, keepdim=True) + LPIPS_EPS)
            total = total + torch.mean(nn.functional.conv2d((a - b) ** 2, getattr(self, f"lin{i}")))
        return total


@torch.no_grad()
def _batch_mean(group_of_images: Sequence[torch.Tensor], lpips: StarGanLpips) -> float:
    values = [
        lpips(group_of_images[i], group_of_images[j])
        for i in range(len(group_of_images) - 1)
        for j in range(i + 1, len(group_of_images))
    ]
    return torch.mean(torch.stack(values, dim=0)).item()


def lpips_batch_mean(
    group_of_images: Sequence[torch.Tensor],
    alexnet_weights_path: str | Path,
    net: StarGanLpips | None = None,
) -> float:
    """``calculate_lpips_given_images`` (metrics/lpips.py:85-98): mean over pairs i < j.

    ``group_of_images`` holds the K outputs (eval.py:70: num_outs_per_domain, 10) generated for
    one input batch, each (N, 3, H, W) in [-1, 1]; each pair's value is already a mean over the N
    inputs, so this is the mean over pairs and inputs of one batch. The authors rebuild the net
    per batch (lpips.py:89); pass ``net`` to reuse one (same numbers, no file reload).
    """
    return _batch_mean(
        group_of_images, (net if net is not None else StarGanLpips(alexnet_weights_path)).eval()
    )


def lpips_eval(
    groups_per_batch: Sequence[Sequence[torch.Tensor]], alexnet_weights_path: str | Path
) -> float:
    """One task's LPIPS (eval.py:60-99): a batch mean per input batch, then ``np.mean``.

    Every batch weighs the same, so the short last batch of a loader without drop_last
    (eval.py:50-53) counts as much as a full one: not the mean over inputs.
    """
    lpips = StarGanLpips(alexnet_weights_path).eval()
    values = [_batch_mean(group, lpips) for group in groups_per_batch]
    return float(np.array(values).mean())
