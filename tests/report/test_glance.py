"""A leaderboard readable at a glance, checked in the page's structure (the browser's view is
tests/report/test_chromium.py): the overview first, default tables holding the source paper's
columns and no more than fit a 1366 px window, the rest behind "more metrics", one number
format per column, n/a, skipped, failed and 0 told apart, sample grids collapsed in natural K
order with true captions, a glossary, one colour per method in every figure, and profile pages
in units.

Rendered once from a copy of the committed smoke-grid records (results/reference: five
protocols, tables of 4 to 35 columns), plus sample PNGs and a profile at three batch sizes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from benchmark import records
from benchmark.records import Record
from benchmark.report import glossary, grids, html, plots, render_all
from benchmark.report.model import Results, collect
from tests.report import fixtures as fx
from tests.report.dom import Node, parse
from tests.report.test_report import cell, header_labels, leaderboards

REFERENCE = Path(__file__).parents[2] / "results" / "reference"
PROFILED = "munit"


def slug_of(root: Path, protocol: str) -> str:
    (found,) = [p.name for p in (root / "records").iterdir() if p.name.startswith(protocol + "-")]
    return found


def glance_results(root: Path) -> Path:
    """The smoke grid's records, sample PNGs for afhq and animal_faces (K out of order on
    disk), and a CPU profile of munit at batch sizes 1, 4 and 16 (and 1 with a reference)."""
    shutil.copytree(REFERENCE / "records", root / "records")
    afhq, faces = slug_of(root, "afhq"), slug_of(root, "animal_faces")
    for b in ("munit", "stargan_v2", "identity"):
        fx._samples(root, afhq, b, "cat2dog--latent", outs=3, refs=0, target=False)
        fx._samples(root, afhq, b, "cat2dog--reference", outs=3, refs=1, target=False)
    for k in (1, 10, 15, 20, 5):
        for b in ("funit", "identity"):
            fx._samples(root, faces, b, f"k={k}--reference", outs=1, refs=k, target=False)
    phash = afhq.split("-", 1)[1]
    rss = "process peak RSS growth over one call (/proc VmHWM after clear_refs - VmRSS)"

    def rec(metric: str, value: float, variant: str = "", **extra) -> None:
        records.write(
            root,
            Record(
                "afhq",
                phash,
                PROFILED,
                0,
                metric,
                value,
                variant=variant,
                provenance={"device": "cpu x86_64 (2 cores)", "memory": rss},
                extra=extra,
            ),
        )

    for bs, lat in ((1, 1.4), (4, 3.9), (16, 14.2)):
        rec("latency_ms", lat, f"bs={bs}", p10=lat * 0.95, p90=lat * 1.1)
        rec("throughput", bs * 1000 / lat, f"bs={bs}", unit="images/s")
        rec("peak_memory_mb", 0.67 * bs, f"bs={bs}")
    rec("latency_ms", 1.8, "bs=1,reference", p10=1.7, p90=1.9)
    rec("params", 53_248_000.0)
    rec("flops", 9.9e10)
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return glance_results(tmp_path_factory.mktemp("glance"))


@pytest.fixture(scope="module")
def out(root: Path) -> Path:
    render_all(root, root / "report")
    return root / "report"


@pytest.fixture(scope="module")
def results(root: Path) -> Results:
    return collect(root)


@pytest.fixture(scope="module")
def page(out: Path) -> Node:
    return parse((out / "index.html").read_text(encoding="utf-8"))


def protocol_section(page: Node, protocol: str) -> Node:
    (sec,) = [
        s
        for s in page.find_all("section", class_="protocol")
        if s.attrs["data-protocol"] == protocol
    ]
    return sec


def test_overview_first_names_each_protocols_headline_and_leader(
    page: Node, results: Results
) -> None:
    (body,) = page.find_all("body")
    order = [n for n in body.iter() if n.attrs.get("id") == "overview" or n.tag == "section"]
    assert order[0].attrs.get("id") == "overview"  # before the first protocol's tables
    cards = order[0].find_all("div", class_="card")
    assert [c.attrs["data-slug"] for c in cards] == [t.slug for t in results.tables if t.current]
    for card, table in zip(cards, results.tables, strict=True):
        # the first headline column most methods have a number for: offline, edges2shoes'
        # LPIPS diversity is skipped for every multimodal method, so its card shows FID
        methods = [r for r in table.rows if not r.oracle]
        head = next(
            c
            for c in table.headline
            if 2 * sum(r.cells[c.key].summary is not None for r in methods) > len(methods)
        )
        if table.protocol == "edges2shoes":
            assert table.headline[0].metric == "lpips_diversity" and head.metric == "fid"
        (metric,) = card.find_all("p", class_="metric")
        assert metric.text.startswith(table.short_label(head))
        ranked = [r for r in table.rows if r.cells[head.key].rank == 1 and not r.oracle]
        (leader,) = card.find_all("p", class_="leader")
        if ranked:
            assert leader.text == "Best: " + " and ".join(r.name for r in ranked)
        bars = card.find_all("li")
        assert len(bars) == len(table.rows)
        oracle = [("oracle" in li.classes()) for li in bars]
        assert oracle == sorted(oracle), "oracles come after the methods"
    afhq = cards[0]
    (fid,) = [t for t in results.tables if t.protocol == "afhq"]
    head = fid.headline[0]
    values = [li.find_all("span", class_="val")[0].text for li in afhq.find_all("li")]
    methods = [r for r in fid.rows if not r.oracle and r.cells[head.key].summary]
    best_first = sorted(methods, key=lambda r: r.cells[head.key].summary.mean)
    assert values[: len(methods)] == [
        head.fmt.num(r.cells[head.key].summary.mean) for r in best_first
    ]
    # each bar in its method's colour, the same as in every figure
    first = afhq.find_all("li")[0]
    (bar,) = first.find_all("span", class_="bar")
    assert plots.style(first.attrs["data-baseline"]).color in bar.attrs["style"]
    assert "best" in first.classes()


def test_default_tables_hold_the_papers_columns_and_the_rest_waits_behind_more(
    page: Node, results: Results
) -> None:
    for table in (t for t in results.tables if t.current):
        sec = protocol_section(page, table.protocol)
        shown, more = leaderboards(sec, "shown"), leaderboards(sec, "more")
        labels = [h for t in shown for h in header_labels(t)[1:] if not h.startswith("Latency")]
        assert len(labels) == len(table.headline), table.protocol
        for t in shown + more:  # no more metric columns than fit the window
            metric_cols = [h for h in header_labels(t)[1:] if not h.startswith("Latency")]
            assert 1 <= len(metric_cols) <= html.MAX_COLUMNS, (table.protocol, metric_cols)
        every = [
            h for t in shown + more for h in header_labels(t)[1:] if not h.startswith("Latency")
        ]
        assert len(every) == len(table.columns) == len(set(every)), "each column exactly once"
        assert shown
        (details,) = sec.find_all("details", class_="more") if more else [None]
        if details is not None:
            assert "open" not in details.attrs  # collapsed by default
    faces = protocol_section(page, "animal_faces")
    groups = [
        th.text for t in leaderboards(faces, "shown") for th in t.find_all("th", class_="group")
    ]
    assert groups == ["k=1", "k=5", "k=10", "k=15", "k=20"]  # FUNIT's table, one per K


def test_one_format_per_column_and_every_state_reads_differently(page: Node) -> None:
    afhq = protocol_section(page, "afhq")
    assert cell(afhq, "cyclegan", "reference FID").text == "n/a"  # no style input: not a skip
    assert "na" in cell(afhq, "cyclegan", "reference FID").classes()
    skipped = cell(afhq, "munit", "latent LPIPS diversity")
    assert skipped.text.startswith("skipped: AlexNet") and "skipped" in skipped.classes()
    zero = cell(afhq, "cyclegan", "latent LPIPS diversity")
    assert zero.text == "0.0000" and "num" in zero.classes()  # a measured zero
    (notes,) = afhq.find_all("div", class_="not-applicable")
    assert "reference-guided synthesis does not apply" in notes.text
    (fails,) = afhq.find_all("div", class_="failures")
    assert "does not apply" not in fails.text  # said once above, not per method
    e2s = protocol_section(page, "edges2shoes")
    assert cell(e2s, "ground_truth", "PSNR").text == "∞"  # the exact copy's capped PSNR
    texts = [td.text for td in page.find_all("td") if "num" in td.classes()]
    assert not [t for t in texts if re.search(r"\de[-+]?\d", t)], "no scientific notation"
    # every number of a column has the same decimals
    for table in leaderboards(afhq):
        labels = header_labels(table)
        for j in range(1, len(labels)):
            nums = {
                len(m.group(1))
                for r in table.find_all("tr")
                if "data-baseline" in r.attrs
                for m in [
                    re.fullmatch(
                        r"-?\d+\.(\d+)", cell(table, r.attrs["data-baseline"], labels[j]).text
                    )
                ]
                if m
            }
            assert len(nums) <= 1, (labels[j], nums)
    # bold best and underlined second, among methods only
    marks = {c for td in afhq.find_all("td") for c in td.classes() & {"best", "second"}}
    assert marks == {"best", "second"}
    for tr in afhq.find_all("tr", class_="oracle"):
        assert not any({"best", "second"} & td.classes() for td in tr.find_all("td"))


def test_kid_header_says_its_scale(page: Node) -> None:
    afhq = protocol_section(page, "afhq")
    labels = [h for t in leaderboards(afhq) for h in header_labels(t)]
    assert "latent KID ×10³ ↓ protocol clf." in labels


def test_sample_grids_collapsed_in_natural_order_with_true_captions(
    page: Node, results: Results
) -> None:
    faces = protocol_section(page, "animal_faces")
    (samples,) = faces.find_all("details", class_="samples")
    assert "open" not in samples.attrs
    captions = [f.find_all("figcaption")[0].text for f in samples.find_all("figure")]
    assert [c.split(",")[0] for c in captions] == ["k=1", "k=5", "k=10", "k=15", "k=20"]
    assert "2 of 5 references (ref)" in captions[1]
    assert "1 reference (ref)" in captions[0] and "1 output (out)" in captions[0]
    names = {r.baseline: r.name for t in results.tables for r in t.rows}
    assert f"rows: {names['funit']}, {names['identity']}." in captions[0]  # display names
    afhq = protocol_section(page, "afhq")
    (latent, reference) = [
        f.find_all("figcaption")[0].text
        for f in afhq.find_all("details", class_="samples")[0].find_all("figure")
    ]
    assert "reference" not in latent.split(":")[1] and "3 outputs (out)" in latent
    assert "1 reference (ref)" in reference


def test_grid_headers_stay_over_their_own_tiles(tmp_path: Path) -> None:
    """Each header is drawn inside its tile's width: "ref 1" no longer runs into "ref 2"."""
    import numpy as np
    from PIL import Image

    fx._samples(tmp_path, "p-1", "funit", "k=5--reference", outs=1, refs=5, target=True)
    (grid,) = grids.render_grids(tmp_path, "p-1", tmp_path / "out")
    assert (grid.refs, grid.refs_available, grid.outputs, grid.target) == (2, 5, 1, True)
    with Image.open(grid.path) as im:
        head = np.asarray(im.convert("L"))[: grids.HEADER_H, grids.LABEL_W :]
    tile = 64
    ink = head < 128
    for j in range(5):  # input, ref 1, ref 2, out 1, target: ink in each tile, none in gaps
        x = j * (tile + grids.GAP)
        assert ink[:, x : x + tile].any(), j
        assert not ink[:, x + tile : x + tile + grids.GAP].any(), j


