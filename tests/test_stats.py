"""benchmark.stats against numpy/scipy computed directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from benchmark import stats

VALUES = [16.0, 16.2, 16.7, 15.9, 16.4]


def test_mean_and_std_match_numpy() -> None:
    assert stats.mean(VALUES) == pytest.approx(np.mean(VALUES))
    assert stats.std(VALUES) == pytest.approx(np.std(VALUES, ddof=1))
    # ddof=1, not the population std
    assert stats.std(VALUES) != pytest.approx(np.std(VALUES, ddof=0))
    assert math.isnan(stats.std([3.0]))
    assert math.isnan(stats.mean([]))


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap() -> None:
    lo, hi = stats.bootstrap_ci(VALUES)
    ref = sps.bootstrap(
        (np.array(VALUES),), np.mean, method="percentile", n_resamples=20_000, random_state=1
    ).confidence_interval
    width = ref.high - ref.low
    assert lo == pytest.approx(ref.low, abs=0.05 * width)
    assert hi == pytest.approx(ref.high, abs=0.05 * width)
    assert min(VALUES) <= lo < np.mean(VALUES) < hi <= max(VALUES)


def test_bootstrap_ci_is_seeded_and_degenerate_cases() -> None:
    many = list(np.random.default_rng(3).normal(size=40))
    assert stats.bootstrap_ci(many) == stats.bootstrap_ci(many)
    assert stats.bootstrap_ci(many, seed=1) != stats.bootstrap_ci(many, seed=2)
    assert stats.bootstrap_ci([2.5]) == (2.5, 2.5)
    assert stats.bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([]))
    narrow = stats.bootstrap_ci(VALUES, confidence=0.5)
    wide = stats.bootstrap_ci(VALUES, confidence=0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_summarize() -> None:
    s = stats.summarize(VALUES)
    assert s.n == 5
    assert s.mean == pytest.approx(np.mean(VALUES))
    assert s.std == pytest.approx(np.std(VALUES, ddof=1))
    assert (s.ci_low, s.ci_high) == stats.bootstrap_ci(VALUES)


def test_paired_t_matches_scipy_and_the_formula() -> None:
    a = {0: 16.0, 1: 16.3, 2: 16.1}
    b = {0: 41.0, 1: 41.9, 2: 40.8, 7: 1.0}  # seed 7 has no partner and is left out
    r = stats.paired_test(a, b, "lower", a="A", b="B")
    assert r.seeds == (0, 1, 2)
    xa, xb = np.array([16.0, 16.3, 16.1]), np.array([41.0, 41.9, 40.8])
    d = xa - xb
    t = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    assert r.t_stat == pytest.approx(t)
    assert r.t_p_two_sided == pytest.approx(2 * sps.t.sf(abs(t), df=2))
    assert r.t_p_a_better == pytest.approx(sps.t.cdf(t, df=2))  # lower is better: d < 0
    assert r.t_p_a_better == pytest.approx(sps.ttest_rel(xa, xb, alternative="less").pvalue)
    assert r.t_p_a_worse == pytest.approx(sps.ttest_rel(xa, xb, alternative="greater").pvalue)
    assert r.wilcoxon_p_two_sided is None  # n < 6
    assert r.verdict == "better"
    assert r.mean_diff == pytest.approx(d.mean())
    # the same numbers with higher-is-better: A is now significantly worse
    assert stats.paired_test(a, b, "higher").verdict == "worse"
    text = stats.describe(r, "FID")
    assert text.startswith("FID: ") and "YES, A is better than B" in text
    assert f"{r.t_p_a_better:.3g}" in text and "Wilcoxon not run" in text


def test_wilcoxon_from_six_seeds_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    xa = rng.normal(0.45, 0.01, 8)
    xb = xa - rng.normal(0.02, 0.01, 8)
    r = stats.paired_test(dict(enumerate(xa)), dict(enumerate(xb)), "higher")
    assert r.n == 8
    assert r.wilcoxon_p_two_sided == pytest.approx(sps.wilcoxon(xa, xb).pvalue)
    assert r.wilcoxon_p_a_better == pytest.approx(
        sps.wilcoxon(xa, xb, alternative="greater").pvalue
    )
    assert r.t_p_two_sided == pytest.approx(sps.ttest_rel(xa, xb).pvalue)
    assert "Wilcoxon p(one-sided)" in stats.describe(r)
    five = stats.paired_test(dict(enumerate(xa[:5])), dict(enumerate(xb[:5])), "higher")
    assert five.wilcoxon_p_two_sided is None


def test_undecided_tie_and_too_few_seeds() -> None:
    noisy = stats.paired_test({0: 1.0, 1: 2.0, 2: 3.0}, {0: 2.0, 1: 1.0, 2: 3.1}, "lower")
    assert noisy.verdict == "undecided"
    assert "NOT SHOWN" in stats.describe(noisy)
    tie = stats.paired_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}, "lower")
    assert tie.verdict == "tie" and "identical" in tie.note
    one = stats.paired_test({0: 1.0, 1: 5.0}, {0: 2.0}, "lower")
    assert one.n == 1 and one.verdict == "undecided" and "run more seeds" in one.note
    constant = stats.paired_test({0: 0.450, 1: 0.451}, {0: 0.511, 1: 0.512}, "higher")
    assert "zero variance" in constant.note and constant.verdict == "worse"
    with pytest.raises(ValueError):
        stats.paired_test({0: 1.0}, {0: 1.0}, "smaller")
