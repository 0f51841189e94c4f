"""The report as a reader sees it: rendered from fixture records through the CLI, then checked
in the DOM (tables, best marks, failed cells, images), the Markdown, LaTeX and CSV, and the
one-line errors for bad input."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats as sps

import benchmark.cli
from benchmark.errors import UserError
from benchmark.records import Record, write
from benchmark.report import grids, plots, render_all
from benchmark.report.model import collect
from tests.report import fixtures as fx
from tests.report.dom import Node, parse


def run_cli(argv: list[str]) -> int:
    return benchmark.cli.main(argv)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def out(results: Path) -> Path:
    """Rendered once through the CLI with the default --out (RESULTS_DIR/report)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert run_cli(["report", str(results)]) == 0
    out = results / "report"
    assert printed.getvalue().splitlines()[0] == f"leaderboard: {out / 'index.html'}"
    return out


@pytest.fixture(scope="module")
def page(out: Path) -> Node:
    return parse((out / "index.html").read_text(encoding="utf-8"))


def section(page: Node, protocol: str, phash: str) -> Node:
    (sec,) = page.find_all("section", **{"data-protocol": protocol, "data-hash": phash})
    return sec


def header_labels(table: Node) -> list[str]:
    """Each column's header as a reader sees it: its variant group (the row above, when the
    table has one) then its own text: "latent FID ↓ inception-v3-compat"; "Baseline" first."""
    (thead,) = table.find_all("thead")
    groups = [
        g.text for g in thead.find_all("th", class_="group") for _ in range(int(g.attrs["colspan"]))
    ]
    heads = sorted(thead.find_all("th"), key=lambda th: int(th.attrs.get("data-col", -1)))
    heads = [th for th in heads if "data-col" in th.attrs]
    assert [int(th.attrs["data-col"]) for th in heads] == list(range(len(heads)))
    labels = []
    for i, th in enumerate(heads):
        if "baseline" in th.classes():
            labels.append("Baseline")
            continue
        group = groups[i - 1] if 0 < i <= len(groups) else ""
        labels.append(f"{group} {th.text}".strip())
    return labels


def leaderboards(sec: Node, where: str = "all") -> list[Node]:
    """A protocol section's leaderboard tables: "shown" by default, behind "more", or all."""
    more = [t for d in sec.find_all("details", class_="more") for t in d.find_all("table")]
    every = sec.find_all("table", class_="leaderboard")
    if where == "more":
        return more
    if where == "shown":
        return [t for t in every if all(t is not m for m in more)]
    return every


def section_labels(sec: Node, where: str = "all") -> list[str]:
    """Every column header of a section's tables, in page order, without the Baseline column."""
    return [h for t in leaderboards(sec, where) for h in header_labels(t)[1:]]


def row(table: Node, baseline: str) -> Node:
    (tr,) = table.find_all("tr", **{"data-baseline": baseline})
    return tr


def cell(table: Node, baseline: str, header_prefix: str) -> Node:
    """The td under the first header starting with ``header_prefix`` (colspans counted); a
    section finds it in whichever of its tables holds that column."""
    if table.tag == "section":
        for t in leaderboards(table):
            if any(h.startswith(header_prefix) for h in header_labels(t)):
                return cell(t, baseline, header_prefix)
        raise AssertionError(f"no column {header_prefix} in the section")
    labels = header_labels(table)
    index = next(i for i, h in enumerate(labels) if h.startswith(header_prefix))
    col = 0
    for c in (n for n in row(table, baseline).children if isinstance(n, Node)):
        col += int(c.attrs.get("colspan", 1))
        if col > index:
            return c
    raise AssertionError(f"no cell {header_prefix} for {baseline}")


