"""The afhq protocol against StarGAN v2's own evaluation pipeline, rebuilt from primitives in
tests/official/ (PIL, torchvision, numpy, scipy; no suite code): the same images and weights
give the same numbers to 1e-6 relative. Weights are seeded but calibrated, so features and
distances differ between images (checked before comparing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import benchmark.features as features
import protocols
from benchmark.features import INCEPTION_TORCHVISION, FeatureStore, build_standard
from benchmark.metrics import MetricContext
from benchmark.metrics.fidelity import fid_family, fid_stargan_v2
from benchmark.metrics.lpips_div import diversity_family
from benchmark.samples import TaskSamples
from protocols.base import to_tensor
from tests.official import stargan_v2 as official
from tests.official.weights import alexnet_file, torchvision_inception_file

REL = 1e-6
SOURCE, SIZE = 512, 256  # AFHQ's files and its protocol size


def _smooth(n: int, seed: int, size: int) -> np.ndarray:
    """uint8 (n, size, size, 3): upsampled noise, full range, different per image."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, 6, 6, generator=g) * 255
    up = torch.nn.functional.interpolate(small, size=size, mode="bicubic", align_corners=False)
    return up.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    torchvision_inception_file(folder)
    alexnet_file(folder)
    return folder


@pytest.fixture(scope="module")
def afhq():
    return protocols.get("afhq").spec()


@pytest.fixture(scope="module")
def real_files(tmp_path_factory) -> list[Path]:
    """Training images of a target domain as AFHQ v1 ships them: 512 px JPEGs."""
    folder = tmp_path_factory.mktemp("train_dog")
    paths = []
    for i, arr in enumerate(_smooth(10, 0, SOURCE)):
        paths.append(folder / f"flickr_dog_{i:06d}.jpg")
        Image.fromarray(arr).save(paths[-1], quality=95)
    return paths


@pytest.fixture(scope="module")
def fakes() -> torch.Tensor:
    """Raw generator outputs: floats a little beyond [-1, 1] (clamped only when saved)."""
    x = torch.from_numpy(_smooth(10, 1, SIZE)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x * 1.1 + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))


def _suite_features(weights, afhq, real_files, fakes, tmp_path):
    """Real images loaded as the afhq protocol loads them, fakes as sampled: through the suite's
    feature store and torchvision-Inception extractor."""
    real = torch.stack(
        [
            to_tensor(
                Image.open(p), SIZE, afhq.param("resize", "crop"), afhq.param("resize_filter")
            )
            for p in real_files
        ]
    )
    ex = build_standard(INCEPTION_TORCHVISION, weights, torch.device("cpu"))
    store = FeatureStore(tmp_path)
    return store.get(ex, fakes, "fake")["2048"], store.get(ex, real, "real")["2048"], ex


def _official_features(weights, real_files, fakes, tmp_path):
    for i, x in enumerate(fakes):
        official.save_png(x, tmp_path / f"{i + 1:04d}_01.png")
    net = official.InceptionPool(weights / features.INCEPTION_TORCHVISION_FILE)
    path = weights / features.INCEPTION_TORCHVISION_FILE
    real = official.inception_activations(real_files, path, SIZE, net=net)
    fake = official.inception_activations(tmp_path, path, SIZE, net=net)
    return torch.from_numpy(fake), torch.from_numpy(real)


def test_inception_features_equal_stargan_v2s_on_the_same_files(
    weights, afhq, real_files, fakes, tmp_path
):
    """512 px JPEG -> PIL bilinear 256 -> PIL bilinear 299 for reals; raw outputs -> rounded
    PNG -> PIL bilinear 299 for fakes; ImageNet mean/std; Mixed_7c pool."""
    fake, real, _ = _suite_features(weights, afhq, real_files, fakes, tmp_path / "suite")
    o_fake, o_real = _official_features(weights, real_files, fakes, tmp_path)
    assert real.abs().mean() > 0.05 and torch.cdist(real, real).triu(1).max() > 1.0
    assert (o_fake - o_real).norm() > 10 * REL * o_real.norm()
    for ours, theirs in ((fake, o_fake), (real, o_real)):
        assert float((ours - theirs).norm() / theirs.norm()) < REL


