"""Tables a paper pastes: tables.tex and paper.tex (benchmark.report.latex) and leaderboard.md
(benchmark.report.tables), from fixture records whose values the tests know: display names,
one format per column, bold best and underlined second, marks tied to notes, captions without
paths or hashes, stable labels, tables split to the text width, and the report command's
options and their one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import benchmark.cli
from benchmark.errors import UserError
from benchmark.records import Record, write
from benchmark.report import latex, tables
from benchmark.report.cli import parse_names
from benchmark.report.model import Results, collect
from tests.report import fixtures as fx

DISPLAY = {
    "stargan_v2": "StarGAN v2",
    "munit": "MUNIT",
    "drit": "DRIT",
    "identity": "Identity",
    "bicyclegan": "BicycleGAN",
    "ground_truth": "Ground truth",
    "cyclegan": "CycleGAN",
    "funit": "FUNIT",
    "mine": "My method",
}


def amend(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite every record under ``root`` through ``change`` (what newer runners write)."""
    for path in (root / "records").rglob("*.json"):
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def with_display_names(data: dict[str, Any]) -> None:
    if data["baseline"] in DISPLAY:
        data["provenance"]["display_name"] = DISPLAY[data["baseline"]]


def printed(tex: str) -> str:
    """What a reader of the PDF sees: every line but the TeX comments."""
    return "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))


def captions(tex: str) -> list[str]:
    return re.findall(r"\\caption\{(.*)\}$", tex, re.M)


def caption_of(tex: str, label: str) -> str:
    (found,) = re.findall(r"\\caption\{(.*)\}\n\\label\{" + re.escape(label) + "}", tex)
    return found


def lines_of(tex: str, label: str) -> list[str]:
    """The printed lines of the table labelled ``label``."""
    body = tex.split(f"\\label{{{label}}}\n", 1)[1].split("\\end{table}", 1)[0]
    return body.splitlines()


# --- fixtures ---------------------------------------------------------------------------------

WIDE_HASH = "feedfacecafe"
WIDE_EXT = f"protocol:animal_faces@{WIDE_HASH}"
SHOTS = (1, 5, 10, 15, 20)
WIDE_METRICS = (  # metric, direction, extractor: FUNIT's five and two more
    ("accuracy_top1", "higher", WIDE_EXT),
    ("accuracy_top5", "higher", WIDE_EXT),
    ("content", "lower", WIDE_EXT),
    ("is", "higher", WIDE_EXT),
    ("fid", "lower", WIDE_EXT),
    ("kid", "lower", WIDE_EXT),
    ("lpips_diversity", "higher", None),
)
WIDE_BASELINES = ("funit", "munit", "stargan_v2", "mine", "identity")


def wide_value(baseline: str, metric: str, k: int, seed: int) -> float:
    base = {"fid": 40.0, "kid": 0.0123, "is": 1.5, "content": 0.8}.get(metric, 0.5)
    return base * (1 + 0.1 * WIDE_BASELINES.index(baseline)) + 0.001 * k + 0.0007 * seed