def test_one_table_per_protocol_version_and_old_versions_labelled(page: Node) -> None:
    sections = page.find_all("section", class_="protocol")
    assert [(s.attrs["data-protocol"], s.attrs["data-hash"]) for s in sections] == [
        ("afhq", fx.AFHQ_HASH),
        ("afhq", fx.AFHQ_OLD_HASH),
        ("edges2shoes", fx.E2S_HASH),
    ]
    old = section(page, "afhq", fx.AFHQ_OLD_HASH)
    assert "old" in old.classes()
    assert "older protocol version" in old.find_all("h2")[0].text
    assert fx.AFHQ_HASH in old.find_all("h2")[0].text
    current = section(page, "afhq", fx.AFHQ_HASH)
    assert "older" not in current.find_all("h2")[0].text
    assert "synthetic data" in current.find_all("h2")[0].text
    # the old version's munit numbers stay in its own table
    (old_table,) = old.find_all("table", class_="leaderboard")
    assert [
        r.attrs["data-baseline"] for r in old_table.find_all("tr") if "data-baseline" in r.attrs
    ] == ["munit"]
    assert cell(old_table, "munit", "latent FID").text == "51.00 ± 1.00"
    assert cell(current, "munit", "latent FID").text == "41.50 ± 0.50"


def test_extractors_and_variants_are_separate_columns_with_directions(page: Node) -> None:
    sec = section(page, "afhq", fx.AFHQ_HASH)
    # shown: the columns StarGAN v2 reports (FID with the paper's extractor, per mode), grouped
    # by variant (a header row above), and the speed column; the rest behind "more metrics"
    (shown,) = leaderboards(sec, "shown")
    assert header_labels(shown) == [
        "Baseline",
        f"latent FID ↓ {fx.EXT_COMPAT}",
        f"reference FID ↓ {fx.EXT_COMPAT}",
        "Latency bs=1 (ms) ↓ profile",
    ]
    assert section_labels(sec, "more") == [
        "latent FID ↓ protocol clf.",  # the protocol classifier shortened
        "latent LPIPS ↑",
        "reference LPIPS ↑",
    ]
    (more,) = leaderboards(sec, "more")
    ths = sorted(more.find_all("th", scope="col"), key=lambda th: int(th.attrs["data-col"]))
    assert [th.attrs["data-dir"] for th in ths[1:]] == ["lower", "higher", "higher"]
    assert fx.EXT_PROTO in ths[1].attrs["title"]  # the full id behind "protocol clf."
    assert "lower is better" in ths[1].attrs["title"] and "Fréchet" in ths[1].attrs["title"]
    compat = next(th for th in shown.find_all("th") if th.attrs.get("data-col") == "1")
    assert "9" * 12 in compat.attrs["title"]  # the extractor's weights hash on hover
    assert "images: 200 real, 50 generated" in compat.attrs["title"]
    assert "sortable" in shown.classes() and "sortable" in more.classes()


def test_cells_show_mean_std_and_t_interval_on_hover(page: Node) -> None:
    sec = section(page, "afhq", fx.AFHQ_HASH)
    values = fx.AFHQ["stargan_v2"][("fid", "latent", fx.EXT_COMPAT, "lower")]
    td = cell(sec, "stargan_v2", f"latent FID ↓ {fx.EXT_COMPAT}")
    mean, std = np.mean(values), np.std(values, ddof=1)
    assert td.text == f"{mean:.2f} ± {std:.2f}"
    # Student-t 95% interval of the mean over the seeds (benchmark.stats.summarize)
    half = sps.t.ppf(0.975, len(values) - 1) * std / np.sqrt(len(values))
    title = td.attrs["title"]
    assert f"95% t interval [{mean - half:.2f}, {mean + half:.2f}]" in title
    assert "bootstrap" not in title
    assert "per seed: 16.00, 16.20, 16.40" in title
    assert float(td.attrs["data-sort"]) == pytest.approx(mean)


