"""The study page as a participant uses it: Debian's Chromium, driven by Playwright, against
``python -m benchmark study serve`` on a free port.

Practice trials with feedback, the images hidden after ``display_ms``, test and catch trials
answered by clicking, a reload that continues where the participant stopped, and the answers
in ``answers.jsonl`` under the right participant and trial ids, in the order the Python side of
the randomisation (``benchmark.study.order``) says the page showed them.

Runs wherever /usr/bin/chromium exists and skips, saying why, where it does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmark.study.make import StudyOptions, make_study
from benchmark.study.order import plan
from tests.study.test_make import make_results
from tests.study.test_serve import serve_in_thread, start_cli_server, stop_cli_server

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

DISPLAY_MS = 500
TIMEOUT_MS = 30_000

# the first animation frame after a trial's onset: which images are visible, which buttons work
ONSET = """(want) => {
  const s = document.getElementById("trial");
  if (document.body.dataset.phase !== "trial" || !s.dataset.shownAt) return false;
  if (want && s.dataset.trial !== want) return false;
  const vis = (id) => document.getElementById(id).checkVisibility({visibilityProperty: true});
  return {id: s.dataset.trial, swapped: s.dataset.swapped === "1",
          left: vis("left-img"), right: vis("right-img"), input: vis("input"),
          leftSrc: document.getElementById("left-img").getAttribute("src"),
          rightSrc: document.getElementById("right-img").getAttribute("src"),
          enabled: !document.getElementById("left").disabled};
}"""
HIDDEN = """(want) => {
  const s = document.getElementById("trial");
  if (!s.dataset.hiddenAt || s.dataset.trial !== want) return false;
  const vis = (id) => document.getElementById(id).checkVisibility({visibilityProperty: true});
  return {after: Number(s.dataset.hiddenAt) - Number(s.dataset.shownAt),
          left: vis("left-img"), right: vis("right-img"),
          enabled: !document.getElementById("left").disabled};
}"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def study(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "study"
    make_study(
        StudyOptions(
            results=results,
            protocol="edges2shoes",
            design="real-vs-fake",
            methods=("bicyclegan",),
            out=out,
            trials=4,
            practice=2,
            catch_rate=0.2,
            display_ms=DISPLAY_MS,
            display_px=128,
            seed=11,
        )
    )
    return out


@pytest.fixture(scope="module")
def host(study: Path) -> Iterator[str]:
    proc, host = start_cli_server(study)
    yield host
    code, out = stop_cli_server(proc)
    assert code == 0, out


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh tab; every request that leaves the study server is aborted and remembered."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.outside = []

    def only_local(route) -> None:
        if route.request.url.startswith(("http://127.0.0.1:", "data:")):
            route.continue_()
        else:
            tab.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    yield tab
    assert tab.outside == [], "the page reached off the study server"
    context.close()


def trials(study: Path) -> dict[str, dict]:
    return {t["id"]: t for t in json.loads((study / "trials.json").read_text())["trials"]}


def the_plan(study: Path, who: str):
    doc = json.loads((study / "trials.json").read_text())
    return plan(doc["seed"], who, [(t["id"], t["kind"] == "practice") for t in doc["trials"]])


def answers_of(study: Path, who: str) -> list[dict]:
    path = study / "answers.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [r for r in rows if r["participant"] == who]


def start(page, host: str, who: str) -> None:
    page.goto(f"http://{host}/?participant={who}")
    page.wait_for_selector("body[data-phase=start]")
    assert page.input_value("#participant") == who  # taken from the URL
    page.click("#start-button")


def run_trial(page, study: Path, expected_id: str, choice: str, *, hide: bool = True) -> dict:
    """Wait for ``expected_id``'s onset, check what is shown (and hidden after DISPLAY_MS),
    click ``choice``; returns what the onset showed."""
    t = trials(study)[expected_id]
    if page.evaluate("document.body.dataset.phase") == "break":
        page.click("#break-button")
    shown = page.wait_for_function(ONSET, arg=expected_id, polling="raf").json_value()
    assert shown["id"] == expected_id
    assert shown["left"] and shown["right"] and shown["enabled"], shown
    want = (t["right"], t["left"]) if shown["swapped"] else (t["left"], t["right"])
    assert (shown["leftSrc"], shown["rightSrc"]) == want
    if hide:
        gone = page.wait_for_function(HIDDEN, arg=expected_id, polling="raf").json_value()
        assert gone["after"] >= DISPLAY_MS - 2, gone  # shown for display_ms, not less
        assert not gone["left"] and not gone["right"] and gone["enabled"], gone
    page.click(f"#{choice}")
    return shown


def displayed_correct(study: Path, trial_id: str, swapped: bool) -> str:
    side = trials(study)[trial_id]["correct"]
    return {"left": "right", "right": "left"}[side] if swapped else side


