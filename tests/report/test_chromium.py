"""The leaderboard as a person sees it, in a real browser: Debian's Chromium driven by
Playwright at 1366x900, offline. One render (test_glance's folder: the smoke grid's records,
sample PNGs, a profile) and one browser for the whole module.

Runs by default wherever /usr/bin/chromium exists (``make test`` installs it when it runs as
root, as CI does) and skips, saying why, where it does not. Screenshots are written under the
module's temporary folder (the path is printed: ``pytest -s`` or ``-rA`` shows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.report import render_all
from tests.report.test_glance import glance_results

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; make test installs "
        "it when run as root)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs playwright (pip install -e '.[test]')"
)

WIDTH, HEIGHT = 1366, 900
BEST_BG = (0xE7, 0xF6, 0xE9)  # td.best in style.css
SAMPLE_INPUT = (40, 40, 200)  # the fixture's input images (blue)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = glance_results(tmp_path_factory.mktemp("chromium"))
    return render_all(root, root / "report")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, index: Path) -> Iterator:
    """A fresh 1366x900 tab on the leaderboard, nothing reachable off the machine."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    context.route("http*://**", lambda route: route.abort())
    tab = context.new_page()
    tab.goto(index.resolve().as_uri(), wait_until="load")
    yield tab
    context.close()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def share_of(arr: np.ndarray, rgb: tuple[int, int, int], tol: int = 6) -> float:
    return float((np.abs(arr - np.array(rgb)).max(axis=2) <= tol).mean())


# every table a reader sees without opening anything (checkVisibility: false inside a closed
# <details>), its width against the window
VISIBLE_TABLES = """() => Array.from(document.querySelectorAll("table"))
  .filter(t => t.checkVisibility())
  .map(t => ({cls: t.className, id: t.id, scroll: t.scrollWidth,
              right: Math.ceil(t.getBoundingClientRect().right), inner: window.innerWidth}))"""


def test_no_table_wider_than_the_window(page, shots: Path) -> None:
    tables = page.evaluate(VISIBLE_TABLES)
    boards = [t for t in tables if "leaderboard" in t["cls"]]
    assert len(boards) == 9  # one per protocol, but animal_faces: one per K (five)
    too_wide = [t for t in tables if t["scroll"] > WIDTH or t["right"] > WIDTH]
    assert not too_wide, too_wide
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH  # no page scroll
    # opened, the "more metrics" tables fit as well
    page.evaluate("document.querySelectorAll('details.more').forEach(d => d.open = true)")
    opened = page.evaluate(VISIBLE_TABLES)
    assert len(opened) > len(tables)
    assert not [t for t in opened if t["scroll"] > WIDTH or t["right"] > WIDTH]
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    page.screenshot(path=shots / "more-metrics-open.png", full_page=True)


def test_overview_first_on_the_first_screen(page, shots: Path) -> None:
    box = page.evaluate("""() => {
      const o = document.getElementById("overview").getBoundingClientRect();
      const t = document.querySelector("table.leaderboard").getBoundingClientRect();
      const cards = document.querySelectorAll("#overview .card").length;
      const bars = Array.from(document.querySelectorAll("#overview .bar"))
        .filter(b => b.getBoundingClientRect().width > 0).length;
      return {top: o.top, bottom: o.bottom, table: t.top, cards: cards, bars: bars};
    }""")
    assert box["top"] < HEIGHT / 2 and box["bottom"] <= box["table"], box
    assert box["cards"] == 5 and box["bars"] >= 20, box  # a drawn bar per scored method
    shot = shots / "first-screen.png"
    page.screenshot(path=shot)
    arr = pixels(shot)
    assert arr.shape[:2] == (HEIGHT, WIDTH) and arr.std() > 20, "blank page"


