"""One number format per column, and who is best at the precision a reader sees.

A column prints every value with the same decimals (chosen by its largest magnitude, never an
exponent: 0.0000 says "zero at this precision"), scaled where the paper convention scales
(KID x10^3, said in the header), and PSNR's cap for an exact copy as infinity. Best and second
are decided on the printed values: a difference that does not show is a tie, ties are all
marked or none, and a column where every method prints the same marks nobody.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from benchmark import stats

SCALES = {"kid": 1e3}  # printed x1000, as StarGAN v2 and FUNIT report KID
INFINITE_FROM = {"psnr": 100.0}  # benchmark.metrics.paired caps an exact copy's PSNR at 100 dB
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Format:
    """How one column prints: decimals, a scale, and where a value means infinity."""

    decimals: int = 4
    scale: float = 1.0
    infinite_from: float | None = None

    @property
    def scale_label(self) -> str:
        """ "×10³" for KID (the header says it once), "" when unscaled."""
        if self.scale == 1.0:
            return ""
        return "×10" + str(round(math.log10(self.scale))).translate(_SUPERSCRIPT)

    def is_infinite(self, x: float) -> bool:
        return self.infinite_from is not None and x >= self.infinite_from

    def rounded(self, x: float) -> float:
        """The value as printed (for ranking): infinity past the cap."""
        if self.is_infinite(x):
            return math.inf
        return round(x * self.scale, self.decimals) + 0.0  # -0.0 -> 0.0

    def num(self, x: float | None) -> str:
        if x is None or not math.isfinite(x):
            return "n/a"
        if self.is_infinite(x):
            return "∞"
        return f"{self.rounded(x):.{self.decimals}f}"

    def mean_std(self, s: stats.Summary) -> tuple[str, str]:
        """Mean and std at the column's decimals; std "" for one seed (or an infinite mean)."""
        mean = self.num(s.mean)
        if s.n < 2 or not math.isfinite(s.std) or mean == "∞":
            return mean, ""
        return mean, f"{s.std * self.scale:.{self.decimals}f}"


def column_format(metric: str, means: Iterable[float], digits: int | None = None) -> Format:
    """The format of a column holding these means: ``digits`` decimals when given, else 1 from
    100, 2 from 10, 3 from 1 and 4 below (about four significant figures for the largest)."""
    scale, cap = SCALES.get(metric, 1.0), INFINITE_FROM.get(metric)
    if digits is None:
        shown = [abs(m) * scale for m in means if math.isfinite(m) and (cap is None or m < cap)]
        top = max(shown, default=0.0)
        digits = 1 if top >= 100 else 2 if top >= 10 else 3 if top >= 1 else 4
    return Format(digits, scale, cap)


def ranks(means: list[float], direction: str, fmt: Format) -> list[int | None]:
    """1 for the best printed value (all tied ones), 2 for the next where at least three values
    differ, else None; nobody when all print the same or fewer than two have a number."""
    shown = [fmt.rounded(m) for m in means]
    distinct = sorted(set(shown), reverse=direction == "higher")
    if len(distinct) < 2:
        return [None] * len(means)
    second = distinct[1] if len(distinct) >= 3 else None
    return [1 if v == distinct[0] else 2 if v == second else None for v in shown]