def test_best_marked_per_column_and_never_an_oracle(page: Node) -> None:
    afhq = section(page, "afhq", fx.AFHQ_HASH)
    baselines = [r.attrs["data-baseline"] for r in leaderboards(afhq)[0].find_all("tr")[2:]]
    best = {
        label: [b for b in baselines if "best" in cell(afhq, b, label).classes()]
        for label in section_labels(afhq)
    }
    assert best == {
        f"latent FID ↓ {fx.EXT_COMPAT}": ["stargan_v2"],
        f"reference FID ↓ {fx.EXT_COMPAT}": ["stargan_v2"],
        "Latency bs=1 (ms) ↓ profile": [],  # only one baseline was profiled
        "latent FID ↓ protocol clf.": ["stargan_v2"],
        "latent LPIPS ↑": ["munit"],
        "reference LPIPS ↑": ["stargan_v2"],
    }
    # two methods per column here: a second place needs three distinct values
    assert not [td for td in afhq.find_all("td") if "second" in td.classes()]
    e2s = section(page, "edges2shoes", fx.E2S_HASH)
    # ground_truth has the lowest FID but is an oracle: pix2pix gets the mark
    assert "best" not in cell(e2s, "ground_truth", "FID").classes()
    assert "best" in cell(e2s, "pix2pix", "FID").classes()
    for table in leaderboards(e2s):
        assert "oracle" in row(table, "ground_truth").classes()


def test_failed_cells_show_their_reason(page: Node) -> None:
    afhq = section(page, "afhq", fx.AFHQ_HASH)
    for table in leaderboards(afhq):  # one merged cell across each table's metric columns
        (td,) = [c for c in row(table, "drit").find_all("td") if "failed" in c.classes()]
        speed = len(table.find_all("th", class_="speed"))
        assert td.attrs["colspan"] == str(len(header_labels(table)) - 1 - speed)
        assert td.text.startswith("failed: ") and fx.DRIT_REASON in td.text
        assert "seeds 0, 1, 2" in td.text
    e2s = section(page, "edges2shoes", fx.E2S_HASH)
    partial = cell(e2s, "bicyclegan", "FID")
    assert "partial" in partial.classes()
    assert partial.text == "64.50 ± 0.71 (2/3 seeds)"
    assert fx.BICYCLE_REASON in partial.attrs["title"]


def test_speed_column_and_profile_page(out: Path, page: Node) -> None:
    afhq = section(page, "afhq", fx.AFHQ_HASH)
    assert cell(afhq, "stargan_v2", "Latency").text == "12.50 ± 0.50"
    assert cell(afhq, "munit", "Latency").text == "–"  # no profile record
    (shown,) = leaderboards(afhq, "shown")
    (link,) = row(shown, "stargan_v2").find_all("a")
    prof_path = out / link.attrs["href"]
    prof = parse(prof_path.read_text(encoding="utf-8"))
    kinds = {t.attrs["data-kind"]: t for t in prof.find_all("table", class_="kernels")}
    assert set(kinds) == {"cuda", "cpu"}
    for kind, first in (("cuda", "CUDA kernel"), ("cpu", "CPU operator")):
        assert next(kinds[kind].find_all("thead")[0].iter("th")).text == first
    names = [tr.find_all("td")[0].text for tr in kinds["cuda"].find_all("tbody")[0].iter("tr")]
    assert names == ["volta_sgemm_128x64_nn", "void at::native::elementwise_kernel<128, 2>"]
    shares = [tr.find_all("td")[2].text for tr in kinds["cpu"].find_all("tbody")[0].iter("tr")]
    assert shares == ["75.0%", "25.0%"]
    traces = [a for a in prof.find_all("a") if "trace" in a.attrs["href"]]
    assert len(traces) == 1 and (prof_path.parent / traces[0].attrs["href"]).is_file()
    assert prof.text.count("(file not found)") == 2
    check_images(prof, prof_path.parent, minimum=1)


def check_images(doc: Node, base: Path, minimum: int) -> list[Path]:
    imgs = doc.find_all("img")
    assert len(imgs) >= minimum
    paths = []
    for img in imgs:
        src = img.attrs["src"]
        assert "://" not in src and not src.startswith(("/", "data:http"))
        path = base / src
        with Image.open(path) as im:
            im.verify()  # a complete, decodable PNG
        with Image.open(path) as im:
            assert im.width > 50 and im.height > 50
        paths.append(path)
    return paths


