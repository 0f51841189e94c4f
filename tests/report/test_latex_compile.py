"""tables.tex as a paper includes it: every label a plain key, and the file compiles with
pdflatex and booktabs (skipped where TeX is absent: ``apt-get install texlive-latex-base
texlive-latex-recommended``). The fixture adds a protocol, variant and baseline with
underscores, the characters that broke a label once, and a protocol with more columns than a
page is wide."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.report import render_all
from tests.report import fixtures as fx

PDFLATEX = shutil.which("pdflatex")
WRAPPER = r"""\documentclass{article}
\usepackage{booktabs,graphicx}
\begin{document}
\input{tables.tex}
\end{document}
"""


@pytest.fixture(scope="module")
def tex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = fx.make_results(tmp_path_factory.mktemp("results"))
    celeba = {
        "stargan_v2": {("fid", "Blond_Hair", fx.EXT_COMPAT, "lower"): (12.0, 12.5, 13.0)},
        "identity": {("fid", "Blond_Hair", fx.EXT_COMPAT, "lower"): (40.0, 40.0, 40.0)},
    }
    fx._write_table(root, "celeba_attributes", "0123456789ab", celeba, "2026-05-02T10:00:00Z")
    # every metric in both modes: 16 numeric columns, about twice the article's text width
    metrics = ("fid", "kid", "lpips_diversity", "accuracy_top1", "ssim", "psnr", "content", "l1")
    wide = {
        (metric, mode, None, "lower"): (10.25, 11.5, 12.75)
        for metric in metrics
        for mode in ("latent", "reference")
    }
    fx._write_table(root, "edges2shoes", "fedcba987654", {"munit": wide}, "2026-05-03T10:00:00Z")
    out = root / "report"
    render_all(root, out)
    return out / "tables.tex"


def test_every_label_is_a_plain_key(tex: Path) -> None:
    labels = re.findall(r"\\label\{([^}]*)\}", tex.read_text(encoding="utf-8"))
    assert len(labels) == 5 and "tab:celeba-attributes-0123456789ab" in labels
    assert all(re.fullmatch(r"tab:[A-Za-z0-9:-]+", label) for label in labels), labels


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed")
def test_tables_compile_with_pdflatex(tex: Path, tmp_path: Path) -> None:
    shutil.copy(tex, tmp_path / "tables.tex")
    (tmp_path / "doc.tex").write_text(WRAPPER)
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and not errors, errors or done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0
    # the wide table is scaled to the text width instead of running off the page
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
