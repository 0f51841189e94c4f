"""The ``inception-v3-torchvision`` extractor (StarGAN v2's FID network) against StarGAN v2's own
evaluation pipeline rebuilt from torchvision: ``core/data_loader.py get_eval_loader`` feeds
``Resize([256, 256])``, ``Resize([299, 299])`` (PIL bilinear), ``ToTensor`` and ImageNet
mean/std into ``metrics/fid.py``'s InceptionV3, which runs torchvision's blocks without
``transform_input`` and pools after Mixed_7c. Weights are random (a file of the right shapes made
here): the released file cannot be downloaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms

import benchmark.features as features

SIZE = 256  # AFHQ's protocol size: StarGAN v2's first Resize is then a no-op
# both resize with PIL on 8-bit pixels now (it was a float resize: 1.3e-3 relative); what is
# left is float summation order
TOL = 1e-6


@pytest.fixture(scope="module")
def net_and_file(tmp_path_factory):
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True)
    folder = tmp_path_factory.mktemp("weights")
    torch.save(net.state_dict(), folder / features.INCEPTION_TORCHVISION_FILE)
    net.transform_input = False  # StarGAN v2 calls the blocks; torchvision's own step is skipped
    return net.eval(), folder


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Smooth uint8 images (upsampled noise): resampling differences stay sub-quantum."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (3, 3, 16, 16)).astype(np.float32)
    up = torch.nn.functional.interpolate(torch.from_numpy(small), size=SIZE, mode="bicubic")
    return up.clamp(0, 255).round().to(torch.uint8)


def _stargan_v2_features(net, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pool, logits) through torchvision transforms on PIL images and torchvision's forward."""
    tf = transforms.Compose(
        [
            transforms.Resize([SIZE, SIZE]),
            transforms.Resize([299, 299]),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    batch = torch.stack([tf(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in images])
    fc, net.fc = net.fc, torch.nn.Identity()
    try:
        with torch.no_grad():
            pool = net(batch)  # eval: dropout is a no-op, the output is the 2048-d pool
            logits = fc(pool)
    finally:
        net.fc = fc
    return pool, logits


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_features_match_stargan_v2s_pipeline(net_and_file, images):
    net, folder = net_and_file
    ex = features.build_standard(features.INCEPTION_TORCHVISION, folder, torch.device("cpu"))
    got = ex.forward(images, ["2048", "logits"])
    pool, logits = _stargan_v2_features(net, images)
    assert got["2048"].shape == (3, 2048) and got["logits"].shape == (3, 1000)
    # random weights blow features up (~2e10) but they stay finite and differ between images by
    # far more than TOL (measured 0.064 relative for pool and logits), so the bound means something
    assert torch.isfinite(pool).all() and torch.isfinite(logits).all()
    assert _rel_err(pool.roll(1, 0), pool) > 5 * TOL
    assert _rel_err(logits.roll(1, 0), logits) > 5 * TOL
    assert _rel_err(got["2048"], pool) < TOL
    assert _rel_err(got["logits"], logits) < TOL
    assert ex.weights_sha256 == features.weights_sha256(
        folder / features.INCEPTION_TORCHVISION_FILE
    )
    assert ex.layers == {"fid": "2048", "isc": "logits"}


def test_a_wrong_normalisation_is_far_outside_that_tolerance(net_and_file, images):
    """The bound above can fail: feeding [-1, 1] pixels instead of ImageNet mean/std."""
    net, folder = net_and_file
    pool, _ = _stargan_v2_features(net, images)
    x = images.float() / 127.5 - 1
    x = torch.nn.functional.interpolate(x, size=299, mode="bilinear", antialias=True)
    fc, net.fc = net.fc, torch.nn.Identity()
    try:
        with torch.no_grad():
            wrong = net(x)
    finally:
        net.fc = fc
    assert _rel_err(wrong, pool) > 0.1  # measured 0.58
