"""The edges2shoes diversity against BicycleGAN's own route, rebuilt from primitives (numpy, PIL,
the lpips package): test.py saves each output through util/util.py ``tensor2im`` (``(x+1)/2*255``
on the float32 array, truncated by ``astype(uint8)``), PerceptualSimilarity's
``lpips_1dir_allpairs.py -v 0.0`` reads each folder back (``load_image``, ``im2tensor``:
``/127.5 - 1``) and averages LPIPS v0.0 over consecutive pairs; the README averages over all
inputs' pairs. The files are read with PIL here (the script uses cv2: the same RGB bytes for a
PNG). Equal to 1e-6 relative."""

from __future__ import annotations

from pathlib import Path

import lpips
import numpy as np
import pytest
import torch
from PIL import Image

import benchmark.features as features
import protocols
from benchmark.features import FeatureStore
from benchmark.metrics import MetricContext
from benchmark.metrics.lpips_div import diversity_family
from benchmark.samples import TaskSamples
from tests.official.weights import alexnet_file

REL = 1e-6
N, K, SIZE = 4, 20, 32


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    alexnet_file(folder)
    return folder


def _tensor2im(x: torch.Tensor) -> np.ndarray:
    """util/util.py tensor2im on one (3, H, W) output: float32 numpy, no clamp, truncation."""
    image = x.cpu().float().numpy()
    return ((np.transpose(image, (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)


def _official(outputs: torch.Tensor, weights: Path, folder: Path) -> float:
    net = lpips.LPIPS(net="alex", version="0.0", pnet_rand=True, verbose=False)
    state = torch.load(weights / features.ALEXNET_FILE, weights_only=True)
    net.net.load_state_dict(
        {k: state[f"features.{k.split('.', 1)[1]}"] for k in net.net.state_dict()}
    )
    net.eval()
    dists = []
    for i in range(N):
        files = []
        for j in range(K):
            files.append(folder / f"input_{i:03d}_random_sample{j + 1:02d}.png")
            Image.fromarray(_tensor2im(outputs[i, j])).save(files[-1])
        ims = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        ts = [
            torch.Tensor((im / 127.5 - 1.0)[:, :, :, np.newaxis].transpose((3, 2, 0, 1)))
            for im in ims
        ]
        with torch.no_grad():
            dists += [float(net(ts[j], ts[j + 1])) for j in range(K - 1)]
    return float(np.mean(dists))


def _suite(protocol, outputs: torch.Tensor, weights: Path, cache: Path) -> float:
    ctx = MetricContext(
        protocol, None, torch.device("cpu"), cache, weights, 0, None, [], {}, FeatureStore(cache)
    )
    s = TaskSamples(
        task="edges2shoes",
        mode="latent",
        inputs=outputs[:, 0],
        outputs=outputs,
        target_class=torch.ones(N, dtype=torch.long),
        real_target=outputs[:, 0],
        real_target_name="edges2shoes:val:B",
    )
    values = diversity_family(ctx, [s], "")
    return next(v for v in values if v.metric == "lpips_diversity").value


def test_edges2shoes_lpips_equals_bicyclegans_saved_images_route(weights, tmp_path):
    g = torch.Generator().manual_seed(0)
    content = torch.rand(N, 1, 3, SIZE, SIZE, generator=g) * 1.6 - 0.8
    style = torch.rand(N, K, 3, 1, 1, generator=g) * 0.4 - 0.2
    outputs = (content + style + 0.02 * torch.randn(N, K, 3, SIZE, SIZE, generator=g)).clamp(-1, 1)
    protocol = protocols.get("edges2shoes").spec()
    theirs = _official(outputs, weights, tmp_path)
    ours = _suite(protocol, outputs, weights, tmp_path / "c")
    assert theirs > 0.01
    assert ours == pytest.approx(theirs, rel=REL)
    # the 8-bit truncation is part of the number: scoring the floats gives another one
    params = tuple((k, "clamped" if k == "lpips_outputs" else v) for k, v in protocol.params)
    floats = _suite(protocol.replace(params=params), outputs, weights, tmp_path / "c2")
    assert abs(floats - theirs) > 100 * REL * theirs
