"""The leaderboard in a real browser: headless Chromium screenshots the page offline and the
picture must show the styled table (best and failed cell colours) and the loaded sample grid.

Runs only with ``-m chromium`` where Debian's chromium is installed (``apt-get install
chromium``); elsewhere it skips.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.report import render_all
from tests.report import fixtures as fx

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
BEST_BG = (0xE7, 0xF6, 0xE9)  # td.best in style.css
FAILED_BG = (0xFD, 0xEC, 0xEC)  # td.failed
SAMPLE_INPUT = (40, 40, 200)  # the fixture's input images (blue)


def screenshot(page: Path, out: Path, profile: Path, size: str = "1400,1000") -> np.ndarray:
    cmd = [
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--screenshot={out}",
        f"--window-size={size}",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.is_file(), f"no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"
    with Image.open(out) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def share_of(arr: np.ndarray, rgb: tuple[int, int, int], tol: int = 6) -> float:
    return float((np.abs(arr - np.array(rgb)).max(axis=2) <= tol).mean())


@pytest.mark.chromium
def test_leaderboard_screenshot(tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium)")
    results = fx.make_results(tmp_path / "results")
    page = render_all(results, tmp_path / "report")
    shot = tmp_path / "leaderboard.png"
    arr = screenshot(page, shot, tmp_path / "chromium-profile")
    assert arr.shape[:2] == (1000, 1400)
    assert arr.std() > 20, "blank page"
    assert share_of(arr, BEST_BG) > 0.002, "no best-marked cell visible"
    assert share_of(arr, FAILED_BG) > 0.002, "no failed cell visible"
    # a tall window reaches the sample grid: the browser loaded the PNG
    tall = screenshot(page, tmp_path / "tall.png", tmp_path / "chromium-profile2", "1400,2600")
    assert share_of(tall, SAMPLE_INPUT, tol=40) > 0.002, "sample grid image not shown"


MEASURE = """<script>window.addEventListener("load", function () {
  var rows = Array.prototype.map.call(document.querySelectorAll("table.leaderboard tbody tr"),
    function (r) { return r.getBoundingClientRect().height; });
  var box = document.querySelector("div.scroll");
  box.scrollLeft = 300;
  var th = document.querySelector("table.leaderboard tbody th");
  document.body.setAttribute("data-measure", JSON.stringify({
    maxRow: Math.max.apply(null, rows), pageWidth: document.documentElement.scrollWidth,
    viewWidth: window.innerWidth, boxScrolls: box.scrollWidth > box.clientWidth,
    baselineLeft: th.getBoundingClientRect().left - box.getBoundingClientRect().left}));
});</script>"""


@pytest.mark.chromium
def test_rows_compact_and_wide_table_scrolls_in_its_box(tmp_path: Path) -> None:
    """In a narrow window the offline run's table scrolls inside its box (the page does not),
    the baseline column stays put while it scrolls, and no row grows past one text line."""
    if not CHROMIUM.is_file():
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium)")
    page = render_all(fx.make_offline_results(tmp_path / "results"), tmp_path / "report")
    probe = page.with_name("measure.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</head>", MEASURE + "</head>"))
    cmd = [
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=600,1000",
        "--dump-dom",
        probe.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.search(r'data-measure="([^"]*)"', proc.stdout)
    assert found, f"no measurement (rc {proc.returncode}): {proc.stderr[-2000:]}"
    m = json.loads(html.unescape(found.group(1)))
    assert m["maxRow"] < 40, m  # one line of 14px text plus padding
    assert m["boxScrolls"] and m["pageWidth"] <= m["viewWidth"], m
    assert abs(m["baselineLeft"]) <= 2, m  # sticky: still at the box's left edge
