"""Each metric against an independent computation (numpy/scipy formulas on the same numbers)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch

from benchmark.metrics.cis import cis
from benchmark.metrics.fidelity import TooFew, fid, inception_score, kid, prc
from benchmark.metrics.paired import psnr, ssim


def _feats(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return torch.from_numpy(rng.normal(size=(n, d)) @ a + shift).float()


def test_fid_matches_scipy_sqrtm_frechet_distance():
    f, r = _feats(300, 8, 0, 0.5), _feats(400, 8, 1)
    x, y = f.double().numpy(), r.double().numpy()
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert fid(f, r) == pytest.approx(expected, rel=1e-6)
    assert fid(r, r) == pytest.approx(0.0, abs=1e-6)


def _mmd_unbiased_poly(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (
        m * (m - 1)
    ) - 2 * kxy.sum() / m**2


def test_kid_matches_numpy_unbiased_polynomial_mmd_and_adapts_subset_size():
    f, r = _feats(12, 6, 2, 0.3), _feats(12, 6, 3)
    mean, std, used = kid(f, r, subsets=5)
    # subset size = whole set (12), so every subset is a permutation of the same sets
    assert used == 12
    assert mean == pytest.approx(
        _mmd_unbiased_poly(f.double().numpy(), r.double().numpy()), rel=1e-5
    )
    assert std < 1e-5 * abs(mean)  # float32 summation order only
    assert kid(_feats(40, 6, 4), _feats(7, 6, 5), subsets=3)[2] == 7
    with pytest.raises(TooFew):
        kid(f[:1], r)


def test_inception_score_matches_formula_on_known_logits():
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0], [1.0, 1.0, 0.0]])
    p = torch.softmax(logits.double(), 1).numpy()
    marg = p.mean(0)
    expected = np.exp(np.mean((p * (np.log(p) - np.log(marg))).sum(1)))
    mean, std, splits = inception_score(logits, splits=1)
    assert splits == 1 and mean == pytest.approx(expected, rel=1e-9) and std == 0.0
    assert inception_score(torch.zeros(5, 3), splits=10)[0] == pytest.approx(1.0)


def test_cis_conventions_on_known_logits():
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(4, 5, 3)) * 2)
    p = torch.softmax(logits, -1).numpy()
    kls = []
    for i in range(4):
        py = p[i].sum(0) / p[i].sum()  # MUNIT test_batch.py: normalised sum (scipy entropy)
        kls += [np.sum(p[i, j] * np.log(p[i, j] / py)) for j in range(5)]
    assert cis(logits, "mean_kl") == pytest.approx(np.mean(kls), rel=1e-9)
    assert cis(logits, "exp") == pytest.approx(np.exp(np.mean(kls)), rel=1e-9)
    same = logits[:, :1].expand(4, 5, 3)  # a deterministic model: every output identical
    assert cis(same, "mean_kl") == pytest.approx(0.0, abs=1e-12)
    assert cis(same, "exp") == pytest.approx(1.0)


def test_precision_recall_brackets():
    r = _feats(30, 4, 6)
    assert prc(r, r) == (1.0, 1.0)
    p, rec = prc(r + 100.0, r)
    assert p == 0.0 and rec == 0.0


def test_psnr_and_ssim_match_independent_formulas():
    rng = np.random.default_rng(1)
    a = rng.uniform(size=(2, 3, 24, 24))
    b = np.clip(a + rng.normal(scale=0.1, size=a.shape), 0, 1)
    ta, tb = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    mse = ((ta.double() - tb.double()) ** 2).numpy().reshape(2, -1).mean(1)
    assert psnr(ta, tb).numpy() == pytest.approx(10 * np.log10(1 / mse), rel=1e-5)
    assert float(psnr(ta, ta)[0]) == pytest.approx(100.0)

    def ssim_np(x, y):  # Wang et al. 2004 with scipy's gaussian filter (radius 5 = 11 taps)
        f = lambda z: scipy.ndimage.gaussian_filter(z, 1.5, truncate=3.5)[5:-5, 5:-5]  # noqa: E731
        c1, c2 = 0.01**2, 0.03**2
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        return s.mean()

    expected = [np.mean([ssim_np(a[i, c], b[i, c]) for c in range(3)]) for i in range(2)]
    assert ssim(ta, tb).numpy() == pytest.approx(expected, rel=1e-5)
    assert float(ssim(ta, ta)[0]) == pytest.approx(1.0, abs=1e-6)


def test_fid_with_fewer_images_than_dims_and_kid_match_torch_fidelity_directly():
    """The shortcuts (FID's trace from the n1 x n2 product when Sigma is rank-deficient; KID's
    kernels computed once and sliced) against the library's own functions on the same features."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    f, r = _feats(20, 64, 7, 0.3), _feats(30, 64, 8)
    stats = [fid_features_to_statistics(x.double()) for x in (f, r)]
    lib = fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]
    x, y = f.double().numpy(), r.double().numpy()
    covmean = scipy.linalg.sqrtm(np.cov(x, rowvar=False) @ np.cov(y, rowvar=False)).real
    sq = ((x.mean(0) - y.mean(0)) ** 2).sum()
    expected = sq + np.trace(np.cov(x, rowvar=False) + np.cov(y, rowvar=False) - 2 * covmean)
    assert fid(f, r) == pytest.approx(lib, rel=1e-6)
    assert fid(f, r) == pytest.approx(expected, rel=1e-6)
    assert fid(f, f) == pytest.approx(0.0, abs=1e-9)
    for n1, n2 in ((40, 25), (25, 40)):  # subset size = the smaller set; both orders
        f, r = _feats(n1, 16, 9, 0.2), _feats(n2, 16, 10)
        ref = kid_features_to_metric(
            f, r, kid_subset_size=25, kid_subsets=20, rng_seed=3, verbose=False
        )
        mean, std, used = kid(f, r, subsets=20, seed=3)
        assert used == 25
        assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-5)
        assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-4)


