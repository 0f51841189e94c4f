"""The leaderboard of a default offline run as a person reads it: columns nobody could compute
are left out with one note per reason, the protocol classifier is a line (not a ranked row),
float noise reads 0, the seed count is said once, and labels are readable names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.report import render_all
from benchmark.report.labels import METRIC_LABELS
from benchmark.report.model import collect
from tests.report import fixtures as fx
from tests.report.dom import Node, parse
from tests.report.test_report import cell, leaderboards, section_labels

STANDARD_EXTRACTORS = (fx.EXT_COMPAT, "inception-v3-torchvision")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_offline_results(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def out(results: Path) -> Path:
    render_all(results, results / "report")
    return results / "report"


@pytest.fixture(scope="module")
def section(out: Path) -> Node:
    page = parse((out / "index.html").read_text(encoding="utf-8"))
    (sec,) = page.find_all("section", class_="protocol")
    return sec


@pytest.fixture(scope="module")
def table(section: Node) -> Node:
    """The section: ``cell`` finds a column in whichever of its tables holds it."""
    return section


@pytest.fixture(scope="module")
def md(out: Path) -> str:
    return (out / "leaderboard.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tex(out: Path) -> str:
    return (out / "tables.tex").read_text(encoding="utf-8")


def notes(section: Node, kind: str) -> list[str]:
    (div,) = section.find_all("div", class_=kind)
    return [li.text for li in div.find_all("li")]


def test_all_skipped_columns_dropped_with_one_note_per_reason(
    section: Node, table: Node, md: str, tex: str
) -> None:
    labels = section_labels(section)
    assert labels == [  # the paper's columns, then the rest behind "more metrics"
        "latent FID ↓ protocol clf.",
        "latent LPIPS diversity ↑",
        "Latency bs=1 (ms) ↓ profile",
        "latent CIS ↑ protocol clf.",
        "latent Feature diversity ↑ protocol clf.",
    ]
    assert not any(ext in " ".join(labels) for ext in STANDARD_EXTRACTORS)
    assert not section.find_all("th", class_="group", colspan="1")  # no "" variant group left
    assert notes(section, "not-computed") == [
        f"LPIPS to target: {fx.ALEX_REASON}",
        f"FID, KID with {fx.EXT_COMPAT} (latent): {fx.INCEPTION_REASON}",
        f"IS with inception-v3-torchvision (latent): {fx.TV_REASON}",
    ]
    # each reason once in the Markdown, however many records carried it
    assert md.count(fx.INCEPTION_REASON) == 1 and md.count(fx.TV_REASON) == 1
    header = next(ln for ln in md.splitlines() if ln.startswith("| Baseline |"))
    assert "inception" not in header and "LPIPS to target" not in header
    assert "skipped" not in " ".join(ln for ln in md.splitlines() if ln.startswith("| cyclegan"))
    # the paper table prints none of it (its columns are computed); the author's comment has
    # the reason in full
    printed = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    assert "nception" not in printed
    assert f"% not computed: FID, KID with {fx.EXT_COMPAT} (latent): {fx.INCEPTION_REASON}" in tex


def test_partly_skipped_cells_stay_short_and_their_reason_is_listed_once(
    section: Node, table: Node, md: str
) -> None:
    td = cell(table, "munit", "latent LPIPS diversity")
    assert td.text == f"skipped: {fx.ALEX_REASON}" and "skipped" in td.classes()
    (why,) = td.find_all("span", class_="why")  # cut to one line by the stylesheet
    assert fx.ALEX_REASON in td.attrs["title"]  # and whole on hover
    assert cell(table, "cyclegan", "latent LPIPS diversity").text == "0.0000"  # a measured 0
    listed = [n for n in notes(section, "failures") if fx.ALEX_REASON in n]
    assert listed == [
        f"skipped: {fx.ALEX_REASON} (seed 0) — munit, stargan_v2 (LPIPS diversity latent)"
    ]
    # the AlexNet reason: once for the dropped column, once for these cells
    assert md.count(fx.ALEX_REASON) == 2


def test_a_failure_after_the_metrics_is_still_reported(section: Node, md: str) -> None:
    expected = f"failed: {fx.PROFILE_REASON} (seed 0) — identity (run)"
    assert expected in notes(section, "failures")
    assert f"- ‡ {expected}" in md  # the mark its cells carry (the skipped LPIPS: †)


def test_protocol_classifier_is_a_line_not_a_row(
    out: Path, section: Node, table: Node, md: str, tex: str
) -> None:
    assert not table.find_all("tr", **{"data-baseline": "protocol_classifier"})
    assert "Classifier" not in " ".join(section_labels(table))
    assert "protocol_classifier" not in md and "protocol\\_classifier" not in tex
    line = f"Feature extractor {fx.OFF_EXT} (“protocol clf.” in the columns): held-out "
    line += "top-1 0.9500, top-5 1.000"
    (p,) = section.find_all("p", class_="classifier")
    assert p.text == line + "."
    assert line in md
    # a paper's caption: what the features are, no id or hash (those are TeX comments)
    assert "the protocol classifier's features (held-out top-1 0.950, top-5 1.000)" in tex
    assert fx.OFF_EXT not in "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    panel = section.find_all("table", class_="provenance")[0]
    prov = {tr.find_all("th")[0].text: tr.find_all("td")[0].text for tr in panel.iter("tr")}
    assert prov["classifier: steps"] == "200"
    assert prov["classifier: extra.per_class.dog"] == "0.9000"
    assert "classifier: code_revision" not in prov  # shared with the table: said once
    frame = pd.read_csv(out / "results.csv")
    assert "protocol_classifier" not in set(frame.baseline)  # instrument data, not a method


def test_noise_around_zero_reads_0_and_ties_mark_no_best(table: Node, md: str) -> None:
    # one format per column, never an exponent: noise and 1e-5 both print 0 at its 4 decimals
    assert cell(table, "cyclegan", "latent CIS").text == "0.0000"
    assert cell(table, "identity", "latent CIS").text == "0.0000"
    assert cell(table, "stargan_v2", "latent CIS").text == "0.0000"
    assert cell(table, "munit", "latent CIS").text == "0.0451"
    assert "best" in cell(table, "munit", "latent CIS").classes()
    # FID 11.58, 14.33, 28.04: best bold, second underlined (the oracle never ranked)
    assert "best" in cell(table, "cyclegan", "latent FID").classes()
    assert "second" in cell(table, "munit", "latent FID").classes()
    assert not {"best", "second"} & cell(table, "identity", "latent FID").classes()
    assert "e-0" not in " ".join(td.text for td in table.find_all("td"))
    assert "e-18" not in md and "e-19" not in md
    # every method at diversity 0 is nobody's win
    for b in ("cyclegan", "munit", "stargan_v2"):
        assert "best" not in cell(table, b, "latent Feature diversity").classes()


def test_seed_count_said_once_in_the_caption(table: Node, md: str, tex: str) -> None:
    (caption,) = table.find_all("caption")  # on the first table only
    assert caption.text.startswith("1 seed per cell (no std)")
    texts = [td.text for td in table.find_all("td")]
    assert texts and not any("seed" in t for t in texts)
    assert "1 seed per cell (no std)." in md and "(1 seed)" not in md
    assert "One seed (no std); " in tex and "seed" not in tex.split("\\label")[1]


def test_each_table_in_its_box_with_a_sticky_header_and_baseline_column(section: Node) -> None:
    tables = leaderboards(section)
    boxes = section.find_all("div", class_="scroll")
    assert len(boxes) == len(tables) == 2
    for box, table in zip(boxes, tables, strict=True):
        assert box.find_all("table") == [table]
        (first,) = [th for th in table.find_all("th") if th.attrs.get("data-col") == "0"]
        assert "baseline" in first.classes()
    css = (Path(__file__).parents[2] / "benchmark/report/templates/style.css").read_text()
    assert "table.leaderboard thead { position: sticky; top: 0;" in css
    # a narrow window scrolls a table in its box; a wide one never needs to
    assert "@media (max-width: 1100px)" in css and "overflow-x: auto" in css


def test_every_declared_metric_reads_the_same_in_old_and_new_results_folders() -> None:
    """New records carry the label their metric declares; records written before labels were
    declared are named by the report's table: both must agree."""
    from benchmark.metrics import METRICS, families

    families()  # the built-in families declare their metrics on import
    assert len(METRICS) >= 17
    assert {name: m.label for name, m in METRICS.items()} == {
        name: METRIC_LABELS[name] for name in METRICS
    }


def test_model_keeps_dropped_columns_and_classifier_out_of_rows(results: Path) -> None:
    (t,) = collect(results).tables
    assert [r.baseline for r in t.rows] == ["cyclegan", "identity", "munit", "stargan_v2"]
    assert {c.metric for c in t.columns} == {"fid", "cis", "lpips_diversity", "feature_diversity"}
    assert sorted(t.not_computed) == sorted({fx.INCEPTION_REASON, fx.TV_REASON, fx.ALEX_REASON})
    assert set(t.classifier) == {(fx.OFF_EXT, "top1"), (fx.OFF_EXT, "top5")}
    assert t.seed_count == 1 and t.uniform_seeds