def test_images_present_loadable_and_no_external_urls(out: Path, page: Node) -> None:
    paths = check_images(page, out, minimum=8)
    assert {p.parent.name for p in paths} >= {"plots", f"afhq-{fx.AFHQ_HASH}"}
    for node in page.iter():
        for key in ("src", "href"):
            value = node.attrs.get(key, "")
            assert "://" not in value, f"external URL in <{node.tag} {key}={value}>"
    assert not page.find_all("link") and all("src" not in s.attrs for s in page.find_all("script"))
    assert "url(" not in (out / "index.html").read_text(encoding="utf-8")
    assert not list(out.rglob("*.tmp")), "a temp file was left behind"


def test_sample_grid_places_images_in_their_columns(out: Path) -> None:
    path = out / "grids" / f"edges2shoes-{fx.E2S_HASH}" / "edges2shoes--latent.png"
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float64)
    tile = 64  # 32 px samples are scaled up to the 64 px minimum
    cols = ["input", "out_00", "out_01", "target"]
    rows = 2 * 3  # 2 inputs x 3 baselines
    assert arr.shape == (
        grids.HEADER_H + rows * (tile + grids.GAP),
        grids.LABEL_W + len(cols) * (tile + grids.GAP),
        3,
    )
    expected = {
        "input": (40, 40, 200),
        "out_00": (200, 60, 40),
        "out_01": (200, 100, 40),
        "target": (220, 220, 220),
    }
    for r in range(rows):
        for j, name in enumerate(cols):
            y, x = grids.HEADER_H + r * (tile + grids.GAP), grids.LABEL_W + j * (tile + grids.GAP)
            mean = arr[y : y + tile, x : x + tile].reshape(-1, 3).mean(axis=0)
            assert np.abs(mean - expected[name]).max() < 20, (r, name, mean)


def test_provenance_panel(page: Node) -> None:
    sec = section(page, "afhq", fx.AFHQ_HASH)
    (panel,) = sec.find_all("table", class_="provenance")
    rows = {tr.find_all("th")[0].text: tr.find_all("td")[0].text for tr in panel.iter("tr")}
    assert rows["protocol hash"] == fx.AFHQ_HASH
    assert rows["code_revision"] == "abc123def456"
    assert rows["dataset.fingerprint"] == "fp-afhq"
    assert rows["extractor.weights_sha256"] == "9" * 64
    assert fx.EXT_COMPAT in rows["extractor.name"] and fx.EXT_PROTO in rows["extractor.name"]
    assert rows["samples.fake"] == "50" and rows["versions.torch"] == "2.14.1"
    assert rows["device"].startswith("cpu")
    assert "written_at" not in " ".join(rows)


def test_markdown_leaderboard(out: Path) -> None:
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert f"## afhq @ {fx.AFHQ_HASH} [synthetic data]" in md
    assert f"## afhq @ {fx.AFHQ_OLD_HASH} [synthetic data] [older version; current is" in md
    (line,) = [ln for ln in md.splitlines() if ln.startswith("| stargan_v2 |")]
    assert line.count("**") == 8  # four best cells in bold
    assert "| **16.20 ± 0.20** |" in line
    # each note marked as its cells are (failed†, 64.50 ± 0.71 (2/3 seeds)†)
    assert f"- † failed: {fx.DRIT_REASON} (seeds 0, 1, 2) — drit (every column)" in md
    assert f"- † partial: {fx.BICYCLE_REASON} (seed 2) — bicyclegan (every column)" in md
    assert "| drit | failed† | failed† |" in md
    header = next(ln for ln in md.splitlines() if ln.startswith("| Baseline |"))
    assert "| FID latent (protocol clf.) ↓ |" in header
    assert "Mean ± std over 3 seeds per cell.\n" in md  # afhq: every cell has 3 seeds
    assert "Mean ± std over 3 seeds per cell unless marked." in md  # edges2shoes: one failed