def test_header_and_group_labels_stay_in_view_while_scrolling(page, shots: Path) -> None:
    """Scrolled past a table's top, its header rows (variant groups and column names) stick
    to the top of the window while its rows pass under them."""
    found = page.evaluate("""() => {
      const t = document.querySelector("section[data-protocol=afhq] table.leaderboard");
      const head = t.tHead.getBoundingClientRect().height;
      window.scrollTo(0, window.scrollY + t.getBoundingClientRect().top + head + 60);
      const h = t.tHead.getBoundingClientRect(), b = t.getBoundingClientRect();
      const g = t.querySelector("th.group").getBoundingClientRect();
      return {head: h.top, headBottom: h.bottom, group: g.top, tableTop: b.top,
              tableBottom: b.bottom};
    }""")
    assert found["tableTop"] < -60, found  # the table's own top is off-screen
    assert -1 <= found["head"] <= 2 and -1 <= found["group"] <= 2, found
    assert found["tableBottom"] > found["headBottom"], found  # rows still under the header
    shot = shots / "sticky-header.png"
    page.screenshot(path=shot)
    assert share_of(pixels(shot)[:60], (0xF6, 0xF6, 0xF8)) > 0.2  # the header's grey on top


def test_best_cells_styled_and_sample_grids_load_when_opened(page, shots: Path) -> None:
    page.locator("section[data-protocol=afhq] table.leaderboard").first.scroll_into_view_if_needed()
    shot = shots / "afhq-table.png"
    page.screenshot(path=shot)
    assert share_of(pixels(shot), BEST_BG) > 0.001, "no best-marked cell visible"
    styles = page.evaluate("""() => {
      const best = document.querySelector("td.best"), second = document.querySelector("td.second");
      return {best: getComputedStyle(best).fontWeight,
              second: getComputedStyle(second).textDecorationLine};
    }""")
    assert int(styles["best"]) >= 700 and "underline" in styles["second"], styles
    samples = page.locator("section[data-protocol=animal_faces] details.samples")
    assert samples.evaluate("d => d.open") is False  # collapsed
    assert page.evaluate(
        "() => Array.from(document.querySelectorAll('details.samples img'))"
        ".every(i => !i.checkVisibility())"
    ), "a sample grid is visible before its control is opened"
    samples.locator("summary").click()
    first = samples.locator("img").first
    first.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=first.element_handle(), timeout=10_000
    )
    shot = shots / "samples-open.png"
    page.screenshot(path=shot)
    assert share_of(pixels(shot), SAMPLE_INPUT, tol=40) > 0.002, "sample grid image not shown"


def test_narrow_window_scrolls_a_table_in_its_box(page) -> None:
    """Below the width a table needs, it scrolls inside its own box (not the page), with the
    method column pinned at the box's left edge; rows stay one text line tall."""
    page.set_viewport_size({"width": 600, "height": 900})
    m = page.evaluate("""() => {
      const box = document.querySelector("div.scroll");
      box.scrollLeft = 300;
      const th = box.querySelector("tbody th");
      const rows = Array.from(document.querySelectorAll("table.leaderboard tbody tr"))
        .filter(r => r.checkVisibility()).map(r => r.getBoundingClientRect().height);
      return {maxRow: Math.max(...rows), page: document.documentElement.scrollWidth,
              view: window.innerWidth, boxScrolls: box.scrollWidth > box.clientWidth,
              left: th.getBoundingClientRect().left - box.getBoundingClientRect().left};
    }""")
    assert m["boxScrolls"] and m["page"] <= m["view"], m
    assert abs(m["left"]) <= 2, m  # sticky: still at the box's left edge
    assert m["maxRow"] < 40, m  # one line of 14px text plus padding


def test_profile_page_shows_its_curve(browser, index: Path, shots: Path) -> None:
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    tab = context.new_page()
    tab.goto((index.parent / "profile" / "munit.html").resolve().as_uri(), wait_until="load")
    loaded = tab.evaluate("() => Array.from(document.images).map(i => i.naturalWidth)")
    assert loaded and all(w > 0 for w in loaded), loaded
    assert tab.evaluate("document.documentElement.scrollWidth") <= WIDTH
    tab.screenshot(path=shots / "profile-munit.png", full_page=True)
    context.close()


def test_wide_window_uses_its_width(page) -> None:
    """No cap on wide screens: the page spans the window (prose keeps a readable measure)."""
    page.set_viewport_size({"width": 2560, "height": 1200})
    width = page.evaluate("document.body.getBoundingClientRect().width")
    assert width >= 2560 - 1, width
    cards = page.evaluate(
        "new Set(Array.from(document.querySelectorAll('#overview .card'))"
        ".map(c => c.getBoundingClientRect().top)).size"
    )
    assert cards == 1, "five overview cards side by side on one row"
