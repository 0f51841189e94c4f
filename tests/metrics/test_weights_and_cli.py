"""Standard-weight paths with weights files of the right shapes made here (random values: the
real files cannot be downloaded), and the ``metrics`` CLI on folders, bad inputs included."""

from __future__ import annotations

import json

import lpips
import numpy as np
import pytest
import torch
import torch_fidelity
import torchvision
from PIL import Image

import benchmark.features as features
from benchmark.cli import main
from benchmark.metrics.lpips_div import build_lpips, pair_indices, pairwise_mean
from tests.metrics.fixtures import random_inception_file


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setattr(features, "hub_checkpoints", lambda: hub)
    return hub


def _save_pngs(folder, images: np.ndarray, mode: str = "RGB") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).convert(mode).save(folder / f"{i:03d}.png")


def _random_images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), d / features.ALEXNET_FILE)
    return d


def test_lpips_diversity_equals_a_direct_lpips_loop(alexnet_file, offline):
    model = build_lpips(alexnet_file, torch.device("cpu"))
    ref = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    state = torch.load(alexnet_file / features.ALEXNET_FILE)
    alex = torchvision.models.alexnet(weights=None)
    alex.load_state_dict(state)
    for mod in ref.net.children():  # slice<k> holds alexnet.features[i] as <i>
        for idx, sub in mod.named_children():
            sub.load_state_dict(alex.features[int(idx)].state_dict())
    ref.eval()
    x = torch.rand(2, 4, 3, 32, 32) * 2 - 1
    flat = x.reshape(8, 3, 32, 32)
    for mode, npairs in (("consecutive", 3), ("all", 6)):
        pairs = pair_indices(4, mode)
        assert len(pairs) == npairs
        with torch.no_grad():
            direct = np.mean(
                [
                    np.mean([float(ref(x[i, a : a + 1], x[i, b : b + 1])) for a, b in pairs])
                    for i in range(2)
                ]
            )
        ours = pairwise_mean(2, 4, pairs, lambda ia, ib: model.distance(flat[ia], flat[ib]))
        assert ours == pytest.approx(direct, rel=1e-5)


@pytest.mark.slow  # ~12 Inception forwards at 299 px on CPU: a minute on a shared 2-core box
def test_cli_inception_fid_equals_torch_fidelity_on_folders(tmp_path, offline, capsys):
    wdir = tmp_path / "w"
    wdir.mkdir()
    random_inception_file(wdir)
    real, fake = tmp_path / "real", tmp_path / "fake"
    _save_pngs(real, _random_images(3, 24, 0))
    _save_pngs(fake, _random_images(3, 24, 1))
    rc = main(
        [
            "metrics",
            "--real",
            str(real),
            "--fake",
            str(fake),
            "--metrics",
            "fid,kid,is",
            "--weights-dir",
            str(wdir),
            "--cache-dir",
            str(tmp_path / "c"),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    got = {v["metric"]: v for v in out["metrics"]}
    ref = torch_fidelity.calculate_metrics(
        input1=str(fake),
        input2=str(real),
        fid=True,
        kid=True,
        isc=True,
        cuda=False,
        kid_subset_size=3,
        isc_splits=3,
        verbose=False,
        cache=False,
        save_cpu_ram=True,
        feature_extractor_weights_path=str(wdir / features.INCEPTION_COMPAT_FILE),
    )
    assert got["fid"]["value"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)
    assert got["kid"]["value"] == pytest.approx(
        ref["kernel_inception_distance_mean"], rel=1e-3, abs=1e-9
    )
    assert got["is"]["value"] == pytest.approx(ref["inception_score_mean"], rel=1e-5)
    prov = got["fid"]["provenance"]
    assert got["fid"]["extractor"] == "inception-v3-compat"
    assert prov["weights_sha256"] == features.sha256_file(wdir / features.INCEPTION_COMPAT_FILE)
    assert got["kid"]["provenance"]["kid_subset_size"] == 3
    assert got["is"]["provenance"]["isc_splits"] == {"folders": 3}
    assert prov["n_real"] == {"folders": 3} and prov["n_fake"] == {"folders": 3}


def test_cli_inception_without_weights_exits_2_naming_the_file(tmp_path, offline, capsys):
    _save_pngs(tmp_path / "r", _random_images(3, 16, 0))
    rc = main(
        [
            "metrics",
            "--real",
            str(tmp_path / "r"),
            "--fake",
            str(tmp_path / "r"),
            "--extractor",
            "inception",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "weights-inception-2015-12-05-6726825d.pth" in err and str(offline) in err


@pytest.mark.parametrize(
    "case, needle",
    [
        ("empty", "holds no .png/.jpg images"),
        ("mixed", "mixes image sizes"),
        ("rgba", "transparent pixels"),
        ("missing", "missing folder"),
    ],
)
def test_cli_bad_folders_are_one_line_user_errors(tmp_path, offline, capsys, case, needle):
    real = tmp_path / "real"
    _save_pngs(real, _random_images(3, 16, 0))
    bad = tmp_path / "bad"
    if case == "empty":
        bad.mkdir()
    elif case == "mixed":
        _save_pngs(bad, _random_images(2, 16, 1))
        Image.fromarray(_random_images(1, 20, 2)[0]).save(bad / "z.png")
    elif case == "rgba":
        bad.mkdir()
        rgba = np.zeros((16, 16, 4), np.uint8)
        rgba[..., 3] = 128
        Image.fromarray(rgba, "RGBA").save(bad / "a.png")
    rc = main(["metrics", "--real", str(real), "--fake", str(bad), "--extractor", "inception"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err


def test_cli_protocol_extractor_grayscale_and_one_image(tmp_path, capsys, monkeypatch, offline):
    """A classifier cached by a run is found by protocol name; grayscale files are read as RGB
    (recorded); a one-image set gives a failed FID with its reason, never a number."""
    from benchmark import metrics
    from tests.metrics.fixtures import tiny_data, tiny_protocol

    protocol = tiny_protocol(("fid",))
    cache = tmp_path / "cache"
    metrics.prepare(protocol, tiny_data(protocol), torch.device("cpu"), cache)
    real, fake, one = tmp_path / "real", tmp_path / "fake", tmp_path / "one"
    _save_pngs(real, _random_images(6, 16, 0))
    _save_pngs(fake, _random_images(6, 16, 1), mode="L")
    _save_pngs(one, _random_images(1, 16, 2))
    args = [
        "metrics",
        "--real",
        str(real),
        "--metrics",
        "fid,kid",
        "--extractor",
        "protocol:tiny",
        "--cache-dir",
        str(cache),
        "--json",
    ]
    assert main(args + ["--fake", str(fake)]) == 0
    got = {v["metric"]: v for v in json.loads(capsys.readouterr().out)["metrics"]}
    assert got["fid"]["status"] == "ok" and got["fid"]["extractor"].startswith("protocol:tiny@")
    assert got["fid"]["provenance"]["fake_modes"] == {"L": 6}
    assert main(args + ["--fake", str(one)]) == 1
    got = {v["metric"]: v for v in json.loads(capsys.readouterr().out)["metrics"]}
    assert got["fid"]["status"] == "failed" and got["fid"]["value"] is None
    assert "at least 2 images" in got["fid"]["reason"]