def test_a_participant_runs_the_whole_study(page, study: Path, host: str) -> None:
    who = "alice"
    p = the_plan(study, who)
    assert page.evaluate("1") == 1
    start(page, host, who)
    clicked = {}
    practice = [i for i in p.order if trials(study)[i]["kind"] == "practice"]
    assert len(practice) == 2 and list(p.order[:2]) == practice
    for n, tid in enumerate(p.order):
        kind = trials(study)[tid]["kind"]
        swapped = p.swapped[tid]
        right_side = displayed_correct(study, tid, swapped)
        wrong_side = {"left": "right", "right": "left"}[right_side]
        if kind == "practice":
            choice = right_side if n == 0 else wrong_side  # one right, one wrong
        else:
            choice = "left" if n % 2 else "right"
        shown = run_trial(page, study, tid, choice)
        assert shown["swapped"] == swapped  # the page's randomisation is order.py's
        clicked[tid] = choice
        if kind == "practice":
            fb = page.wait_for_selector("#feedback[data-result]")
            result = "correct" if choice == right_side else "wrong"
            assert fb.get_attribute("data-result") == result
            assert fb.inner_text().lower().startswith(result)
            assert page.inner_text(f"#{right_side}-label") == "real"
            assert page.inner_text(f"#{wrong_side}-label") == "fake"
            page.click("#next")
            if n == len(practice) - 1:  # then a word that feedback stops
                page.wait_for_selector("body[data-phase=break]")
        else:
            assert page.inner_text("#feedback") == ""  # no feedback on test or catch trials
    page.wait_for_selector("body[data-phase=done]")
    assert f"All {len(p.order)} trials" in page.inner_text("#done-text")
    rows = answers_of(study, who)
    assert [r["trial"] for r in rows] == list(p.order)
    assert {r["trial"]: r["choice"] for r in rows} == clicked
    assert all(r["swapped"] == p.swapped[r["trial"]] for r in rows)
    assert all(r["rt_ms"] > 0 for r in rows)
    kinds = {trials(study)[r["trial"]]["kind"] for r in rows}
    assert kinds == {"practice", "test", "catch"}


def test_a_reload_continues_where_the_participant_stopped(page, study: Path, host: str) -> None:
    who = "bob.2"
    p = the_plan(study, who)
    start(page, host, who)
    for n, tid in enumerate(p.order[:3]):
        run_trial(page, study, tid, "left", hide=n == 0)
        if n < 2:
            page.click("#next")
    page.wait_for_function(
        f"() => document.getElementById('trial').dataset.trial === '{p.order[3]}'"
    )
    assert len(answers_of(study, who)) == 3
    page.reload()
    page.wait_for_selector("body[data-phase=start]")
    assert page.input_value("#participant") == who  # kept in the URL
    page.click("#start-button")
    for tid in p.order[3:]:  # no practice again, no break: straight to the fourth trial
        run_trial(page, study, tid, "right", hide=False)
    page.wait_for_selector("body[data-phase=done]")
    assert [r["trial"] for r in answers_of(study, who)] == list(p.order)


def test_the_page_randomises_as_python_does(page, study: Path, host: str) -> None:
    page.goto(f"http://{host}/")
    page.wait_for_selector("body[data-phase=start]")
    doc = json.loads((study / "trials.json").read_text())
    order = [[t["id"], t["kind"] == "practice"] for t in doc["trials"]]
    for who in ("carol", "W0RKER_17", "x@y.z", "a-b"):
        got = page.evaluate(
            "([seed, who, trials]) => window.studyPage.plan(seed, who, trials)",
            [doc["seed"], who, order],
        )
        want = the_plan(study, who)
        assert (tuple(got["order"]), got["swapped"]) == (want.order, want.swapped)
    page.fill("#participant", "not ok!")
    page.click("#start-button")
    assert "letters, digits" in page.inner_text("#start-error")


def test_method_vs_method_shows_the_input_and_keeps_the_images(
    page, results: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mvm"
    make_study(
        StudyOptions(
            results=results,
            protocol="afhq",
            design="method-vs-method",
            methods=("munit", "stargan_v2"),
            out=folder,
            trials=2,
            practice=0,
            catch_rate=0.0,
            display_ms=0,  # MUNIT: unlimited time, the images stay up
        )
    )
    base, stop = serve_in_thread(folder)
    try:
        p = the_plan(folder, "dee")
        page.goto(f"{base}/?participant=dee")
        page.click("#start-button")
        shown = page.wait_for_function(ONSET, arg=p.order[0], polling="raf").json_value()
        assert shown["id"] == p.order[0] and shown["input"] and shown["left"] and shown["right"]
        page.wait_for_timeout(700)
        assert page.evaluate(
            "document.getElementById('left-img').checkVisibility({visibilityProperty: true})"
        )
        assert "more realistic" in page.inner_text("#question")
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(ONSET, arg=p.order[1], polling="raf")
        page.keyboard.press("ArrowRight")
        page.wait_for_selector("body[data-phase=done]")
    finally:
        stop()
    rows = [json.loads(x) for x in (folder / "answers.jsonl").read_text().splitlines()]
    assert [(r["trial"], r["choice"]) for r in rows] == [
        (p.order[0], "left"),
        (p.order[1], "right"),
    ]


def test_sequential_presentation_shows_left_then_right(page, results: Path, tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    make_study(
        StudyOptions(
            results=results,
            protocol="edges2shoes",
            design="real-vs-fake",
            methods=("bicyclegan",),
            out=folder,
            trials=1,
            practice=0,
            catch_rate=0.0,
            display_ms=400,
            presentation="sequential",
        )
    )
    base, stop = serve_in_thread(folder)
    try:
        page.goto(f"{base}/?participant=eve")
        page.click("#start-button")
        first = page.wait_for_function(ONSET, arg=None, polling="raf").json_value()
        assert first["left"] and not first["right"] and not first["enabled"], first
        page.wait_for_function(
            "() => document.getElementById('right-img').checkVisibility({visibilityProperty: true})",
            polling="raf",
        )
        assert not page.evaluate(
            "document.getElementById('left-img').checkVisibility({visibilityProperty: true})"
        )
        gone = page.wait_for_function(HIDDEN, arg=first["id"], polling="raf").json_value()
        assert gone["after"] >= 2 * 400 and gone["enabled"] and not gone["right"], gone
        page.click("#left")
        page.wait_for_selector("body[data-phase=done]")
    finally:
        stop()