def make_wide(root: Path) -> Path:
    """A few-shot protocol as a real run writes it: 5 K x 7 metrics, 4 methods and an oracle,
    3 seeds, display names, the smoke preset and the protocol the records carry."""
    table = {
        b: {
            (m, f"k={k}", ext, d): tuple(wide_value(b, m, k, s) for s in fx.SEEDS)
            for k in SHOTS
            for m, d, ext in WIDE_METRICS
        }
        for b in WIDE_BASELINES
    }
    fx._write_table(root, "animal_faces", WIDE_HASH, table, "2026-05-04T10:00:00Z")
    protocol = {
        "name": "animal_faces",
        "num_test_inputs": 6,
        "outputs_per_input": 3,
        "tasks": [f"k={k}" for k in SHOTS],
        "preset": "smoke",
        "follows": "",
        "deviations": ["1,000 content images, not the paper's 25,000"],
    }

    def change(data: dict[str, Any]) -> None:
        with_display_names(data)
        data["preset"] = "smoke"
        data["provenance"]["protocol"] = protocol

    amend(root, change)
    return root


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report fixture as records with display names carry it."""
    root = fx.make_results(tmp_path_factory.mktemp("named"))
    amend(root, with_display_names)
    return root


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_offline_results(tmp_path_factory.mktemp("offline"))


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wide(tmp_path_factory.mktemp("wide"))


# --- tables.tex -------------------------------------------------------------------------------


def test_headline_columns_display_names_best_and_notes(named: Path) -> None:
    tex = latex.latex(collect(named))
    assert re.findall(r"\\label\{([^}]*)\}", tex) == ["tab:afhq", "tab:edges2shoes"]
    afhq = lines_of(tex, "tab:afhq")
    # AFHQ's headline: StarGAN v2's FID, latent then reference (the fixture's LPIPS is not it)
    assert afhq[:7] == [
        r"\begin{tabular}{@{}lcc@{}}",
        r"\toprule",
        r" & \multicolumn{1}{c}{Latent-guided} & \multicolumn{1}{c}{Reference-guided} \\",
        r"\cmidrule(lr){2-2} \cmidrule(lr){3-3}",
        r"Method & FID $\downarrow$ & FID $\downarrow$ \\",
        r"\midrule",
        r"DRIT & \multicolumn{2}{c}{\textit{failed}\textsuperscript{\dag}} \\",
    ]
    assert afhq[7:12] == [
        r"MUNIT & 41.50 $\pm$ 0.50 & 224.0 $\pm$ 1.0 \\",
        r"StarGAN v2 & \textbf{16.20 $\pm$ 0.20} & \textbf{19.8 $\pm$ 0.1} \\",
        r"\midrule",
        r"\textit{Identity} & 80.00 $\pm$ 0.00 & -- \\",  # no reference-guided record
        r"\bottomrule",
    ]
    assert afhq[13] == (
        r"\par\smallskip{\footnotesize\raggedright \textsuperscript{\dag}\,failed: diverged: "
        r"generator loss is NaN at step 120.\par}"
    )
    e2s = lines_of(tex, "tab:edges2shoes")
    assert r"BicycleGAN & 64.50 $\pm$ 0.71\textsuperscript{\dag} \\" in e2s
    assert r"pix2pix & \textbf{61.00 $\pm$ 1.00} \\" in e2s
    assert r"\textit{Ground truth} & 5.00 $\pm$ 0.00 \\" in e2s  # an oracle is never bold
    assert "mean over 2 of 3 seeds (seed 2: out of memory at step 40)" in e2s[-1]
    # ids never printed where a display name exists; the older version only in a comment
    seen = printed(tex)
    for raw in ("stargan\\_v2", "ground\\_truth", "munit &", "drit &"):
        assert raw not in seen
    assert fx.AFHQ_OLD_HASH not in seen and f"left out: afhq @ {fx.AFHQ_OLD_HASH}" in tex


def test_second_best_underlined_and_a_chosen_subset_ranked_again(offline: Path) -> None:
    tex = latex.latex(collect(offline))
    body = lines_of(tex, "tab:afhq")
    assert r"cyclegan & \textbf{11.58} & 0.0000 \\" in body
    assert r"munit & \underline{14.33} & --\textsuperscript{\dag} \\" in body
    assert r"stargan\_v2 & 28.04 & --\textsuperscript{\dag} \\" in body
    assert (
        r"\textsuperscript{\dag}\,not computed: AlexNet (LPIPS trunk, torchvision) weights "
        in (body[-1])
    )
    # two methods chosen, in the order given: the best among them is bold, nobody is second
    tex = latex.latex(collect(offline, baselines=("stargan_v2", "munit")))
    body = lines_of(tex, "tab:afhq")
    rows = [ln for ln in body if ln.endswith(r"\\") and ln.startswith(("munit", "stargan"))]
    assert rows == [
        r"stargan\_v2 & 28.04 & --\textsuperscript{\dag} \\",
        r"munit & \textbf{14.33} & --\textsuperscript{\dag} \\",
    ]
    assert "identity" not in printed(tex) and "cyclegan" not in printed(tex)


def test_highlight_names_and_digits(named: Path) -> None:
    tex = latex.latex(collect(named, highlight="munit", digits=1))
    afhq = lines_of(tex, "tab:afhq")
    methods = afhq[afhq.index(r"\midrule") + 1 : afhq.index(r"\midrule", 6)]
    assert [ln.split(" & ")[0] for ln in methods] == ["DRIT", "StarGAN v2", r"\textbf{Ours}"]
    assert r"StarGAN v2 & \textbf{16.2 $\pm$ 0.2} & \textbf{19.8 $\pm$ 0.1} \\" in afhq
    assert r"\textbf{Ours} & 41.5 $\pm$ 0.5 & 224.0 $\pm$ 1.0 \\" in afhq
    named_tex = latex.latex(
        collect(named, names={"munit": "MUNIT & co_1 (50%)"}, highlight="munit")
    )
    assert r"\textbf{MUNIT \& co\_1 (50\%)} & " in named_tex


def test_metrics_choose_columns_kid_scaled_and_speed(named: Path, wide: Path) -> None:
    res = collect(wide, metrics=("kid", "fid"))
    parts = latex.paper_parts(res)
    # ten columns do not fit: FID (the headline) apart from KID, consecutive K together
    assert [p.label for p in parts] == [
        "tab:animal-faces-k1-k10",
        "tab:animal-faces-k15-k20",
        "tab:animal-faces-more-k1-k10",
        "tab:animal-faces-more-k15-k20",
    ]
    assert [[(c.column.metric, c.variant) for c in p.cols if c.column] for p in parts] == [
        [("fid", "k=1"), ("fid", "k=5"), ("fid", "k=10")],
        [("fid", "k=15"), ("fid", "k=20")],
        [("kid", "k=1"), ("kid", "k=5"), ("kid", "k=10")],
        [("kid", "k=15"), ("kid", "k=20")],
    ]
    tex = latex.latex(res)
    kid = lines_of(tex, "tab:animal-faces-more-k1-k10")
    assert kid[2] == r" & \multicolumn{1}{c}{$K=1$} & \multicolumn{1}{c}{$K=5$} & " + (
        r"\multicolumn{1}{c}{$K=10$} \\"
    )
    # the scale in the header; KID x10^3 at its column's format: FUNIT's k=1 mean 0.0140
    assert kid[4] == "Method & " + " & ".join(
        [r"KID $\times$10\textsuperscript{3} $\downarrow$"] * 3
    ) + (r" \\")
    funit = next(ln for ln in kid if ln.startswith("FUNIT & "))
    assert funit.split(" & ")[1] == r"\textbf{14.00 $\pm$ 0.70}"
    assert "K = 1, 5, 10 shots, further metrics: smoke preset" in captions(tex)[2]
    speed = latex.latex(collect(named, metrics=("fid", "latency")))
    afhq = "\n".join(lines_of(speed, "tab:afhq"))
    assert r"Latency\\(ms) $\downarrow$" in afhq  # a header on two lines: narrower
    # one FID per mode, at the paper's extractor (not the protocol classifier's), then speed
    assert (
        r"StarGAN v2 & \textbf{16.20 $\pm$ 0.20} & \textbf{19.8 $\pm$ 0.1} & 12.50 $\pm$ 0.50"
        in (afhq)
    )
    assert "latency of one image on cpu x86\\_64" in captions(speed)[0]


def test_captions_say_what_a_reader_needs_and_no_path_or_hash(
    named: Path, offline: Path, wide: Path
) -> None:
    offline_tex = latex.latex(collect(offline))
    assert captions(offline_tex) == [
        "AFHQ, StarGAN v2 protocol, latent-guided synthesis: synthetic twin. One seed (no std); "
        "FID on the protocol classifier's features (held-out top-1 0.950, top-5 1.000); best in "
        "bold, second underlined; oracles in italics, not ranked."
    ]
    wide_tex = latex.latex(collect(wide))
    assert caption_of(wide_tex, "tab:animal-faces-k5") == (
        r"Animal Faces, FUNIT protocol, K = 5 shots: smoke preset on the synthetic twin. Mean "
        r"$\pm$ std over 3 seeds of 6 inputs $\times$ 3 outputs per task; Top-1 acc., Top-5 "
        r"acc., Content (DIPD-like) on the protocol classifier's features; best in bold, second "
        r"underlined; oracles in italics, not ranked."
    )
    assert caption_of(wide_tex, "tab:animal-faces-k5-2").startswith(
        "Animal Faces, FUNIT protocol, K = 5 shots, continued: smoke preset"
    )
    for tex, hashes in (
        (latex.latex(collect(named)), (fx.AFHQ_HASH, fx.E2S_HASH, fx.AFHQ_OLD_HASH)),
        (offline_tex, (fx.OFF_HASH, fx.OFF_EXT, "845d5b41e828")),
        (wide_tex, (WIDE_HASH,)),
    ):
        shown = printed(tex)
        for bad in (*hashes, "9" * 16, "/root", ".cache", "/tmp", "put ", "weights-dir", "pth"):
            assert bad not in shown, bad
        # the protocol hash stays, as a comment for the author
        assert re.search(rf"^% tab:[a-z0-9-]+: [a-z_]+ @ {hashes[0]} \(protocol hash\)$", tex, re.M)
    full = f"% not computed: FID, KID with inception-v3-compat (latent): {fx.INCEPTION_REASON}"
    assert full in offline_tex


def test_labels_stable_across_protocol_versions(tmp_path: Path) -> None:
    def labels(root: Path) -> list[str]:
        return [p.label for p in latex.paper_parts(collect(root))]

    a = make_wide(tmp_path / "a")
    b = make_wide(tmp_path / "b")

    def rehash(data: dict[str, Any]) -> None:
        data["protocol_hash"] = "0123456789ab"

    amend(b, rehash)
    assert {t.protocol_hash for t in collect(b).tables} == {"0123456789ab"}
    # FUNIT's five per K with std are wider than the text: three columns, then two
    expected = [f"tab:animal-faces-k{k}{more}" for k in SHOTS for more in ("", "-2")]
    assert labels(a) == labels(b) == expected


def test_wide_tables_split_never_scaled_each_part_within_the_width(wide: Path) -> None:
    res = collect(wide, metrics=("all",))
    parts = latex.paper_parts(res)
    limit = latex.FILL * latex.TEXT_WIDTH_PT
    assert all(p.built.width_pt <= limit for p in parts), [
        (p.label, p.built.width_pt) for p in parts
    ]
    # the headline (FUNIT's five per K) apart from the rest, each split by K
    labels = [p.label for p in parts]
    assert labels[:10] == [f"tab:animal-faces-k{k}{more}" for k in SHOTS for more in ("", "-2")]
    assert labels[10:] == [f"tab:animal-faces-more-k{k}" for k in SHOTS]
    # every column once, none lost
    (table,) = res.tables
    shown = [c.key for p in parts for c in p.cols]
    assert sorted(shown) == sorted(c.key for c in table.columns)
    # one K of the headline would not fit whole
    one_k = latex.build_tabular(table, parts[0].cols + parts[1].cols, parts[0].rows, True)
    assert one_k.width_pt > limit
    tex = latex.latex(res)
    assert "resizebox" not in tex and "scalebox" not in tex
    assert "Animal Faces, FUNIT protocol, K = 1 shot, further metrics:" in tex


def test_tex_escape_keeps_flags_and_specials() -> None:
    assert latex.tex_escape("pass --weights-dir DIR") == r"pass \texttt{-{}-weights-dir} DIR"
    assert latex.tex_escape("a--b") == "a-{}-b"
    assert latex.tex_escape("50% & $x_1$ {a} ~ ^ <b> |") == (
        r"50\% \& \$x\_1\$ \{a\} \textasciitilde{} \textasciicircum{} \textless{}b\textgreater{}"
        r" \textbar{}"
    )
    assert latex.tex_escape("KID ×10³ ↓ — ∞") == (
        r"KID $\times$10\textsuperscript{3} $\downarrow$ --- $\infty$"
    )


def test_reasons_shortened_for_a_reader() -> None:
    assert tables.short_reason(fx.INCEPTION_REASON) == (
        "Inception (FID, torch-fidelity) weights missing"
    )
    assert tables.short_reason(fx.DRIT_REASON) == fx.DRIT_REASON
    assert tables.short_reason(fx.PROFILE_REASON, {"ground_truth": "Ground truth"}) == (
        "ValueError: Ground truth oracle got an input that is not in the dataset"
    )
    assert tables.short_reason("cannot read /data/afhq/x.png (truncated)") == (
        "cannot read … (truncated)"
    )


# --- leaderboard.md ---------------------------------------------------------------------------


def test_markdown_names_formats_marks_and_headline_first(offline: Path) -> None:
    not_applicable = "munit takes no style reference; reference-guided synthesis does not apply"
    write(
        offline,
        Record(
            "afhq",
            fx.OFF_HASH,
            "munit",
            0,
            "fid",
            None,
            variant="reference",
            extractor=fx.OFF_EXT,
            status="skipped",
            reason=not_applicable,
        ),
    )
    write(
        offline,
        Record(
            "afhq",
            fx.OFF_HASH,
            "cyclegan",
            0,
            "fid",
            20.5,
            variant="reference",
            extractor=fx.OFF_EXT,
        ),
    )
    md = tables.markdown(collect(offline, names={"munit": "MUNIT"}, highlight="cyclegan"))
    lines = md.splitlines()
    head = next(ln for ln in lines if ln.startswith("| Baseline |"))
    assert head.split(" | ")[1:3] == ["FID latent (protocol clf.) ↓", "LPIPS diversity latent ↑"]
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| Baseline")]
    assert rows[0].startswith("| MUNIT | 14.33 | skipped† | n/a | ")  # headline columns first
    assert rows[1].startswith("| stargan_v2 | 28.04 | skipped† | – | ")  # no record: –
    # 0 is a number; one method with a number in a column is nobody's win
    assert rows[2].startswith("| **Ours** | **11.58** | 0.0000 | 20.50 | ")
    # the oracle's cell failed (seed 0) after its latent metrics were written
    assert rows[3].startswith("| *identity* (oracle) | 19.76 | 0.0000 | failed‡ | ")
    assert f"- † skipped: {fx.ALEX_REASON} (seed 0) — MUNIT, stargan_v2 (LPIPS diversity" in md
    assert not_applicable not in md  # does not apply: n/a, not a skip to explain
    wide = make_wide(offline.parent / "wide-md")
    md = tables.markdown(collect(wide))
    head = next(ln for ln in md.splitlines() if ln.startswith("| Baseline |"))
    assert "| KID ×10³ k=1 (protocol clf.) ↓ |" in head
    first = head.split(" | ")[1:6]
    assert first == [
        "Top-1 acc. k=1 (protocol clf.) ↑",
        "Top-5 acc. k=1 (protocol clf.) ↑",
        "Content (DIPD-like) k=1 (protocol clf.) ↓",
        "IS k=1 (protocol clf.) ↑",
        "FID k=1 (protocol clf.) ↓",
    ]


# --- the report command -----------------------------------------------------------------------


def report(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = benchmark.cli.main(["report", *argv])
    return code, out.getvalue(), err.getvalue()


KNOWN = "bicyclegan, drit, ground_truth, identity, munit, pix2pix, stargan_v2"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics", "fdi"], "--metrics: unknown metric 'fdi'; known: all, fid, latency, lpips"),
        (["--metrics", ","], "--metrics: give one or more names separated by commas, got ','"),
        (
            ["--baselines", "munit,nope"],
            f"--baselines: no records for baseline 'nope'; known: {KNOWN}",
        ),
        (["--names", "munit"], "--names: expected ID=NAME[,ID=NAME...] (munit=MUNIT), got 'munit'"),
        (["--names", 'munit="MUNIT'], "--names: unbalanced \" in 'munit=\"MUNIT'"),
        (["--names", "nope=X"], f"--names: no records for baseline 'nope'; known: {KNOWN}"),
        (["--highlight", "nope"], f"--highlight: no records for baseline 'nope'; known: {KNOWN}"),
        (["--digits", "9"], "--digits: a whole number from 0 to 6, got '9'"),
        (["--digits", "two"], "--digits: a whole number from 0 to 6, got 'two'"),
        (
            ["--metrics", "fid", "--compare", "munit", "stargan_v2"],
            "--metrics: shape the rendered report, not --compare",
        ),
    ],
)
def test_bad_option_values_are_one_line_naming_the_flag(
    named: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    code, _, err = report([str(named), "--out", str(tmp_path / "out"), *argv])
    assert (code, err) == (2, f"error: {message}\n")
    assert not (tmp_path / "out" / "tables.tex").exists()


def test_parse_names_takes_quotes_commas_and_repeats() -> None:
    assert parse_names(['munit="MUNIT, v2",drit=DRIT', "mine='Ours (full)'"]) == {
        "munit": "MUNIT, v2",
        "drit": "DRIT",
        "mine": "Ours (full)",
    }
    with pytest.raises(UserError, match="got '=X'"):
        parse_names(["=X"])


def test_options_shape_every_table_and_paper_tex_compiles_beside_them(
    named: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    argv = [str(named), "--out", str(out), "--metrics", "fid,lpips", "--digits", "1"]
    argv += ["--baselines", "stargan_v2,munit,identity", "--names", "munit=MUNIT (2018)"]
    code, printed_out, _ = report([*argv, "--highlight", "stargan_v2"])
    assert code == 0 and str(out / "paper.tex") in printed_out
    tex = (out / "tables.tex").read_text(encoding="utf-8")
    afhq = "\n".join(lines_of(tex, "tab:afhq"))
    assert r"MUNIT (2018) & 41.5 $\pm$ 0.5 & " in afhq
    assert r"\textbf{Ours} & \textbf{16.2 $\pm$ 0.2} & " in afhq
    # in the order --baselines gives, the oracle below the rule
    assert afhq.index(r"\textbf{Ours}") < afhq.index("MUNIT (2018)") < afhq.index("Identity")
    assert "DRIT" not in afhq and r"LPIPS $\uparrow$" in afhq
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "| **Ours** | **16.2 ± 0.2** |" in md
    assert r"\input{tables.tex}" in (out / "paper.tex").read_text()
    # other options, another render (never the one cached for the first options)
    code, _, _ = report([str(named), "--out", str(out)])
    tex = (out / "tables.tex").read_text(encoding="utf-8")
    assert code == 0 and "Ours" not in tex and r"MUNIT & 41.50 $\pm$ 0.50" in tex


def test_results_carry_the_selection(named: Path) -> None:
    res: Results = collect(named, metrics=("fid",), baselines=("munit",))
    assert (res.selection.metrics, res.selection.baselines) == (("fid",), ("munit",))
    assert collect(named).selection.metrics == ()


def test_a_cell_on_fewer_seeds_says_so_in_a_note(tmp_path: Path) -> None:
    root = fx.make_results(tmp_path / "r")
    for seed in (1, 2):  # munit's latent FID on seed 0 only
        (
            root
            / "records"
            / f"afhq-{fx.AFHQ_HASH}"
            / "munit"
            / f"seed{seed}"
            / f"fid--latent--{fx.EXT_COMPAT}.json"
        ).unlink()
    body = lines_of(latex.latex(collect(root)), "tab:afhq")
    assert r"munit & 41.00\textsuperscript{\ddag} & 224.0 $\pm$ 1.0 \\" in body
    assert r"\textsuperscript{\ddag}\,mean over 1 seed" in body[-1]