def test_glossary_defines_every_column_with_extractor_and_image_counts(
    page: Node, results: Results
) -> None:
    (gl,) = [n for n in page.find_all("div") if n.attrs.get("id") == "glossary"]
    terms = [dt.attrs["id"].removeprefix("metric-") for dt in gl.find_all("dt")]
    metrics = {c.metric for t in results.tables if t.current for c in t.columns}
    assert metrics <= set(terms)
    assert all(m in glossary.DEFINITIONS for m in metrics), metrics - set(glossary.DEFINITIONS)
    text = gl.text
    assert "96 real, 18 generated per task (6 tasks)" in text  # afhq FID, from provenance
    assert "lower is better" in text and "higher is better" in text
    (afhq,) = [t for t in results.tables if t.protocol == "afhq"]
    fid = afhq.headline[0]
    note = glossary.column_note(afhq, fid)
    assert "Fréchet" in note and "protocol:afhq@" in note and "96 real" in note


def test_plots_one_colour_per_method_legend_no_labels_on_points(
    results: Results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda path, fig: figures.append((path, fig)))
    seen: dict[str, set[str]] = {}
    for table in results.tables:
        for make in (plots.quality_diversity, plots.quality_vs_speed, plots.metric_vs_seed):
            make(table, tmp_path)
    assert figures
    names = {r.name: r for t in results.tables for r in t.rows}
    for path, fig in figures:
        FigureCanvasAgg(fig).draw()
        (legend,) = fig.legends
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels
        for ax in fig.axes:
            assert not ax.texts, f"{path.name}: text beside points overlaps"
            drawn = [(c.get_label(), c.lines[0]) for c in ax.containers]  # errorbar points
            drawn += [(ln.get_label(), ln) for ln in ax.lines]
            for label, line in drawn:
                if not label.startswith("_"):
                    seen.setdefault(label, set()).add(str(line.get_color()))
            ticks = [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
            assert not [t for t in ticks if re.search(r"\de[-+]?\d|×10", t)], ticks
        # nothing outside the figure: legend and labels fit (constrained layout)
        box = fig.bbox
        renderer = fig.canvas.get_renderer()
        for artist in (
            legend,
            *(a.xaxis.label for a in fig.axes),
            *(a.yaxis.label for a in fig.axes),
        ):
            ext = artist.get_window_extent(renderer)
            assert ext.x0 >= -1 and ext.y0 >= -1 and ext.x1 <= box.x1 + 1 and ext.y1 <= box.y1 + 1
        if any("(oracle)" in lb for lb in labels):
            assert "oracle" in legend.get_title().get_text()
    assert len(seen) >= 8 and any(label.endswith(" (oracle)") for label in seen), seen
    assert all(len(colors) == 1 for colors in seen.values()), seen  # one colour everywhere
    for label in seen:
        row = names[label.removesuffix(" (oracle)")]
        assert seen[label] == {plots.row_style(row).color}


def test_palette_is_keyed_by_name() -> None:
    methods = list(plots.METHOD_COLORS)
    colors = [plots.style(m).color for m in methods]
    assert len(set(colors)) == len(colors)  # the suite's methods never share a colour
    assert plots.style("mypkg.model:MyNet") == plots.style("mypkg.model:MyNet")
    assert plots.style("identity", oracle=True).marker != "o"
    assert all(plots.style(m, oracle=True).color not in colors for m in plots.ORACLE_STYLES)


def test_profile_page_in_units_with_honest_names(out: Path) -> None:
    prof_path = out / "profile" / f"{PROFILED}.html"
    prof = parse(prof_path.read_text(encoding="utf-8"))
    (summary,) = prof.find_all("table", class_="summary")
    rows = {
        (tr.attrs["data-metric"], tr.attrs["data-variant"]): [td.text for td in tr.find_all("td")]
        for tr in summary.find_all("tbody")[0].iter("tr")
    }
    assert rows[("peak_memory_mb", "bs=1")][0] == "RSS growth over one call (MB)"
    assert rows[("throughput", "bs=4")][0] == "Throughput (images/s)"
    assert rows[("latency_ms", "bs=1,reference")][1:3] == ["1", "reference"]
    assert rows[("params", "")][3] == "53.2M"
    assert rows[("flops", "")][3] == "99.0G"
    text = prof.text
    assert "latency_ms" not in text and "peak_memory_mb" not in text
    (img,) = prof.find_all("img")  # three batch sizes: a curve
    assert (prof_path.parent / img.attrs["src"]).is_file()
    # a method timed at one batch size gets no one-point "curve", and the page says why
    others = [p for p in (out / "profile").glob("*.html") if p != prof_path]
    for path in others:
        doc = parse(path.read_text(encoding="utf-8"))
        assert not doc.find_all("img")
        assert "no curve to draw" in doc.text


def test_rows_show_display_names(page: Node, results: Results) -> None:
    for table in (t for t in results.tables if t.current):
        shown = leaderboards(protocol_section(page, table.protocol), "shown")[0]
        heads = {
            tr.attrs["data-baseline"]: str(tr.find_all("th")[0].children[0]).strip()
            for tr in shown.find_all("tr")
            if "data-baseline" in tr.attrs
        }
        assert heads == {r.baseline: r.name for r in table.rows}
