"""The README's "Evaluate your method" commands, run exactly as written, one after the other, in
a fresh folder that sees the repository's code (what a user's clone holds) and nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINKED = (
    "run_all.py",
    "benchmark",
    "baselines",
    "protocols",
    "examples",
    "tests",
    "pyproject.toml",
)


def block(section: str, language: str = "bash") -> str:
    """The first ``language`` code block under the heading ``section``."""
    text = (REPO / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", body, re.S)
    assert found, f"no {language} block under '## {section}'"
    return found.group(1)


def commands(section: str) -> list[str]:
    """The shell lines of the first bash block under the heading ``section``."""
    lines = block(section).splitlines()
    return [ln for ln in lines if ln.strip() and not ln.startswith("#")]


def _run(line: list[str] | str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    args = ["bash", "-c", line] if isinstance(line, str) else line
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_evaluate_your_method_and_its_paper_tables_run_as_written(tmp_path):
    for name in LINKED:
        (tmp_path / name).symlink_to(REPO / name)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    lines = commands("Evaluate your method")
    assert len(lines) == 5 and any(" score " in ln for ln in lines)
    for line in lines:
        _run(line, tmp_path, env)
    page = (tmp_path / "results/mine/report/index.html").read_text()
    for method in ("tiny_translator", "mirror", "identity"):
        assert f'data-baseline="{method}"' in page
    assert "(external)" in page
    records = list((tmp_path / "results/mine/records").glob("afhq-*/mirror/seed0/fid--*.json"))
    assert records, "the scored outputs have FID records"
    # then "Tables for a paper", on those results, and its pandas line
    tables = commands("Tables for a paper")
    assert len(tables) == 3 and "pdflatex" in tables[1]
    for line in tables:
        _run(line, tmp_path, env)
    log = (tmp_path / "results/mine/report/paper.log").read_text(errors="replace")
    assert "Overfull" not in log and "\n!" not in log
    tex = (tmp_path / "paper-tables/tables.tex").read_text()
    assert r"\textbf{Ours}" in tex and "Tiny" in tex and "tiny_translator" not in tex
    code = block("Tables for a paper", "python") + "print(len(_))\n"
    code = code.replace("pd.read_csv", "_ = pd.read_csv", 1)
    shown = _run([sys.executable, "-c", code], tmp_path, env).stdout.strip()
    assert int(shown) == 3  # identity, mirror and tiny_translator: one row each
