"""Seeds -> numbers a reader can trust: mean, std, 95% interval, and paired significance tests.

A leaderboard cell is a handful of seeds, so the spread matters as much as the mean: the std is
the sample std (ddof=1); the 95% interval of the mean is Student's t interval (mean +/- t(0.975,
n-1) * std / sqrt(n)) below ``BOOTSTRAP_MIN_N`` seeds, where a percentile bootstrap is far too
narrow (with 3 seeds it resamples 10 distinct means), and a seeded percentile bootstrap from
``BOOTSTRAP_MIN_N`` seeds on (the same input always gives the same interval, so reports are
reproducible); one seed has no interval. "Is A better than B" is a paired test on the seeds both
baselines share (seed k of A and seed k of B saw the same data order and the same test inputs, so
the pairing removes that shared noise); "which methods are not worse than the best"
(``not_worse_than_best``) is one such one-sided test per method against the best mean,
Holm-corrected over the methods (``holm``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
BOOTSTRAP_MIN_N = 20  # from this many seeds on the interval is a percentile bootstrap
CONFIDENCE = 0.95
NOT_WORSE_MIN_SEEDS = 3  # shared seeds below which "not worse than the best" is not tested
WILCOXON_MIN_N = 6  # below 6 pairs the exact two-sided Wilcoxon p can never reach 0.05
ALPHA = 0.05


def mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64))) if len(values) else math.nan


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); NaN for fewer than two seeds, never a fake 0."""
    if len(values) < 2:
        return math.nan
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=1))


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = CONFIDENCE,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over seeds (resampling seeds with replacement).

    With one seed the interval collapses to that value; with none it is (NaN, NaN).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means = x[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def t_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student's t interval of the mean over seeds: mean +/- t((1+c)/2, n-1) * s / sqrt(n), s
    the sample std (ddof=1). (NaN, NaN) for fewer than two seeds: one seed says nothing about
    the spread. Identical seeds give the zero-width interval (mean, mean)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return (math.nan, math.nan)
    m, s = float(x.mean()), float(x.std(ddof=1))
    half = float(sps.t.ppf((1.0 + confidence) / 2.0, x.size - 1)) * s / math.sqrt(x.size)
    return (m - half, m + half)


CI_METHODS = ("t", "bootstrap", "none")


@dataclass(frozen=True)
class Summary:
    """One leaderboard cell: the seeds' values and what they say together.

    ``ci_low``/``ci_high`` is the 95% interval of the mean; ``ci_method`` says how it was made:
    ``"t"`` (Student's t, 2 to BOOTSTRAP_MIN_N - 1 seeds), ``"bootstrap"`` (percentile
    bootstrap, BOOTSTRAP_MIN_N seeds or more) or ``"none"`` (one seed: NaN, NaN)."""

    values: tuple[float, ...]
    mean: float
    std: float
    ci_low: float
    ci_high: float
    ci_method: str = "none"

    @property
    def n(self) -> int:
        return len(self.values)


def summarize(values: Sequence[float]) -> Summary:
    vals = tuple(float(v) for v in values)
    if len(vals) >= BOOTSTRAP_MIN_N:
        (lo, hi), method = bootstrap_ci(vals, CONFIDENCE), "bootstrap"
    elif len(vals) >= 2:
        (lo, hi), method = t_ci(vals, CONFIDENCE), "t"
    else:
        (lo, hi), method = (math.nan, math.nan), "none"
    return Summary(
        values=vals, mean=mean(vals), std=std(vals), ci_low=lo, ci_high=hi, ci_method=method
    )


@dataclass(frozen=True)
class PairedResult:
    """The answer to "is A better than B" on the seeds both have."""

    a: str
    b: str
    direction: str  # "lower" or "higher" is better
    seeds: tuple[int, ...]
    mean_a: float
    mean_b: float
    mean_diff: float  # mean of (A - B) over shared seeds
    t_stat: float
    t_p_two_sided: float
    t_p_a_better: float  # one-sided: the alternative is "A is better"
    t_p_a_worse: float
    wilcoxon_p_two_sided: float | None  # None when n < WILCOXON_MIN_N or all differences are 0
    wilcoxon_p_a_better: float | None
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def verdict(self) -> str:
        """``better`` / ``worse`` at ALPHA (one-sided paired t), ``tie`` or ``undecided``."""
        if self.n < 2:
            return "undecided"
        if self.mean_diff == 0 and self.t_stat != self.t_stat:
            return "tie"
        if self.t_p_a_better < ALPHA:
            return "better"
        if self.t_p_a_worse < ALPHA:
            return "worse"
        return "undecided"


def paired_test(
    a_by_seed: dict[int, float],
    b_by_seed: dict[int, float],
    direction: str,
    a: str = "A",
    b: str = "B",
) -> PairedResult:
    """Paired t-test (and Wilcoxon signed-rank when n >= 6) on the seeds present in both.

    ``direction`` says which way is better; one-sided p-values are taken in that direction.
    """
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', not {direction!r}")
    seeds = tuple(sorted(set(a_by_seed) & set(b_by_seed)))
    xa = np.array([a_by_seed[s] for s in seeds], dtype=np.float64)
    xb = np.array([b_by_seed[s] for s in seeds], dtype=np.float64)
    diff = xa - xb
    better_alt = "less" if direction == "lower" else "greater"
    worse_alt = "greater" if direction == "lower" else "less"
    nan = math.nan
    note = ""
    t_stat = t_two = t_better = t_worse = nan
    w_two: float | None = None
    w_better: float | None = None
    if len(seeds) < 2:
        note = f"only {len(seeds)} shared seed(s): no test possible, run more seeds"
    elif np.all(diff == 0):
        note = "identical on every shared seed"
    else:
        if np.ptp(diff) <= 1e-9 * np.abs(diff).max():
            note = "the difference is the same on every seed (zero variance): p is degenerate"
        with warnings.catch_warnings():  # scipy warns on near-constant differences; noted above
            warnings.simplefilter("ignore", RuntimeWarning)
            two = sps.ttest_rel(xa, xb)
            t_stat, t_two = float(two.statistic), float(two.pvalue)
            t_better = float(sps.ttest_rel(xa, xb, alternative=better_alt).pvalue)
            t_worse = float(sps.ttest_rel(xa, xb, alternative=worse_alt).pvalue)
            if len(seeds) >= WILCOXON_MIN_N:
                w_two = float(sps.wilcoxon(xa, xb).pvalue)
                w_better = float(sps.wilcoxon(xa, xb, alternative=better_alt).pvalue)
    return PairedResult(
        a=a,
        b=b,
        direction=direction,
        seeds=seeds,
        mean_a=mean(xa),
        mean_b=mean(xb),
        mean_diff=mean(diff),
        t_stat=t_stat,
        t_p_two_sided=t_two,
        t_p_a_better=t_better,
        t_p_a_worse=t_worse,
        wilcoxon_p_two_sided=w_two,
        wilcoxon_p_a_better=w_better,
        note=note,
    )


def describe(result: PairedResult, what: str = "") -> str:
    """One human sentence answering "is A better than B", with the p-values behind it."""
    r = result
    arrow = "lower is better" if r.direction == "lower" else "higher is better"
    head = f"{what}: " if what else ""
    means = f"{r.a} {r.mean_a:.4g} vs {r.b} {r.mean_b:.4g} ({arrow}; n={r.n} paired seeds)"
    if r.verdict == "tie":
        return f"{head}{means}: no difference, {r.note}."
    if r.n < 2:
        return f"{head}{means}: {r.note}."
    answer = {
        "better": f"YES, {r.a} is better than {r.b}",
        "worse": f"NO, {r.a} is worse than {r.b}",
        "undecided": f"NOT SHOWN, no significant difference between {r.a} and {r.b}",
    }[r.verdict]
    tests = (
        f"paired t-test p(one-sided, {r.a} better)={r.t_p_a_better:.3g}, "
        f"p(two-sided)={r.t_p_two_sided:.3g}"
    )
    if r.wilcoxon_p_two_sided is not None:
        tests += (
            f"; Wilcoxon p(one-sided)={r.wilcoxon_p_a_better:.3g}, "
            f"p(two-sided)={r.wilcoxon_p_two_sided:.3g}"
        )
    else:
        tests += f"; Wilcoxon not run (needs n >= {WILCOXON_MIN_N})"
    note = f"; note: {r.note}" if r.note else ""
    return f"{head}{means}: {answer} at alpha={ALPHA} ({tests}{note})."


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (statsmodels' ``multipletests``,
    method "holm"): compare each with alpha to control the family-wise error over the family.
    A NaN p-value (no test possible) stays NaN and is not counted in the family."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        from statsmodels.stats.multitest import multipletests  # 0.5 s: only when asked

        out[finite] = multipletests(p[finite], alpha=ALPHA, method="holm")[1]
    return [float(v) for v in out]


def not_worse_than_best(
    cells_by_seed: dict[str, dict[int, float]], direction: str, alpha: float = ALPHA
) -> dict[str, bool]:
    """Which methods are not significantly worse than the best one (the best itself included).

    ``cells_by_seed``: method -> seed -> value of one column. Only the seeds every method has
    are used (a paired design: seed k of every method saw the same data), so the best is the
    best mean over those seeds. Each other method is compared with it by a one-sided paired
    t-test (``paired_test``, alternative "the method is worse"), and the p-values are
    Holm-corrected over those methods; True where the corrected p is >= ``alpha``. A method
    identical to the best on every seed is not worse (its p is taken as 1). Empty when the
    methods share fewer than NOT_WORSE_MIN_SEEDS seeds (nothing can be shown)."""
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', not {direction!r}")
    if not cells_by_seed:
        return {}
    shared = set.intersection(*(set(by_seed) for by_seed in cells_by_seed.values()))
    if len(shared) < NOT_WORSE_MIN_SEEDS:
        return {}
    paired = {m: {s: float(v[s]) for s in sorted(shared)} for m, v in cells_by_seed.items()}
    means = {m: mean(list(v.values())) for m, v in paired.items()}
    pick = min if direction == "lower" else max
    best = pick(means, key=lambda m: means[m])
    others = [m for m in paired if m != best]
    pvalues = []
    for m in others:
        p = paired_test(paired[m], paired[best], direction, a=m, b=best).t_p_a_worse
        pvalues.append(1.0 if math.isnan(p) else p)
    adjusted = holm(pvalues)
    out = {m: bool(p >= alpha) for m, p in zip(others, adjusted, strict=True)}
    return {m: True if m == best else out[m] for m in cells_by_seed}
