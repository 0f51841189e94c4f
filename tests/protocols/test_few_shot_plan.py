"""The few-shot evaluation follows FUNIT (PROTOCOLS.md 2.3): K in {1, 5, 10, 15, 20}; every
content image, from the source classes, into every target class; per class one draw of K images
shared by all content images; images squashed to the protocol size, as test_k_shot.py does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import protocols
from benchmark.plan import eval_tasks
from protocols.base import to_tensor
from tests.protocols.conftest import load


@pytest.fixture(scope="module")
def tasks(twin_cache):
    data = load("animal_faces", twin_cache["animal_faces"])
    return data, eval_tasks(data.protocol, data, seed=0)


def test_paper_protocol_has_funit_shot_counts():
    spec = protocols.get("animal_faces").spec()
    assert spec.shots == (1, 5, 10, 15, 20) and spec.tasks == tuple(f"k={k}" for k in spec.shots)


def test_every_content_image_goes_into_every_target_class(tasks):
    data, ts = tasks
    assert [t.task for t in ts] == ["k=1", "k=5", "k=10", "k=15", "k=20"]
    targets = sorted({it.domain for it in data.test.items})
    train_paths = {it.path for it in data.train.items}
    for t in ts:
        by_class: dict[int, list[str]] = {}
        for item, c in zip(t.inputs, t.target_class.tolist(), strict=True):
            by_class.setdefault(c, []).append(item.path)
        assert sorted(by_class) == targets
        content = by_class[targets[0]]
        n = min(data.protocol.num_test_inputs, len(data.train))
        assert len(content) == len(set(content)) == n and set(content) <= train_paths
        assert all(paths == content for paths in by_class.values())


def test_each_class_shows_the_same_k_images_to_every_content_image(tasks):
    data, ts = tasks
    for t in ts:
        k = int(t.task.split("=")[1])
        shown: dict[int, list[str]] = {}
        for rnd in t.references:  # every output round, too
            for refs, c in zip(rnd, t.target_class.tolist(), strict=True):
                paths = [r.path for r in refs]
                assert len(paths) == k and all(r.domain == c for r in refs)
                assert shown.setdefault(c, paths) == paths
    assert eval_tasks(data.protocol, data, seed=0)[2].references == ts[2].references
    assert eval_tasks(data.protocol, data, seed=1)[2].references != ts[2].references


def test_non_square_crops_are_squashed_not_cut(twin, tmp_path):
    """A 2:1 crop whose left quarter is red: squashed, the left quarter of the tensor stays red;
    centre-cropped (the other protocols), the red is cut away."""
    arr = np.zeros((64, 128, 3), np.uint8)
    arr[:, :32] = (255, 0, 0)
    arr[:, 32:] = (0, 0, 255)
    img = Image.fromarray(arr)
    # PIL bilinear, as FUNIT's test_k_shot.py Resize((128, 128)) on PIL images
    squashed, cropped = to_tensor(img, 32, "squash", "bilinear"), to_tensor(img, 32, "crop")
    assert squashed[0, :, :6].mean() > 0.9 and squashed[2, :, 10:].mean() > 0.9
    assert cropped[0].max() < -0.9
    root = twin("animal_faces")
    data = load("animal_faces", root)
    item = data.test.items[0]
    img.save(root / item.path, quality=100)
    assert torch.allclose(data.image(item), squashed, atol=0.1)
