"""Self-checks of the rebuilt StarGAN v2 pipeline (tests/official/stargan_v2.py).

A reference is only useful if its numbers can be trusted on their own: these tests pin the
PNG quantisation, the file listing, non-degenerate features from the seeded weights, FID
against an exact closed form, LPIPS against the lpips package, and eval.py's per-batch LPIPS
aggregation. The full sqrtm FID on 2048-d features takes minutes on 2 cores, so it is ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import lpips
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from tests.official import stargan_v2 as sg
from tests.official import weights

SIZE = 256
N_IMAGES = 12


def smooth_images(n: int, seed: int, grid: int = 6, shift: float = 0.0) -> torch.Tensor:
    """(n, 3, SIZE, SIZE) bicubic-upsampled noise in about [-1, 1]: image-like, not white noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand((n, 3, grid, grid), generator=g) * 2 - 1 + shift
    return torch.nn.functional.interpolate(coarse, size=SIZE, mode="bicubic", align_corners=False)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("weights")
    return weights.torchvision_inception_file(folder), weights.alexnet_file(folder)


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """real/ (coarse patterns, two in a subfolder) and fake/ (finer, colour-shifted) PNGs."""
    root = tmp_path_factory.mktemp("images")
    sets = {"real": smooth_images(N_IMAGES, 1), "fake": smooth_images(N_IMAGES, 2, 12, 0.3)}
    for name, images in sets.items():
        for k, x in enumerate(images):
            folder = root / name / ("sub" if k < 2 and name == "real" else "")
            folder.mkdir(parents=True, exist_ok=True)
            sg.save_png(x, folder / f"{k:04d}_01.png")
    return root / "real", root / "fake"


@pytest.fixture(scope="module")
def activations(weight_files, image_dirs) -> tuple[np.ndarray, np.ndarray]:
    net = sg.InceptionPool(weight_files[0])
    real, fake = (sg.inception_activations(d, weight_files[0], SIZE, 5, net) for d in image_dirs)
    return real, fake


def fid_closed_form(a: np.ndarray, b: np.ndarray) -> float:
    """FID with tr sqrt(C1 C2) from the n x n matrix M M^T, M = A_c B_c^T (float64).

    For n << d the nonzero eigenvalues of C1 C2 are those of M M^T / ((n1-1)(n2-1)), symmetric
    PSD, so the trace of the principal root is exact and needs no 2048x2048 sqrtm.
    """
    a, b = a.astype(np.float64), b.astype(np.float64)
    ac, bc = a - a.mean(0), b - b.mean(0)
    m = ac @ bc.T
    eig = np.linalg.eigvalsh(m @ m.T / ((len(a) - 1) * (len(b) - 1))).clip(min=0)
    traces = (ac**2).sum() / (len(a) - 1) + (bc**2).sum() / (len(b) - 1)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + traces - 2 * np.sqrt(eig).sum())


# ----------------------------------------------------------------------------- images


