"""Number formatting, column identity and cell status: the rules every report format shares."""

from __future__ import annotations

import pytest

from benchmark import stats
from benchmark.report.labels import extractor_label, variant_order
from benchmark.report.model import Cell, Column, fmt_mean_std, fmt_number
from benchmark.report.tables import cell_text


@pytest.mark.parametrize(
    "value, text",
    [
        (16.18, "16.18"),
        (0.4501, "0.4501"),
        (223.94, "223.9"),
        (0.0, "0"),
        (-3.2, "-3.200"),
        (5.3e7, "53.00M"),
        (9.9e10, "99.00G"),
        (1e-9, "1.000e-09"),
        (-2.671e-18, "0"),  # float noise around 0 (CIS of a deterministic method)
        (9.9e-10, "0"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_fmt_number(value: float | None, text: str) -> None:
    assert fmt_number(value) == text


def test_fmt_mean_std_uses_the_means_precision() -> None:
    assert fmt_mean_std(stats.summarize([16.0, 16.2, 16.4])) == ("16.20", "0.20")
    assert fmt_mean_std(stats.summarize([0.450, 0.451, 0.449])) == ("0.4500", "0.0010")
    assert fmt_mean_std(stats.summarize([5.3e7, 5.4e7])) == ("53.50M", "0.7071M")
    assert fmt_mean_std(stats.summarize([7.0])) == ("7.000", "")


def test_columns_differ_by_extractor_and_variant() -> None:
    a = Column("fid", "latent", "inception-v3-compat", "lower")
    b = Column("fid", "latent", "protocol:afhq@abc", "lower")
    c = Column("fid", "reference", "inception-v3-compat", "lower")
    assert len({a.key, b.key, c.key}) == 3
    assert a.label == "FID latent (inception-v3-compat)"
    assert Column("lpips_paired", "", None, "lower").label == "LPIPS to target"
    assert Column("accuracy_top1", "k=5", None, "higher").name == "Top-1 acc. k=5"
    assert Column("lpips", "", None, "higher").label == "LPIPS"
    assert (a.arrow, Column("lpips", "", None, "higher").arrow) == ("↓", "↑")


def test_cell_status() -> None:
    assert Cell().status == "missing"
    assert Cell(by_seed={0: 1.0}).status == "ok"
    assert Cell(by_seed={0: 1.0}, failures={1: "oom"}).status == "partial"
    failed = Cell(failures={0: "nan loss", 1: "nan loss", 2: "oom"})
    assert failed.status == "failed"
    assert failed.reason == "nan loss (seeds 0, 1); oom (seed 2)"
    assert Cell(failures={0: "n/a"}, skipped_seeds={0}).status == "skipped"


def test_cell_text_says_the_seed_count_only_where_it_differs() -> None:
    two = Cell(by_seed={0: 1.0, 1: 2.0})
    assert cell_text(two, seeds=2) == "1.500 ± 0.707"
    assert cell_text(two, seeds=3) == "1.500 ± 0.707 (2 seeds)"
    assert cell_text(Cell(by_seed={0: 7.0}), seeds=1) == "7.000"
    assert cell_text(Cell(by_seed={0: 7.0}), seeds=3) == "7.000 (1 seed)"
    partial = Cell(by_seed={0: 1.0, 1: 2.0}, failures={2: "oom"})
    assert cell_text(partial, seeds=3) == "1.500 ± 0.707 (2/3 seeds)"


def test_variants_in_natural_order_and_protocol_extractor_shortened() -> None:
    assert sorted(["k=10", "k=1", "k=20", "k=5"], key=variant_order) == [
        "k=1",
        "k=5",
        "k=10",
        "k=20",
    ]
    assert sorted(["reference", "latent", ""], key=variant_order) == ["", "latent", "reference"]
    assert extractor_label("protocol:afhq@845d5b41e828") == "protocol clf."
    assert extractor_label("protocol:afhq@845d5b41e828", 2) == "protocol:afhq@845d5b41e828"
    assert extractor_label("inception-v3-compat") == "inception-v3-compat"


def test_a_column_shows_the_label_its_metric_declared(tmp_path) -> None:
    """A family outside the suite declares its own label; the report needs no table entry."""
    from benchmark import records
    from benchmark.report.model import collect

    for seed, v in enumerate((0.25, 0.5)):
        records.write(
            tmp_path,
            records.Record(
                protocol="afhq",
                protocol_hash="abc",
                baseline="mine",
                seed=seed,
                metric="edge_f1",
                value=v,
                direction="higher",
                provenance={"metric_label": "Edge F1", "metric_version": 2},
            ),
        )
    (table,) = collect(tmp_path).tables
    (col,) = table.columns
    assert (col.metric, col.name, col.arrow) == ("edge_f1", "Edge F1", "↑")


def test_display_names_highlight_headline_and_one_format_per_column(tmp_path) -> None:
    from benchmark.report.model import collect
    from tests.report import fixtures as fx

    root = fx.make_results(tmp_path)
    (t,) = [t for t in collect(root).tables if t.protocol == "afhq" and t.current]
    assert [(c.metric, c.variant) for c in t.headline][:1] == [("fid", "latent")]
    assert all(c.extractor == fx.EXT_COMPAT for c in t.headline if c.metric == "fid")
    named = collect(root, names={"munit": "MUNIT"}, highlight="stargan_v2", digits=1)
    (t,) = [t for t in named.tables if t.protocol == "afhq" and t.current]
    rows = {r.baseline: r for r in t.rows}
    assert rows["munit"].name == "MUNIT" and rows["stargan_v2"].name == "Ours"
    assert rows["stargan_v2"].highlight and not rows["munit"].highlight
    assert rows["drit"].name == "drit"  # records made before display names: the id
    assert {c.fmt.decimals for c in t.columns} == {1}


def test_a_method_not_significantly_worse_than_the_best_is_marked(tmp_path) -> None:
    """Three seeds: "close" overlaps the best (paired t-test, Holm over two methods: p > 0.05),
    "far" is worse on every seed by a wide margin; the mark reaches every report format."""
    from scipy import stats as sps

    from benchmark import records
    from benchmark.report import render_all
    from benchmark.report.model import collect

    seeds = {
        "best": (10.0, 10.1, 9.9),
        "close": (10.2, 9.8, 10.3),
        "far": (20.0, 21.0, 19.5),
    }
    for name, values in seeds.items():
        for seed, v in enumerate(values):
            records.write(
                tmp_path,
                records.Record(
                    protocol="afhq",
                    protocol_hash="abc",
                    baseline=name,
                    seed=seed,
                    metric="fid",
                    variant="latent",
                    value=v,
                    direction="lower",
                ),
            )
    p_close = sps.ttest_rel(seeds["close"], seeds["best"], alternative="greater").pvalue
    p_far = sps.ttest_rel(seeds["far"], seeds["best"], alternative="greater").pvalue
    assert p_close > 0.05 and p_far * 2 < 0.05  # Holm: the smaller p doubled
    (t,) = collect(tmp_path).tables
    (col,) = t.columns
    cells = {r.baseline: r.cells[col.key] for r in t.rows}
    assert (cells["best"].rank, cells["best"].near_best) == (1, False)
    assert cells["close"].near_best and not cells["far"].near_best
    render_all(tmp_path, tmp_path / "report")
    html = (tmp_path / "report" / "index.html").read_text()
    assert html.count('class="near"') == 1
    assert "| close | 10.10 ± 0.26 ≈ |" in (tmp_path / "report" / "leaderboard.md").read_text()
    assert r"$^{\approx}$" in (tmp_path / "report" / "tables.tex").read_text()
