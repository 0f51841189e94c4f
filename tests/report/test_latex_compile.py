"""tables.tex and paper.tex as a paper uses them (benchmark.report.latex.write_paper): every
label a plain, unique key; paper.tex compiles with pdflatex and booktabs alone, with no error
and no overfull box, at its own 10 pt and at 11 pt (whose \\small is the 10 pt the width
estimate counts in); and the estimate is never below the width TeX measures. Run on the report
fixture (with a protocol, variant and names full of TeX specials, and a protocol with more
columns than a page is wide), the default offline run, and a few-shot protocol with many
columns and many K. Skipped where TeX is absent (``apt-get install texlive-latex-base
texlive-latex-recommended``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.records import Record, write
from benchmark.report import latex
from benchmark.report.model import Results, collect
from tests.report import fixtures as fx
from tests.report.test_paper_tables import make_wide

PDFLATEX = shutil.which("pdflatex")
needs_tex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed")
FLAG_REASON = "no --checkpoint given for this mode"  # printed: the flag must stay two hyphens


def fixture_results(root: Path) -> Results:
    fx.make_results(root)
    celeba = {
        "stargan_v2": {("fid", "Blond_Hair", fx.EXT_COMPAT, "lower"): (12.0, 12.5, 13.0)},
        "munit": {("fid", "Blond_Hair", fx.EXT_COMPAT, "lower"): (14.0, 14.5, 15.0)},
        "identity": {("fid", "Blond_Hair", fx.EXT_COMPAT, "lower"): (40.0, 40.0, 40.0)},
    }
    fx._write_table(root, "celeba_attributes", "0123456789ab", celeba, "2026-05-02T10:00:00Z")
    for seed in fx.SEEDS:
        skipped = Record(
            "celeba_attributes",
            "0123456789ab",
            "drit",
            seed,
            "fid",
            None,
            variant="Blond_Hair",
            extractor=fx.EXT_COMPAT,
            status="skipped",
            reason=FLAG_REASON,
        )
        write(root, skipped)
    # every metric in both modes: 16 numeric columns, about twice the article's text width
    metrics = ("fid", "kid", "lpips_diversity", "accuracy_top1", "ssim", "psnr", "content", "l1")
    wide = {
        (metric, mode, None, "lower"): (10.25, 11.5, 12.75)
        for metric in metrics
        for mode in ("latent", "reference")
    }
    fx._write_table(root, "edges2shoes", "fedcba987654", {"munit": wide}, "2026-05-03T10:00:00Z")
    names = {"munit": "MUNIT & co_1 (50%)", "stargan_v2": "StarGAN~v2 #1 {x} ^"}
    return collect(root, names=names, metrics=("all",))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Results, Path]]:
    made = {}
    for name, results in (
        ("fixture", lambda root: fixture_results(root)),
        ("offline", lambda root: collect(fx.make_offline_results(root))),
        ("wide", lambda root: collect(make_wide(root), metrics=("all",))),
        ("wide-headline", lambda root: collect(make_wide(root), highlight="mine")),
    ):
        root = tmp_path_factory.mktemp(name)
        res = results(root / "results")
        out = root / "report"
        assert latex.write_paper(out, res) == [out / "tables.tex", out / "paper.tex"]
        made[name] = (res, out)
    return made


def test_every_label_is_a_plain_unique_key(reports: dict[str, tuple[Results, Path]]) -> None:
    for res, out in reports.values():
        labels = re.findall(r"\\label\{([^}]*)\}", (out / "tables.tex").read_text())
        assert labels == [p.label for p in latex.paper_parts(res)]
        assert len(set(labels)) == len(labels)
        assert all(re.fullmatch(r"tab:[A-Za-z0-9:-]+", label) for label in labels), labels
    fixture = (reports["fixture"][1] / "tables.tex").read_text()
    assert r"\label{tab:celeba-attributes}" in fixture
    # the wide edges2shoes (none of its columns the headline): by mode, each mode in chunks
    for mode in ("latent", "reference"):
        for suffix in ("", "-2", "-3"):
            assert rf"\label{{tab:edges2shoes-{mode}{suffix}}}" in fixture
    assert r"\textsuperscript{\dag}\,not computed: no \texttt{-{}-checkpoint} given" in fixture
    assert r"MUNIT \& co\_1 (50\%)" in fixture and r"StarGAN\textasciitilde{}v2 \#1 \{x\}" in (
        fixture
    )


def compile_tex(folder: Path, size: str) -> tuple[int, str]:
    """pdflatex on paper.tex (at ``size``: "" for its own 10 pt, else e.g. "11pt"); the log."""
    paper = (folder / "paper.tex").read_text()
    if size:
        paper = paper.replace(r"\documentclass{article}", rf"\documentclass[{size}]{{article}}")
    (folder / f"paper{size}.tex").write_text(paper)
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", f"paper{size}.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (folder / f"paper{size}.pdf").stat().st_size > 0, done.stdout[-2000:]
    return done.returncode, (folder / f"paper{size}.log").read_text(errors="replace")


@needs_tex
@pytest.mark.parametrize("name", ["fixture", "offline", "wide", "wide-headline"])
@pytest.mark.parametrize("size", ["", "11pt"])
def test_paper_compiles_with_no_error_and_no_overfull_box(
    reports: dict[str, tuple[Results, Path]], name: str, size: str, tmp_path: Path
) -> None:
    _, out = reports[name]
    for file in ("tables.tex", "paper.tex"):
        shutil.copy(out / file, tmp_path / file)
    code, log = compile_tex(tmp_path, size)
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert code == 0 and not errors, errors or log[-2000:]
    # split, never scaled: no table runs past the text width
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert "Too many unprocessed floats" not in log


@needs_tex
def test_width_estimate_is_never_below_what_tex_measures(
    reports: dict[str, tuple[Results, Path]], tmp_path: Path
) -> None:
    """Each tabular boxed at 10 pt (\\small of an 11 pt article) and measured: the estimate
    splits on is at least that, and not far above it."""
    parts = [p for res, _ in reports.values() for p in latex.paper_parts(res)]
    body = [
        rf"\setbox0=\hbox{{\small {' '.join(p.built.lines)}}}\typeout{{WIDTH {i} \the\wd0}}"
        for i, p in enumerate(parts)
    ]
    doc = [r"\documentclass[11pt]{article}", r"\usepackage{booktabs}", r"\begin{document}"]
    (tmp_path / "measure.tex").write_text("\n".join([*doc, *body, r"\end{document}", ""]))
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "measure.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "measure.log").read_text()
    measured = {int(i): float(w) for i, w in re.findall(r"^WIDTH (\d+) ([\d.]+)pt$", log, re.M)}
    assert sorted(measured) == list(range(len(parts)))
    ratios = {parts[i].label: measured[i] / parts[i].built.width_pt for i in measured}
    assert all(0.8 <= r <= 1.0 for r in ratios.values()), ratios