def test_save_png_rounds_half_up_and_clamps(tmp_path: Path) -> None:
    x = torch.linspace(-1.3, 1.3, 3 * 4 * 7).view(3, 4, 7)
    sg.save_png(x, tmp_path / "x.png")
    got = np.asarray(Image.open(tmp_path / "x.png")).transpose(2, 0, 1)
    want = torch.floor(((x + 1) / 2).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    assert np.array_equal(got, want)


def test_listing_is_recursive_sorted_and_case_sensitive(tmp_path: Path) -> None:
    for name in ["b.png", "a/c.jpg", "d.PNG", "e.JPG", "f.jpeg", "g.txt", "a/h.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / name, format="PNG")
    names = [p.relative_to(tmp_path).as_posix() for p in sg.list_images(tmp_path)]
    assert names == ["a/c.jpg", "a/h.png", "b.png", "e.JPG", "f.jpeg"]


def test_eval_transform_sizes_and_ranges(image_dirs) -> None:
    img = Image.open(sg.list_images(image_dirs[0])[0]).convert("RGB")
    inception_in = sg.eval_transform(SIZE)(img)
    lpips_in = sg.eval_transform(SIZE, imagenet_normalize=False)(img)
    assert inception_in.shape == (3, 299, 299) and lpips_in.shape == (3, SIZE, SIZE)
    assert lpips_in.min() >= -1 and lpips_in.max() <= 1
    assert inception_in.min() < -1.5 and inception_in.max() > 1.5  # ImageNet-normalised


# ----------------------------------------------------------------------------- weights + FID


def test_weight_files_load_strictly_with_spread_logits(weight_files, tmp_path: Path) -> None:
    """Both files load strictly; on images calibration never saw, logits spread a few units."""
    inception_path, alexnet_path = weight_files
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    net.load_state_dict(torch.load(inception_path, weights_only=True))
    alexnet = torchvision.models.alexnet(weights=None)
    alexnet.load_state_dict(torch.load(alexnet_path, weights_only=True))
    for k, x in enumerate(smooth_images(4, 7, grid=4)):
        sg.save_png(x, tmp_path / f"{k}.png")
    x = sg.load_batch(sg.list_images(tmp_path), sg.eval_transform(SIZE))
    net.eval().transform_input = False
    with torch.no_grad():
        logits = net(x)
    assert torch.isfinite(logits).all()
    assert 0.5 < logits.std(dim=0).mean() < 20


def test_inception_features_are_not_degenerate(activations) -> None:
    real, fake = activations
    assert real.shape == fake.shape == (N_IMAGES, 2048) and real.dtype == np.float32
    assert np.isfinite(real).all() and np.abs(real).max() < 50
    assert np.abs(real).mean() > 0.05
    dist = np.linalg.norm(real[:, None] - real[None], axis=-1)
    assert dist[~np.eye(N_IMAGES, dtype=bool)].min() > 0.1  # every pair of images differs
    assert real.std(axis=0).mean() > 0.01


def test_fid_matches_closed_form_on_a_feature_slice(activations) -> None:
    """The authors' sqrtm formula on 64 dims (fast) against the exact closed form."""
    real, fake = (a[:, :64] for a in activations)
    fid = sg.fid_from_activations(real, fake)
    assert fid == pytest.approx(fid_closed_form(real, fake), rel=1e-4)
    assert fid > 0.1
    assert abs(sg.fid_from_activations(real, real)) < 1e-6 * fid


def test_fid_on_full_features_separates_sets(activations) -> None:
    real, fake = activations
    fid = fid_closed_form(real, fake)
    assert fid > 10
    assert abs(fid_closed_form(real, real)) < 1e-6 * fid
    assert fid_closed_form(real[:6], real[6:]) < fid  # same distribution: closer


@pytest.mark.slow
def test_fid_given_paths_full_sqrtm(weight_files, image_dirs, activations) -> None:
    """The end-to-end authors' FID (two 2048x2048 sqrtm calls: ~3 min on 2 cores).

    Measured: 53.69109 vs closed form 53.69110 (2e-7); the set against itself gives -1.8e-5,
    3e-7 of it: sqrtm's rounding on a rank-11 product, hence the looser 1e-5 bound here.
    """
    fid = sg.fid_given_paths(*image_dirs, weight_files[0], img_size=SIZE)
    assert fid == pytest.approx(fid_closed_form(*activations), rel=1e-4)
    same = sg.fid_given_paths(image_dirs[0], image_dirs[0], weight_files[0], img_size=SIZE)
    assert abs(same) < 1e-5 * fid


# ----------------------------------------------------------------------------- LPIPS


def outputs(k: int, n: int, seed: int, style: float = 0.4) -> list[torch.Tensor]:
    """K raw generator outputs for n inputs: shared content plus per-output style, a bit past ±1."""
    content = smooth_images(n, seed, grid=5)
    return [
        1.2 * ((1 - style) * content + style * smooth_images(n, seed + 100 + j, 8))
        for j in range(k)
    ]


def package_lpips(alexnet_path: Path) -> lpips.LPIPS:
    """lpips.LPIPS v0.1 AlexNet with the same trunk loaded into its slices (slice k keeps the
    torchvision index of each layer: 0 -> slice1, 3 -> slice2, 6 -> slice3, 8 -> 4, 10 -> 5)."""
    model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    slice_of = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    state = torch.load(alexnet_path, weights_only=True)
    trunk = {
        f"slice{slice_of[int(k.split('.')[1])]}.{k.split('.', 1)[1]}": v
        for k, v in state.items()
        if k.startswith("features.")
    }
    model.net.load_state_dict(trunk)
    return model.eval()


def test_lpips_zero_for_identical_and_positive_for_different(weight_files) -> None:
    group = outputs(4, 3, 0)
    same = sg.lpips_batch_mean([group[0]] * 4, weight_files[1])
    diff = sg.lpips_batch_mean(group, weight_files[1])
    assert same == 0.0
    assert 0.02 < diff < 1.0
    far = sg.lpips_batch_mean([group[0], smooth_images(3, 99, grid=16)], weight_files[1])
    assert far > diff  # unrelated images are further apart than styles of one content


@pytest.mark.filterwarnings("ignore:.*(pretrained|weight enum).*:UserWarning")
def test_lpips_matches_the_package_up_to_normalisation_eps(weight_files) -> None:
    """Same trunk and linear weights: only rsqrt(s + eps) vs 1 / (sqrt(s) + eps) differ."""
    x, y = outputs(2, 3, 5)
    ours = sg.StarGanLpips(weight_files[1]).eval()
    with torch.no_grad():
        value = ours(x, y).item()
        package = package_lpips(weight_files[1])(x, y).mean().item()
        clamped = ours(x.clamp(-1, 1), y.clamp(-1, 1)).item()
    assert value == pytest.approx(package, rel=1e-5)
    assert abs(clamped - value) > 1e-4 * value  # inputs are used raw, not clamped


def test_lpips_eval_weighs_batches_not_inputs(weight_files) -> None:
    """eval.py:95-99: 8 inputs in batches of 3, 3, 2: a batch mean each, then the plain mean."""
    # the two inputs of the short last batch get more diverse outputs
    outs = [torch.cat([a[:6], b[6:]]) for a, b in zip(outputs(3, 8, 11), outputs(3, 8, 11, 0.9))]
    batches = [slice(0, 3), slice(3, 6), slice(6, 8)]
    per_batch = sg.lpips_eval([[o[s] for o in outs] for s in batches], weight_files[1])
    net = sg.StarGanLpips(weight_files[1])
    per_input = [
        sg.lpips_batch_mean([o[i : i + 1] for o in outs], weight_files[1], net) for i in range(8)
    ]
    by_batch = np.mean([np.mean(per_input[s]) for s in batches])
    assert per_batch == pytest.approx(by_batch, rel=1e-5)
    assert per_batch / np.mean(per_input) - 1 > 0.02  # the short batch is over-weighted