def test_funit_test_columns_restrict_the_classifier_to_the_target_classes():
    """Few-shot accuracy and IS carry FUNIT's "test" numbers: the same scores over the target
    classes' logits only, checked against numpy on known logits."""
    from types import SimpleNamespace

    from benchmark.metrics.accuracy import accuracy_family
    from benchmark.metrics.fidelity import is_family
    from benchmark.samples import TaskSamples

    names = ["src_a", "src_b", "tgt_x", "tgt_y", "tgt_z", "src_c"]  # 6 classes, 3 unseen
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(12, 6))).float()
    target = torch.tensor([2, 3, 4] * 4)  # indices in ``names``
    ex = SimpleNamespace(id="clf", layers={"isc": "logits"}, provenance=dict)
    ctx = SimpleNamespace(
        protocol=SimpleNamespace(
            kind="few_shot",
            domains=("tgt_x", "tgt_y", "tgt_z"),
            param=lambda k, d=None: 1 if k == "isc_splits" else d,
        ),
        data=SimpleNamespace(class_names=names),
        protocol_extractor=ex,
        extractors=[ex],
        missing={},
        classifier=SimpleNamespace(multi_label=False),
        store=SimpleNamespace(get=lambda *a, **k: {"logits": logits}),
    )
    s = TaskSamples(
        task="k=5",
        mode="reference",
        inputs=torch.zeros(12, 3, 4, 4),
        outputs=torch.zeros(12, 1, 3, 4, 4),
        target_class=target,
        real_target=torch.zeros(1, 3, 4, 4),
        real_target_name="r",
    )
    top1 = next(v for v in accuracy_family(ctx, [s], "k=5") if v.metric == "accuracy_top1")
    sub = logits[:, 2:5].numpy()
    expected = float(np.mean(sub.argmax(1) == (target.numpy() - 2)))
    assert top1.extra["target_classes_only"]["k=5"] == pytest.approx(expected)
    assert top1.value == pytest.approx(float(np.mean(logits.numpy().argmax(1) == target.numpy())))
    (is_value,) = is_family(ctx, [s], "k=5")
    p = torch.softmax(torch.from_numpy(sub).double(), 1).numpy()
    marg = p.mean(0)
    is_test = np.exp(np.mean((p * (np.log(p) - np.log(marg))).sum(1)))
    assert is_value.extra["target_classes_only"]["k=5"] == pytest.approx(is_test, rel=1e-6)
