"""A tiny in-memory protocol (no files) so metric tests never depend on the dataset code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from PIL import Image

from benchmark import features
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


def random_inception_file(path: Path) -> None:
    """torch-fidelity's Inception with random weights (its constructor needs a state dict)."""
    orig = tf_inception.FeatureExtractorInceptionV3.load_state_dict
    tf_inception.FeatureExtractorInceptionV3.load_state_dict = lambda self, sd, *a, **k: None
    real_url = tf_inception.load_state_dict_from_url
    tf_inception.load_state_dict_from_url = lambda *a, **k: {}
    try:
        torch.manual_seed(0)
        fe = tf_inception.FeatureExtractorInceptionV3("x", ["2048"])
    finally:
        tf_inception.FeatureExtractorInceptionV3.load_state_dict = orig
        tf_inception.load_state_dict_from_url = real_url
    torch.save(fe.state_dict(), path / features.INCEPTION_COMPAT_FILE)
