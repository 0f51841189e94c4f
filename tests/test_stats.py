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


def test_summarize_takes_the_t_interval_below_twenty_seeds() -> None:
    s = stats.summarize(VALUES)
    assert s.n == 5
    assert s.mean == pytest.approx(np.mean(VALUES))
    assert s.std == pytest.approx(np.std(VALUES, ddof=1))
    lo, hi = sps.t.interval(0.95, df=4, loc=np.mean(VALUES), scale=sps.sem(VALUES))
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert s.ci_method == "t"
    # the t interval is wider than the bootstrap's at 3 seeds (which is the point)
    three = [16.0, 16.2, 16.4]
    t3, b3 = stats.summarize(three), stats.bootstrap_ci(three)
    assert t3.ci_low < b3[0] and t3.ci_high > b3[1]
    assert t3.ci_high - t3.ci_low == pytest.approx(2 * sps.t.ppf(0.975, 2) * 0.2 / math.sqrt(3))


def test_summarize_bootstraps_from_twenty_seeds_and_has_no_interval_for_one() -> None:
    many = [float(v) for v in np.random.default_rng(5).normal(16.0, 0.5, size=20)]
    s = stats.summarize(many)
    assert s.ci_method == "bootstrap"
    assert (s.ci_low, s.ci_high) == stats.bootstrap_ci(many)
    assert stats.summarize(many[:19]).ci_method == "t"
    assert stats.summarize(many[:19]).ci_low == pytest.approx(
        sps.t.interval(0.95, df=18, loc=np.mean(many[:19]), scale=sps.sem(many[:19]))[0]
    )
    one = stats.summarize([7.0])
    assert one.ci_method == "none" and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    assert one.mean == 7.0 and math.isnan(one.std)
    same = stats.summarize([2.0, 2.0, 2.0])
    assert (same.ci_low, same.ci_high, same.ci_method) == (2.0, 2.0, "t")
    assert all(math.isnan(v) for v in stats.t_ci([]))


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


def test_holm_matches_statsmodels_and_the_step_down_formula() -> None:
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    # by hand: sorted p_(i) * (m - i + 1), running max, capped at 1, back in the given order
    order = np.argsort(p)
    by_hand = np.maximum.accumulate([p[i] * (len(p) - r) for r, i in enumerate(order)])
    expected = np.empty(len(p))
    expected[order] = np.minimum(by_hand, 1.0)
    assert stats.holm(p) == pytest.approx(list(expected))
    assert stats.holm([]) == []
    with_nan = stats.holm([0.01, math.nan, 0.04])
    assert math.isnan(with_nan[1])
    assert [with_nan[0], with_nan[2]] == pytest.approx(
        list(multipletests([0.01, 0.04], method="holm")[1])
    )


def _one_sided_worse(a: np.ndarray, best: np.ndarray, direction: str) -> float:
    """p of "a is worse than best", computed with scipy directly."""
    return float(
        sps.ttest_rel(a, best, alternative="greater" if direction == "lower" else "less").pvalue
    )


@pytest.mark.parametrize("direction", ["lower", "higher"])
def test_not_worse_than_best_matches_scipy_and_statsmodels(direction: str) -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    seeds = [0, 1, 2, 3, 4]
    sign = 1.0 if direction == "lower" else -1.0  # "worse" is higher for lower-is-better
    offsets = {"best": 0.0, "close": 0.003, "far": 0.5, "farther": 1.0, "mid": 0.02}
    noise = {m: rng.normal(0.0, 0.01, size=len(seeds)) for m in offsets}
    common = rng.normal(0.0, 0.3, size=len(seeds))  # the seed effect the pairing removes
    cells = {
        m: {s: 10.0 + common[i] + sign * off + noise[m][i] for i, s in enumerate(seeds)}
        for m, off in offsets.items()
    }
    cells["far"][9] = 0.0  # a seed the others lack is left out, whatever its value
    got = stats.not_worse_than_best(cells, direction)

    x = {m: np.array([cells[m][s] for s in seeds]) for m in cells}
    means = {m: v.mean() for m, v in x.items()}
    best = (min if direction == "lower" else max)(means, key=means.get)
    others = [m for m in cells if m != best]
    raw = [_one_sided_worse(x[m], x[best], direction) for m in others]
    reject = multipletests(raw, alpha=0.05, method="holm")[0]
    expected = {best: True, **{m: not bool(r) for m, r in zip(others, reject, strict=True)}}
    assert got == expected
    assert got["best"] and got["close"] and not got["far"] and not got["farther"]
    assert list(got) == list(cells)


def test_not_worse_than_best_needs_three_shared_seeds() -> None:
    two = {"a": {0: 1.0, 1: 2.0, 5: 3.0}, "b": {0: 1.5, 1: 2.5, 6: 0.0}}
    assert stats.not_worse_than_best(two, "lower") == {}
    assert stats.not_worse_than_best({}, "lower") == {}
    alone = stats.not_worse_than_best({"a": {0: 1.0, 1: 2.0, 2: 3.0}}, "higher")
    assert alone == {"a": True}
    # identical to the best on every seed: no evidence of being worse
    same = {"a": {0: 1.0, 1: 2.0, 2: 3.0}, "b": {0: 1.0, 1: 2.0, 2: 3.0}}
    assert stats.not_worse_than_best(same, "lower") == {"a": True, "b": True}
    with pytest.raises(ValueError):
        stats.not_worse_than_best(same, "smaller")
