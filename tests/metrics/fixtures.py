"""A tiny in-memory protocol (no files) so metric tests never depend on the dataset code."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from PIL import Image

from benchmark import features, metrics
from benchmark.classifier import train_or_load
from benchmark.samples import TaskSamples
from protocols.base import Item, Protocol, ProtocolData, Split

SIZE = 16
SHAPES = ("circle", "square", "triangle", "diamond")


def render(item: Item) -> Image.Image:
    """Domain = colour of a square (style); its position and size are the content."""
    c = item.factors["content"]
    img = np.full((SIZE, SIZE, 3), 230, np.uint8)
    colour = [(220, 40, 40), (40, 200, 40), (40, 40, 220)][item.domain]
    half = max(1, int(c["r"] * SIZE))
    x, y = int(c["cx"] * SIZE), int(c["cy"] * SIZE)
    img[max(0, y - half) : y + half, max(0, x - half) : x + half] = colour
    return Image.fromarray(img)


def make_items(n: int, domains: int, seed: int) -> list[Item]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        content = {
            "shape": "square",
            "cx": float(rng.uniform(0.3, 0.7)),
            "cy": float(rng.uniform(0.3, 0.7)),
            "r": float(rng.uniform(0.15, 0.3)),
            "angle": 0.0,
        }
        items.append(Item(f"{seed}/{i}.png", i % domains, factors={"content": content}))
    return items


def tiny_protocol(metrics: tuple[str, ...], **params) -> Protocol:
    base = {"classifier_steps": 25, "extractors": (), "diversity_pairs": "all"}
    base.update(params)
    return Protocol(
        name="tiny",
        version=1,
        kind="multi_domain",
        dataset="tiny",
        train_split="t",
        test_split="v",
        image_size=SIZE,
        domains=("r", "g", "b"),
        tasks=("r2g", "r2b"),
        num_test_inputs=6,
        outputs_per_input=3,
        metrics=metrics,
        params=tuple(sorted(base.items())),
    )


def tiny_data(protocol: Protocol) -> ProtocolData:
    return ProtocolData(
        protocol=protocol,
        root=Path("/nonexistent"),
        train=Split("train", make_items(60, 3, 1)),
        test=Split("test", make_items(24, 3, 2)),
        class_names=["r", "g", "b"],
        fingerprint="tiny-fp-1",
        synthetic=True,
        loader=lambda p, it: render(it),
    )


def samples(
    data: ProtocolData,
    seed: int = 0,
    k: int = 3,
    noise: float = 0.3,
    tasks=(("r2g", 1), ("r2b", 2)),
) -> list[TaskSamples]:
    """Outputs = the real image of the target domain with the input's content, plus noise."""
    g = torch.Generator().manual_seed(seed)
    test = data.test.items
    inputs_items = [it for it in test if it.domain == 0][:6]
    out = []
    for task, d in tasks:
        inputs = data.images(inputs_items)
        moved = [Item(it.path + f"-{d}", d, factors=it.factors) for it in inputs_items]
        clean = data.images(moved)
        outputs = clean[:, None] + noise * torch.randn(len(clean), k, 3, SIZE, SIZE, generator=g)
        reals = data.images([it for it in data.train.items if it.domain == d])
        out.append(
            TaskSamples(
                task=task,
                mode="latent",
                inputs=inputs,
                outputs=outputs.clamp(-1, 1),
                target_class=torch.full((len(inputs),), d, dtype=torch.long),
                real_target=reals,
                real_target_name=f"tiny:train:{d}",
                input_factors=[it.factors for it in inputs_items],
            )
        )
    return out


# Seeded weights for torch-fidelity's Inception: its default init shrinks activations layer by
# layer (2048-d features ~3e-8, FID 3e-14, KID 0, IS 1.000), so tests comparing with
# torch-fidelity compared zero with zero. Measured with these weights on full-range noise and
# smooth images (the tests' CLI and benchmark sets): mean |2048-d feature| 0.36-0.46, FID 76-127,
# KID 0.07-0.14, IS 1.28-1.47. Calibrated for full-range images: low-contrast or dark sets drive
# the features up ~20x and the logits into saturation (IS back to 1).
INCEPTION_SEED = 0
LOGIT_SPREAD = 4.0  # std of one logit across the calibration images: IS clearly above 1


def _calibration_images(g: torch.Generator, size: int = 32) -> torch.Tensor:
    """uint8 value noise from coarse (2 px grid, upsampled) to per-pixel: batch-norm statistics
    taken on them keep both the smooth and the pixel-noise images of the tests at O(1)."""
    grids = [torch.rand(1, 3, n, n, generator=g) for n in (2, 4, 8)]
    smooth = [F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in grids]
    batch = torch.cat([*smooth, torch.rand(1, 3, size, size, generator=g)])
    return (batch * 255).round().to(torch.uint8)


@functools.cache
def _random_inception_state() -> dict[str, torch.Tensor]:
    """He-normal convs; each batch norm's running mean/var set to its conv's output statistics
    on the calibration images (a hook on the conv, so deeper layers see normalised inputs in the
    same forward); fc scaled to ``LOGIT_SPREAD``. Cached: 1-7 s on 2 CPU cores, by load."""
    orig = tf_inception.FeatureExtractorInceptionV3.load_state_dict
    tf_inception.FeatureExtractorInceptionV3.load_state_dict = lambda self, sd, *a, **k: None
    real_url = tf_inception.load_state_dict_from_url
    tf_inception.load_state_dict_from_url = lambda *a, **k: {}
    try:
        fe = tf_inception.FeatureExtractorInceptionV3("x", ["2048"])
    finally:
        tf_inception.FeatureExtractorInceptionV3.load_state_dict = orig
        tf_inception.load_state_dict_from_url = real_url
    g = torch.Generator().manual_seed(INCEPTION_SEED)
    bn_of: dict[torch.nn.Module, torch.nn.BatchNorm2d] = {}

    def calibrate(conv: torch.nn.Module, inp: tuple, out: torch.Tensor) -> None:
        var, mean = torch.var_mean(out, dim=(0, 2, 3), correction=0)
        bn_of[conv].running_mean.copy_(mean)
        bn_of[conv].running_var.copy_(var)

    hooks = []
    with torch.no_grad():
        for block in fe.modules():
            if isinstance(block, tf_inception.BasicConv2d):
                w = block.conv.weight
                w.copy_(torch.randn(w.shape, generator=g) * math.sqrt(2 / w[0].numel()))
                bn_of[block.conv] = block.bn
                hooks.append(block.conv.register_forward_hook(calibrate))
        (pool,) = fe(_calibration_images(g))
        for h in hooks:
            h.remove()
        w = torch.randn(fe.fc.weight.shape, generator=g)
        spread = ((pool - pool.mean(0)) @ w.T).std(0).mean()
        fe.fc.weight.copy_(w * (LOGIT_SPREAD / spread))
        fe.fc.bias.zero_()
    return fe.state_dict()


def random_inception_file(path: Path) -> None:
    """torch-fidelity's Inception file layout with seeded weights whose features differ between
    images (its constructor needs a state dict, so the bare module is built with loading off)."""
    torch.save(_random_inception_state(), path / features.INCEPTION_COMPAT_FILE)


def prepare(protocol, data, device, cache, weights_dir=None) -> metrics.MetricContext:
    """metrics.prepare with the tiny protocol's classifier trained (or reused) in ``cache``:
    tiny protocols have no pinned instrument, as a run with --train-classifiers."""
    clf = train_or_load(protocol, data, torch.device(device), Path(cache))
    return metrics.prepare(protocol, data, device, cache, weights_dir, classifier=clf)
