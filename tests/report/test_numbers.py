"""One format per column and ranking on printed values (benchmark.report.numbers)."""

from __future__ import annotations

import pytest

from benchmark import stats
from benchmark.report.numbers import Format, column_format, ranks


@pytest.mark.parametrize(
    ("metric", "means", "decimals", "texts"),
    [
        ("fid", [34.049, 101.5, 9.2], 1, ["34.0", "101.5", "9.2"]),
        ("fid", [34.049, 12.0], 2, ["34.05", "12.00"]),
        ("is", [1.000001, 1.274e-06], 3, ["1.000", "0.000"]),
        ("lpips_diversity", [0.5, 0.04567], 4, ["0.5000", "0.0457"]),
        ("kid", [0.0123, 0.00045], 2, ["12.30", "0.45"]),  # x10^3
        ("psnr", [100.0, 23.456], 2, ["∞", "23.46"]),  # the cap is not a magnitude
    ],
)
def test_a_column_prints_every_value_alike(metric, means, decimals, texts) -> None:
    fmt = column_format(metric, means)
    assert fmt.decimals == decimals
    assert [fmt.num(m) for m in means] == texts
    assert "e" not in "".join(texts)


def test_scale_label_digits_override_and_negative_zero() -> None:
    assert column_format("kid", [0.01]).scale_label == "×10³"
    assert column_format("fid", [0.01]).scale_label == ""
    assert column_format("fid", [34.0], digits=1).num(34.049) == "34.0"
    assert Format(3).num(-2e-9) == "0.000" and Format(3).num(None) == "n/a"
    mean, std = Format(2, 1e3).mean_std(stats.summarize([0.0121, 0.0125, 0.0123]))
    assert (mean, std) == ("12.30", "0.20")
    assert Format(2).mean_std(stats.summarize([7.0])) == ("7.00", "")


def test_best_and_second_only_where_the_difference_shows() -> None:
    fmt = Format(3)
    # IS 1.000001 vs 1.000000: the same printed value, no bold for anyone
    assert ranks([1.000001, 1.0], "higher", fmt) == [None, None]
    # ties at the best are all marked; second only with at least three distinct values
    assert ranks([0.5, 0.5001, 0.4, 0.3], "higher", fmt) == [1, 1, 2, None]
    assert ranks([0.5, 0.4], "higher", fmt) == [1, None]
    assert ranks([20.0, 10.0, 30.0], "lower", Format(1)) == [2, 1, None]
    assert ranks([3.0], "lower", fmt) == [None]
