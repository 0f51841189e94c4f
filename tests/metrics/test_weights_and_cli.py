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
from tests.metrics.fixtures import prepare, random_inception_file


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


def _direct_lpips(weights_dir, version: str = "0.1") -> lpips.LPIPS:
    """The lpips package's own AlexNet model of ``version`` with the AlexNet trunk of
    ``weights_dir``, loaded layer by layer here."""
    ref = lpips.LPIPS(net="alex", version=version, pnet_rand=True, verbose=False)
    alex = torchvision.models.alexnet(weights=None)
    alex.load_state_dict(torch.load(weights_dir / features.ALEXNET_FILE))
    for mod in ref.net.children():  # slice<k> holds alexnet.features[i] as <i>
        for idx, sub in mod.named_children():
            sub.load_state_dict(alex.features[int(idx)].state_dict())
    return ref.eval()


def _direct_paired(ref: lpips.LPIPS, outs: np.ndarray, gts: np.ndarray) -> float:
    """Mean LPIPS of each uint8 output against its target, one pair at a time."""

    def tensor(img: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1

    with torch.no_grad():
        return float(
            np.mean([float(ref(tensor(o), tensor(t))) for o, t in zip(outs, gts, strict=True)])
        )


@pytest.mark.parametrize("version", ["0.1", "0.0"])
def test_lpips_diversity_equals_a_direct_lpips_loop(alexnet_file, offline, version):
    model = build_lpips(alexnet_file, torch.device("cpu"), version)
    assert model.provenance()["lpips"] == f"alex v{version} (lpips package)"
    ref = _direct_lpips(alexnet_file, version)
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


@pytest.mark.slow  # 46 Inception forwards at 299 px on CPU: 10-60 s on a 2-core box, by load
def test_cli_inception_fid_equals_torch_fidelity_on_folders(tmp_path, offline, capsys):
    """The values are first shown to be far from degenerate, so the equality compares signals.
    20 fakes: IS uses min(10, n) splits, and a one-image split scores exactly 1 whatever the
    network; coarser fakes (12 px noise) than reals (24 px) make FID and KID clearly positive."""
    wdir = tmp_path / "w"
    wdir.mkdir()
    random_inception_file(wdir)
    real, fake = tmp_path / "real", tmp_path / "fake"
    _save_pngs(real, _random_images(3, 24, 0))
    _save_pngs(fake, _random_images(20, 12, 1))
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
        isc_splits=10,
        verbose=False,
        cache=False,
        save_cpu_ram=True,
        feature_extractor_weights_path=str(wdir / features.INCEPTION_COMPAT_FILE),
    )
    # Measured: mean |feature| 0.46, FID 127.4, KID 0.144 (std 0.022), IS 1.28; torch-fidelity's
    # default-initialised weights gave 3e-8, 3e-14, 0 and 1.000.
    (cached,) = (tmp_path / "c" / "features").glob("*.pt")  # the real set's features
    real_features = torch.load(cached, weights_only=True)["features"]["2048"]
    scale = float(real_features.abs().mean())
    assert scale > 0.05
    assert got["fid"]["value"] > 1e-2 * real_features.shape[1] * scale**2
    assert got["kid"]["value"] > 0.02
    assert got["is"]["value"] > 1.05
    # measured relative differences: FID 2e-7, KID and IS 0
    assert got["fid"]["value"] == pytest.approx(ref["frechet_inception_distance"], rel=1e-5)
    assert got["kid"]["value"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-5)
    assert got["is"]["value"] == pytest.approx(ref["inception_score_mean"], rel=1e-5)
    prov = got["fid"]["provenance"]
    assert got["fid"]["extractor"] == "inception-v3-compat"
    assert prov["weights_sha256"] == features.sha256_file(wdir / features.INCEPTION_COMPAT_FILE)
    assert got["kid"]["provenance"]["kid_subset_size"] == 3
    assert got["is"]["provenance"]["isc_splits"] == {"folders": 10}
    assert prov["n_real"] == {"folders": 3} and prov["n_fake"] == {"folders": 20}