def test_latex_tables(out: Path) -> None:
    """One table per current protocol version: a paper reports the current one (the older
    version is named in a comment; leaderboard.md keeps it). More in test_paper_tables.py."""
    tex = (out / "tables.tex").read_text(encoding="utf-8")
    assert tex.count("\\begin{table}") == 2 == tex.count("\\end{table}")
    assert tex.count("\\toprule") == 2 and tex.count("\\bottomrule") == 2
    assert f"% left out: afhq @ {fx.AFHQ_OLD_HASH}, an older protocol version" in tex
    assert "\\textbf{16.20 $\\pm$ 0.20}" in tex
    assert "stargan\\_v2 &" in tex and "stargan_v2" not in tex.replace("stargan\\_v2", "")
    assert "\\textit{ground\\_truth}" in tex
    body = tex.split("\\label{tab:edges2shoes}")[1]
    assert body.index("pix2pix") < body.index("\\midrule\n\\textit{ground")  # oracle last
    assert "\\textit{failed}" in tex
    no_comments = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    stripped = re.sub(r"\\[{}]", "", no_comments)
    assert stripped.count("{") == stripped.count("}")


def test_csv_holds_every_metric_record_of_a_method(results: Path, out: Path) -> None:
    """Every metric record of a method is a row of results.csv (task "all"), with its value;
    the columns are the fixed tidy ones (tests/report/test_tidy.py checks them in detail)."""
    frame = pd.read_csv(out / "results.csv", keep_default_na=False)
    wanted = [
        json.loads(p.read_text())
        for p in (results / "records").rglob("*.json")
        if not p.name.startswith("_")
    ]
    wanted = [
        r
        for r in wanted
        if r["baseline"] != "protocol_classifier"
        and r["metric"]
        not in ("latency_ms", "throughput", "peak_memory_mb", "params", "flops", "kernels")
        and r["status"] == "ok"
    ]
    assert wanted
    for r in wanted:
        match = frame[
            (frame.baseline == r["baseline"])
            & (frame.seed == r["seed"])
            & (frame.metric == r["metric"])
            & (frame.protocol_hash == r["protocol_hash"])
            & (frame.task == "all")
        ]
        assert any(abs(float(v) - r["value"]) < 1e-9 for v in match.value), r
    assert "std" not in frame.columns and "variant" not in frame.columns


