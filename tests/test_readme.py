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


def commands(section: str) -> list[str]:
    """The shell lines of the first bash block under the heading ``section``."""
    text = (REPO / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", body, re.S)
    assert block, f"no bash block under '## {section}'"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def test_evaluate_your_method_runs_as_written(tmp_path):
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
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    page = (tmp_path / "results/mine/report/index.html").read_text()
    for method in ("tiny_translator", "mirror", "identity"):
        assert f'data-baseline="{method}"' in page
    assert "(external)" in page
    records = list((tmp_path / "results/mine/records").glob("afhq-*/mirror/seed0/fid--*.json"))
    assert records, "the scored outputs have FID records"