def test_fid_formula_equals_stargan_v2s(weights, afhq, real_files, fakes, tmp_path):
    """metrics/fid.py's statistics and sqrtm on the same activations (a 256-d slice keeps
    scipy's sqrtm to a second; the full 2048-d run is the slow test below)."""
    fake, real, _ = _suite_features(weights, afhq, real_files, fakes, tmp_path)
    fake, real = fake[:, :256], real[:, :256]
    theirs = official.fid_from_activations(real.numpy(), fake.numpy())
    assert theirs > 1.0
    assert fid_stargan_v2(fake, real) == pytest.approx(theirs, rel=REL)


def _ctx(protocol, weights, cache, extractors=()) -> MetricContext:
    return MetricContext(
        protocol,
        None,
        torch.device("cpu"),
        cache,
        weights,
        0,
        None,
        list(extractors),
        {},
        FeatureStore(cache),
    )


def _samples(outputs: torch.Tensor, real: torch.Tensor) -> TaskSamples:
    n = outputs.shape[0]
    return TaskSamples(
        task="cat2dog",
        mode="latent",
        inputs=outputs[:, 0].clamp(-1, 1),
        outputs=outputs,
        target_class=torch.ones(n, dtype=torch.long),
        real_target=real,
        real_target_name="afhq:train:dog",
    )


@pytest.mark.slow
def test_afhq_fid_equals_stargan_v2s_fid_given_paths(weights, afhq, real_files, fakes, tmp_path):
    """End to end on full 2048-d features: the suite's fid family with the afhq protocol vs
    ``calculate_fid_given_paths`` on the files (scipy's sqrtm of 2048 x 2048: minutes here)."""
    real = torch.stack([to_tensor(Image.open(p), SIZE, "crop", "bilinear") for p in real_files])
    ex = build_standard(INCEPTION_TORCHVISION, weights, torch.device("cpu"))
    (value,) = fid_family(
        _ctx(afhq, weights, tmp_path / "c", [ex]), [_samples(fakes[:, None], real)], "latent"
    )
    for i, x in enumerate(fakes):
        official.save_png(x, tmp_path / f"{i + 1:04d}_01.png")
    path = weights / features.INCEPTION_TORCHVISION_FILE
    theirs = official.fid_given_paths(real_files, tmp_path, path, SIZE)
    assert value.provenance["fid_formula"] == "stargan-v2"
    assert value.value == pytest.approx(theirs, rel=REL)


def test_afhq_lpips_equals_stargan_v2s_eval_on_raw_outputs_by_batch(weights, afhq, tmp_path):
    """eval.py: 10 outputs per input, all 45 pairs, a mean per input batch, then the plain mean
    over batches (8 inputs in batches of 3: the short last batch weighs as a full one), on the
    generator's raw outputs (some beyond [-1, 1])."""
    g = torch.Generator().manual_seed(3)
    n, k, size = 8, 10, 64
    content = torch.rand(n, 1, 3, size, size, generator=g) * 2 - 1
    style = torch.rand(n, k, 3, 1, 1, generator=g) * 1.4 - 0.7
    outputs = content * 0.8 + style + 0.05 * torch.randn(n, k, 3, size, size, generator=g)
    assert outputs.abs().max() > 1.2  # the clamp matters here
    protocol = afhq.replace(
        params=tuple((k_, 3 if k_ == "lpips_batch" else v) for k_, v in afhq.params)
    )
    values = diversity_family(
        _ctx(protocol, weights, tmp_path), [_samples(outputs, outputs[:, 0])], "latent"
    )
    ours = next(v for v in values if v.metric == "lpips_diversity")
    batches = [list(outputs[lo : lo + 3].unbind(1)) for lo in range(0, n, 3)]
    theirs = official.lpips_eval(batches, weights / features.ALEXNET_FILE)
    per_input = official.lpips_eval(
        [list(outputs[i : i + 1].unbind(1)) for i in range(n)], weights / features.ALEXNET_FILE
    )
    assert theirs > 0.05 and abs(theirs - per_input) > 100 * REL * theirs  # aggregation matters
    assert ours.provenance["outputs"] == "raw"
    assert ours.value == pytest.approx(theirs, rel=REL)