def test_compare_prints_the_answer_with_p_values(results: Path, capsys) -> None:
    rc = run_cli(
        [
            "report",
            str(results),
            "--compare",
            "stargan_v2",
            "munit",
            "--protocol",
            "afhq",
            "--metric",
            "fid",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    a = np.array(fx.AFHQ["stargan_v2"][("fid", "latent", fx.EXT_COMPAT, "lower")])
    b = np.array(fx.AFHQ["munit"][("fid", "latent", fx.EXT_COMPAT, "lower")])
    p = sps.ttest_rel(a, b, alternative="less").pvalue
    (line,) = [
        ln for ln in text.splitlines() if ln.strip().startswith(f"FID latent ({fx.EXT_COMPAT})")
    ]
    assert "YES, stargan_v2 is better than munit" in line and f"={p:.3g}" in line
    assert "LPIPS" not in text  # --metric fid only
    assert fx.AFHQ_OLD_HASH not in text  # stargan_v2 is not in the old version
    assert text.splitlines()[-1].startswith("summary: stargan_v2 better in 3, worse in 0")


def test_compare_errors(results: Path, capsys) -> None:
    assert run_cli(["report", str(results), "--compare", "stargan_v2", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no records for baseline 'nope'" in err
    assert run_cli(["report", str(results), "--compare", "pix2pix", "munit"]) == 2
    assert "share no scored column" in capsys.readouterr().err


def write_record(root: Path, text: str) -> Path:
    path = root / "records" / "afhq-abc" / "munit" / "seed0" / "fid.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '{"protocol": "afhq", "protocol_hash": "abc", "baseline": "munit", "seed": 0, "met',
            "unreadable record",
        ),
        ("[1, 2]", "not a JSON object"),
        (
            '{"protocol": "afhq", "protocol_hash": "abc", "baseline": "munit", "seed": 0, '
            '"metric": "fid", "value": "twelve"}',
            "is not a finite number",
        ),
        (
            '{"protocol": "afhq", "baseline": "munit", "seed": 0, "metric": "fid"}',
            "unreadable record",
        ),
    ],
)
def test_corrupt_record_is_one_line_exit_2(tmp_path: Path, capsys, text: str, message: str) -> None:
    path = write_record(tmp_path, text)
    assert run_cli(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err and str(path) in err
    assert not (tmp_path / "out" / "index.html").exists()


def test_missing_or_empty_results(tmp_path: Path, capsys) -> None:
    assert run_cli(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(UserError, match="no records/ folder"):
        render_all(tmp_path, tmp_path / "out")
    (tmp_path / "records").mkdir()
    with pytest.raises(UserError, match="no records under"):
        render_all(tmp_path, tmp_path / "out")


def test_quality_vs_speed_plots_each_fid_column_where_two_baselines_were_timed(tmp_path):
    root = fx.make_results(tmp_path / "results")

    def afhq(res):
        return next(t for t in res.tables if t.protocol == "afhq" and t.current)

    # the fixture times stargan_v2 only: one point is no trade-off, so no figure
    assert plots.quality_speed_points(afhq(collect(root))) == []
    for seed, latency in zip(fx.SEEDS, (40.0, 41.0, 45.0), strict=True):
        record = Record("afhq", fx.AFHQ_HASH, "munit", seed, "latency_ms", latency, variant="bs=1")
        write(root, record)
    table = afhq(collect(root))
    panels = plots.quality_speed_points(table)
    assert [(c.variant, c.extractor) for c, _ in panels] == [
        ("latent", fx.EXT_COMPAT),
        ("latent", fx.EXT_PROTO),
        ("reference", fx.EXT_COMPAT),
    ]
    for _, rows in panels:  # identity has FID but no timing: left out
        assert sorted(r.baseline for r in rows) == ["munit", "stargan_v2"]
    munit = next(r for r in panels[0][1] if r.baseline == "munit")
    assert munit.speed.summary.mean == pytest.approx(np.mean([40.0, 41.0, 45.0]))
    assert munit.cells[panels[0][0].key].summary.mean == pytest.approx(41.5)

    out = tmp_path / "report"
    render_all(root, out)
    doc = parse((out / "index.html").read_text(encoding="utf-8"))
    figs = [f for f in section(doc, "afhq", fx.AFHQ_HASH).find_all("figure") if "speed" in f.text]
    assert len(figs) == 1 and figs[0].text.startswith("Quality vs speed")
    check_images(figs[0], out, minimum=1)


def test_profile_page_marks_an_unstable_latency(tmp_path):
    root = fx.make_results(tmp_path / "results")
    shaky = {"p10": 10.0, "p90": 25.0, "spread": 2.5, "unstable": True}  # spread: median/min
    write(
        root,
        Record(
            "afhq", fx.AFHQ_HASH, "stargan_v2", 0, "latency_ms", 14.0, variant="bs=64", extra=shaky
        ),
    )
    out = tmp_path / "report"
    render_all(root, out)
    (prof_path,) = out.rglob("stargan_v2*.html")
    (summary,) = parse(prof_path.read_text(encoding="utf-8")).find_all("table", class_="summary")
    spreads = {}
    for tr in summary.find_all("tbody")[0].iter("tr"):
        if tr.attrs["data-metric"] == "latency_ms":
            tds = tr.find_all("td")
            assert tds[0].text == "Latency per call (ms)"
            spreads[tds[1].text] = tds[4]
    assert "unstable" in spreads["64"].classes() and spreads["64"].text.endswith("(unstable)")
    assert "median/min = 2.5x" in spreads["64"].attrs["title"]
    assert "unstable" not in spreads["1"].classes() and "unstable" not in spreads["1"].text
