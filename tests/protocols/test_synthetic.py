"""Synthetic twins: deterministic, in the real layout, with ground truth that matches pixels."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

import protocols
from protocols.synth import outline, shape_mask
from tests.protocols.conftest import load


def _digest(root) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", protocols.names())
def test_twin_is_deterministic_and_seed_dependent(name, tmp_path, twin_cache):
    again = protocols.get(name).synthesize(tmp_path / "a", size=32, seed=0)
    other = protocols.get(name).synthesize(tmp_path / "b", size=32, seed=1)
    assert _digest(again) == _digest(twin_cache[name])
    assert _digest(other) != _digest(twin_cache[name])


@pytest.mark.parametrize("name", protocols.names())
def test_every_image_has_ground_truth(name, twin_cache):
    data = load(name, twin_cache[name])
    assert data.synthetic
    for split in (data.train, data.test):
        assert len(split) > 0
        for item in split.items:
            assert item.factors is not None, item.path
            assert set(item.factors) == {"content", "style"}


def test_edges2shoes_pairs_share_the_shape(twin_cache):
    """The edge map (A) is the outline of the shape painted in the photo (B)."""
    root = twin_cache["edges2shoes"]
    side = json.loads((root / "synthetic.json").read_text())
    rel, f = next(iter(side["factors"].items()))
    img = np.asarray(Image.open(root / rel).convert("L"), dtype=np.float32)
    a, b = img[:, :32], img[:, 32:]
    mask = shape_mask(f["content"], 32)
    edges = outline(mask)
    assert a[edges].mean() < 80 and a[~mask].mean() > 230  # dark lines on white
    assert b[mask].mean() < b[~mask].mean() - 40  # the painted shape where the mask says


def test_afhq_domains_differ_in_style_not_content(twin_cache):
    data = load("afhq", twin_cache["afhq"])
    by_dom = {}
    for it in data.train.items:
        by_dom.setdefault(it.domain, []).append(it.factors)
    textures = {d: {f["style"]["domain"] for f in fs} for d, fs in by_dom.items()}
    assert textures == {0: {"cat"}, 1: {"dog"}, 2: {"wild"}}
    shapes = [{f["content"]["shape"] for f in fs} for fs in by_dom.values()]
    assert all(s == shapes[0] for s in shapes)  # every pose family appears in every domain


def test_celeba_attributes_are_rendered(twin_cache):
    """Rendered attributes change pixels: glasses darken the eye region."""
    data = load("celeba_attributes", twin_cache["celeba_attributes"])
    j = data.protocol.attributes.index("Eyeglasses")
    imgs = data.images(data.train.items)
    has = np.array([it.attrs[j] for it in data.train.items], dtype=bool)
    eye_band = imgs[:, :, 8:16, :].mean(dim=(1, 2, 3)).numpy()
    assert eye_band[has].mean() < eye_band[~has].mean()


def test_few_shot_target_classes_never_in_training(twin_cache):
    data = load("animal_faces", twin_cache["animal_faces"])
    train_classes = {it.domain for it in data.train.items}
    test_classes = {it.domain for it in data.test.items}
    assert train_classes and test_classes and not (train_classes & test_classes)
    names = {data.class_names[c] for c in test_classes}
    assert names == set(data.protocol.domains)


def test_synth_cli_writes_loadable_layout(tmp_path):
    from benchmark.cli import main

    assert main(["data", "synth", "afhq", "--out", str(tmp_path / "afhq"), "--size", "32"]) == 0
    assert main(["data", "check", "afhq", str(tmp_path / "afhq")]) == 0
    assert (tmp_path / "afhq" / "train" / "cat").is_dir()