@pytest.mark.parametrize(
    "extra, filename",
    [
        ([], features.INCEPTION_COMPAT_FILE),  # the default extractor
        (["--extractor", "inception"], features.INCEPTION_COMPAT_FILE),
        (["--extractor", "inception-torchvision", "--weights-dir", "{w}"], "inception_v3_google"),
    ],
)
def test_cli_inception_without_weights_is_one_line_naming_both_ways_out(
    tmp_path, offline, capsys, extra, filename
):
    """Offline with an empty hub cache: exit 2, no traceback, and one line naming the protocol
    classifier as the offline extractor and the weights file --weights-dir must hold."""
    (tmp_path / "w").mkdir()
    _save_pngs(tmp_path / "r", _random_images(3, 16, 0))
    argv = ["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "r")]
    argv += ["--metrics", "fid,kid,is", "--cache-dir", str(tmp_path / "c")]
    rc = main(argv + [a.format(w=tmp_path / "w") for a in extra])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "Traceback" not in err
    assert "--extractor protocol:NAME" in err and "afhq" in err  # a pinned protocol, by name
    assert "protocols/instruments/" in err and "classifier card" in err
    assert "--weights-dir" in err and filename in err and str(offline) in err
    if "--weights-dir" in extra:
        assert str(tmp_path / "w") in err


def test_cli_pinned_protocol_named_by_the_missing_weights_line_scores_offline(
    tmp_path, offline, capsys
):
    """The way out the line names works with nothing downloaded."""
    rng = np.random.default_rng(0)
    for name, lo in (("r", 0), ("f", 96)):
        _save_pngs(tmp_path / name, rng.integers(lo, lo + 160, (6, 32, 32, 3), dtype=np.uint8))
    argv = ["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "f"), "--json"]
    argv += ["--metrics", "fid,kid,is", "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 2
    assert main([*argv, "--extractor", "protocol:afhq"]) == 0
    got = {v["metric"]: v for v in json.loads(capsys.readouterr().out)["metrics"]}
    assert all(v["status"] == "ok" for v in got.values()) and got["fid"]["value"] > 1


def test_cli_metrics_help_lists_the_layouts_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["metrics", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    codes = {
        line.split()[0] for line in out.split("exit status:")[1].splitlines() if line[:3].strip()
    }
    assert codes == {"0", "1", "2", "130"}
    assert "a metric failed or was skipped" in out and "interrupted" in out
    assert "one subfolder per" in out and "--extractor protocol:NAME" in out


def test_cli_exit_code_1_when_a_metric_is_skipped(tmp_path, offline, capsys):
    """IS needs a single-label classifier: with a multi-label one it is skipped, FID is still
    computed and printed, and the command exits 1."""
    _save_pngs(tmp_path / "r", _random_images(4, 32, 0))
    _save_pngs(tmp_path / "f", _random_images(4, 32, 1))
    argv = ["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "f"), "--json"]
    argv += ["--metrics", "fid,is", "--cache-dir", str(tmp_path / "c")]
    assert main([*argv, "--extractor", "protocol:celeba_attributes"]) == 1
    got = {v["metric"]: v for v in json.loads(capsys.readouterr().out)["metrics"]}
    assert got["fid"]["status"] == "ok" and got["is"]["status"] == "skipped"
    assert "multi-label" in got["is"]["reason"]


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
    from tests.metrics.fixtures import tiny_data, tiny_protocol

    protocol = tiny_protocol(("fid",))
    cache = tmp_path / "cache"
    prepare(protocol, tiny_data(protocol), torch.device("cpu"), cache)
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


def test_cli_paired_metrics_match_numpy_and_lpips_without_inception(
    tmp_path, offline, capsys, alexnet_file
):
    """Targets are matched to outputs by name, not position (an extra target sorts first); no
    Inception weights exist here and none are needed for paired metrics."""
    fake, target = tmp_path / "fake", tmp_path / "target"
    outs, gts = _random_images(3, 32, 1), _random_images(3, 32, 2)
    names = ["shoe_b", "shoe_c", "shoe_a"]
    for d, imgs in ((fake, outs), (target, gts)):
        d.mkdir()
        for name, img in zip(names, imgs, strict=True):
            Image.fromarray(img).save(d / f"{name}.png")
    Image.fromarray(_random_images(1, 32, 3)[0]).save(target / "a_unused.png")  # sorts first
    rc = main(
        [
            "metrics",
            "--fake",
            str(fake),
            "--target",
            str(target),
            "--metrics",
            "l1,psnr,ssim,lpips_paired",
            "--weights-dir",
            str(alexnet_file),
            "--json",
        ]
    )
    got = {v["metric"]: v for v in json.loads(capsys.readouterr().out)["metrics"]}
    assert rc == 0 and set(got) == {"l1", "psnr", "ssim", "lpips_paired"}
    a, b = outs.astype(np.float64) / 255, gts.astype(np.float64) / 255
    assert got["l1"]["value"] == pytest.approx(np.abs(a - b).mean(), rel=1e-5)
    mse = ((a - b) ** 2).reshape(3, -1).mean(axis=1)
    assert got["psnr"]["value"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)
    assert -1 < got["ssim"]["value"] < 0.2  # unrelated noise images
    direct = _direct_paired(_direct_lpips(alexnet_file), outs, gts)
    assert got["lpips_paired"]["value"] == pytest.approx(direct, rel=1e-4)
    assert got["l1"]["provenance"]["target"] == str(target)


def test_cli_paired_identical_folders_are_perfect(tmp_path, offline, capsys):
    _save_pngs(tmp_path / "x", _random_images(2, 16, 0))
    rc = main(
        [
            "metrics",
            "--fake",
            str(tmp_path / "x"),
            "--target",
            str(tmp_path / "x"),
            "--metrics",
            "l1,psnr,ssim",
            "--json",
        ]
    )
    got = {v["metric"]: v["value"] for v in json.loads(capsys.readouterr().out)["metrics"]}
    assert rc == 0
    assert got["l1"] == 0 and got["ssim"] == pytest.approx(1.0) and got["psnr"] == 100.0


@pytest.mark.parametrize(
    "case, needle",
    [
        ("no_target", "--target DIR is needed"),
        ("unmatched", "has no ground truth for 1 of 2 inputs (first: 001)"),
        ("size", "resize the targets"),
    ],
)
def test_cli_paired_bad_targets_are_one_line_user_errors(tmp_path, offline, capsys, case, needle):
    fake, target = tmp_path / "fake", tmp_path / "target"
    _save_pngs(fake, _random_images(2, 16, 0))
    if case == "unmatched":
        _save_pngs(target, _random_images(1, 16, 1))
    elif case == "size":
        _save_pngs(target, _random_images(2, 20, 1))
    args = ["metrics", "--fake", str(fake), "--metrics", "l1"]
    if case != "no_target":
        args += ["--target", str(target)]
    rc = main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err


def test_cli_lpips_version_switches_the_linear_heads_and_says_so(
    tmp_path, offline, capsys, alexnet_file
):
    fake, target = tmp_path / "fake", tmp_path / "target"
    outs, gts = _random_images(2, 32, 4), _random_images(2, 32, 5)
    for d, imgs in ((fake, outs), (target, gts)):
        d.mkdir()
        for i, img in enumerate(imgs):
            Image.fromarray(img).save(d / f"{i}.png")
    got = {}
    for version in ("0.1", "0.0"):
        argv = ["metrics", "--fake", str(fake), "--target", str(target), "--metrics"]
        argv += ["lpips_paired", "--weights-dir", str(alexnet_file), "--json"]
        assert main([*argv, "--lpips-version", version]) == 0
        (value,) = json.loads(capsys.readouterr().out)["metrics"]
        assert value["provenance"]["lpips"] == f"alex v{version} (lpips package)"
        direct = _direct_paired(_direct_lpips(alexnet_file, version), outs, gts)
        assert value["value"] == pytest.approx(direct, rel=1e-4)
        got[version] = value["value"]
    assert got["0.1"] != pytest.approx(got["0.0"], rel=1e-3)  # the heads really differ
