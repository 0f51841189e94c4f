"""``study make``: the study folder, its trials and their randomisation, and its one-line errors.

The results folder is written the way the runner saves samples (``sampling.save_samples``):
edges2shoes (paired: every input folder holds target.png) with pix2pix (unimodal: its three
outputs per input are the same image), bicyclegan and the ground_truth oracle; afhq (unpaired:
no target) with munit, stargan_v2 and the random_real oracle; and a method that saved inputs
but no outputs. Every image has its own content, so a test can tell which file a trial shows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import records
from benchmark.errors import UserError
from benchmark.records import Record
from benchmark.study import order
from benchmark.study.make import StudyOptions, catch_count, make_study

E2S = "edges2shoes-0123456789ab"
AFHQ = "afhq-ba9876543210"
INPUTS = 6
SIZE = 16


def _png(path: Path, seed: int, flat: tuple[int, int, int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = (
        np.full((SIZE, SIZE, 3), flat, np.uint8)
        if flat is not None
        else rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    )
    Image.fromarray(arr).save(path)


def _seed(*parts: object) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def _samples(
    root: Path,
    slug: str,
    baseline: str,
    task: str,
    *,
    outs: int,
    target: bool,
    unimodal: bool = False,
    seeds: tuple[int, ...] = (0,),
) -> None:
    for seed in seeds:
        for i in range(INPUTS):
            d = root / "samples" / slug / baseline / f"seed{seed}" / task / f"{i:04d}"
            _png(d / "input.png", _seed(slug, "input", i))
            for k in range(outs):
                _png(d / f"out_{k:02d}.png", _seed(slug, baseline, seed, i, 0 if unimodal else k))
            if target:
                _png(d / "target.png", _seed(slug, "target", i))


def make_results(root: Path) -> Path:
    """The fixture results folder (sample PNGs and one record naming the preset)."""
    _samples(root, E2S, "pix2pix", "edges2shoes--latent", outs=3, target=True, unimodal=True)
    _samples(root, E2S, "bicyclegan", "edges2shoes--latent", outs=3, target=True, seeds=(1, 0))
    _samples(root, E2S, "ground_truth", "edges2shoes--latent", outs=1, target=True)
    for b in ("munit", "stargan_v2", "random_real"):
        _samples(root, AFHQ, b, "cat2dog--latent", outs=2, target=False)
        _samples(root, AFHQ, b, "dog2cat--latent", outs=2, target=False)
    _samples(root, AFHQ, "no_outputs", "cat2dog--latent", outs=0, target=False)
    records.write(
        root,
        Record(
            protocol="edges2shoes",
            protocol_hash=E2S.rpartition("-")[2],
            baseline="pix2pix",
            seed=0,
            metric="fid",
            value=1.0,
            preset="smoke",
        ),
    )
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_results(tmp_path_factory.mktemp("results"))


def opts(results: Path, out: Path, **kw) -> StudyOptions:
    base = dict(
        results=results,
        protocol="edges2shoes",
        design="real-vs-fake",
        methods=("pix2pix", "bicyclegan"),
        out=out,
        trials=6,
        practice=4,
        catch_rate=0.2,
        seed=3,
    )
    return StudyOptions(**(base | kw))


@pytest.fixture(scope="module")
def rvf(results: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("rvf") / "study"
    return out, make_study(opts(results, out))


def _image(study: Path, rel: str) -> bytes:
    return (study / rel).read_bytes()


def _sample(results: Path, slug: str, source: str) -> bytes:
    return (results / "samples" / slug / source.split(" ")[0]).read_bytes()


def _balanced(trials: list[dict], side_of) -> None:
    sides = Counter(side_of(t) for t in trials)
    assert abs(sides["left"] - sides["right"]) <= 1, sides


# --- the folder and trials.json ------------------------------------------------------------------


def test_study_folder_is_self_contained(rvf: tuple[Path, dict]) -> None:
    study, doc = rvf
    names = {p.name for p in study.iterdir()}
    assert names == {
        "index.html",
        "study.js",
        "study.css",
        "study.json",
        "trials.json",
        "trials.csv",
        "images",
    }
    for f in ("index.html", "study.js", "study.css"):
        text = (study / f).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), f  # no CDN
    assert json.loads((study / "trials.json").read_text()) == doc
    for t in doc["trials"]:
        for rel in (t["left"], t["right"]) + ((t["input"],) if t["input"] else ()):
            assert re.fullmatch(r"images/[0-9a-f]{16}\.png", rel), rel
            data = _image(study, rel)
            assert hashlib.sha256(data).hexdigest()[:16] == rel[7:23]  # named by content


def test_trials_json_shape(rvf: tuple[Path, dict]) -> None:
    _, doc = rvf
    assert {"study", "design", "protocol", "protocol_hash", "trials"} <= set(doc)
    assert (doc["design"], doc["protocol"], doc["protocol_hash"]) == (
        "real-vs-fake",
        "edges2shoes",
        "0123456789ab",
    )
    assert doc["preset"] == "smoke" and doc["against"] == "ground_truth"
    assert doc["display_ms"] == 1000 and doc["seed"] == 3
    keys = {"id", "kind", "left", "right", "correct", "method", "against"}
    ids = [t["id"] for t in doc["trials"]]
    assert len(set(ids)) == len(ids)
    kinds = Counter(t["kind"] for t in doc["trials"])
    # pix2pix saved one distinct output per input: 6 pairs; bicyclegan 18, 6 asked
    assert kinds == {"practice": 4, "test": 12, "catch": catch_count(12, 0.2)} == doc["counts"]
    for t in doc["trials"]:
        assert keys <= set(t), t
        assert t["kind"] in ("practice", "test", "catch")
        assert t["correct"] in ("left", "right")  # real-vs-fake: every answer is known
        if t["kind"] == "catch":
            assert t["method"] is None
        else:
            assert t["method"] in ("pix2pix", "bicyclegan") and t["against"] == "real"
    # practice first, then test and catch mixed, under ids that do not tell them apart
    assert [t["kind"] for t in doc["trials"][:4]] == ["practice"] * 4
    main = doc["trials"][4:]
    assert all(re.fullmatch(r"q\d{3}", t["id"]) for t in main)
    assert [t["kind"] for t in main] != sorted((t["kind"] for t in main), reverse=True)


def test_the_real_side_is_the_ground_truth(rvf: tuple[Path, dict], results: Path) -> None:
    study, doc = rvf
    for t in doc["trials"]:
        if t["kind"] == "catch":
            continue
        real, fake = (t["left"], t["right"]) if t["correct"] == "left" else (t["right"], t["left"])
        real_src = t["sources"][t["correct"]]
        fake_src = t["sources"]["right" if t["correct"] == "left" else "left"]
        assert real_src.endswith("/target.png (target)"), real_src
        assert fake_src.startswith(t["method"] + "/seed0/") and "/out_" in fake_src
        assert _image(study, real) == _sample(results, E2S, real_src)
        assert _image(study, fake) == _sample(results, E2S, fake_src)
        # the fake is an output for the same input as the real image
        assert real_src.split("/")[3] == fake_src.split("/")[3]


def test_sides_are_balanced_and_inputs_spread(rvf: tuple[Path, dict]) -> None:
    _, doc = rvf
    for kind in ("practice", "catch"):
        _balanced([t for t in doc["trials"] if t["kind"] == kind], lambda t: t["correct"])
    for m in ("pix2pix", "bicyclegan"):
        tests = [t for t in doc["trials"] if t["kind"] == "test" and t["method"] == m]
        assert len(tests) == 6
        _balanced(tests, lambda t: t["correct"])
        inputs = Counter(t["sources"][t["correct"]].split("/")[3] for t in tests)
        assert len(inputs) == INPUTS  # six trials: six different inputs before any twice
    # the lowest seed of each method (bicyclegan saved seeds 1 and 0)
    assert all("/seed0/" in s for t in doc["trials"] for s in t["sources"].values())


def test_catch_trials_show_an_intact_image_against_a_broken_copy(rvf: tuple[Path, dict]) -> None:
    study, doc = rvf
    catches = [t for t in doc["trials"] if t["kind"] == "catch"]
    assert catches
    for t in catches:
        bad = "right" if t["correct"] == "left" else "left"
        assert re.fullmatch(r"(grey|blur)\(.+\)", t["sources"][bad])
        with Image.open(study / t[t["correct"]]) as a, Image.open(study / t[bad]) as b:
            intact, broken = (np.asarray(x.convert("L"), np.float64) for x in (a, b))
        assert broken.std() < intact.std() / 3  # flat, or blurred beyond recognition


def test_study_json_gives_no_answer_away(rvf: tuple[Path, dict]) -> None:
    study, doc = rvf
    page = json.loads((study / "study.json").read_text())
    assert [t["id"] for t in page["trials"]] == [t["id"] for t in doc["trials"]]
    text = (study / "study.json").read_text()
    for word in ("pix2pix", "bicyclegan", "target", "catch", 'real"'):
        assert word not in text, word
    for t, full in zip(page["trials"], doc["trials"], strict=True):
        assert t["practice"] == (full["kind"] == "practice")
        assert ("correct" in t) == t["practice"]  # feedback needs it; nothing else does
        assert (t["left"], t["right"]) == (full["left"], full["right"])


def test_trials_csv_has_a_row_per_trial(rvf: tuple[Path, dict]) -> None:
    study, doc = rvf
    with open(study / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [t["id"] for t in doc["trials"]]
    for r, t in zip(rows, doc["trials"], strict=True):
        assert (r["left"], r["right"], r["kind"]) == (t["left"], t["right"], t["kind"])
        assert (study / r["left"]).is_file() and (study / r["right"]).is_file()
        assert r["correct"] == (t["correct"] or "") and r["display_ms"] == "1000"


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_trials(results: Path, rvf: tuple[Path, dict], tmp_path: Path) -> None:
    _, doc = rvf
    again = make_study(opts(results, tmp_path / "again"))
    assert again["trials"] == doc["trials"]
    other = make_study(opts(results, tmp_path / "other", seed=4))
    assert other["trials"] != doc["trials"]
    # remaking a study (no answers yet) replaces it whole
    remade = make_study(opts(results, tmp_path / "again", seed=4))
    assert remade["trials"] == other["trials"]
    names = {p.name for p in (tmp_path / "again" / "images").iterdir()}
    used = {Path(t[s]).name for t in remade["trials"] for s in ("left", "right")}
    assert names == used


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5])
def test_catch_rate_respected(results: Path, tmp_path: Path, rate: float) -> None:
    doc = make_study(opts(results, tmp_path / "s", catch_rate=rate, trials=10))
    kinds = Counter(t["kind"] for t in doc["trials"])
    scored = kinds["test"] + kinds["catch"]
    assert kinds["test"] == 6 + 10  # pix2pix has 6 distinct pairs, bicyclegan 18
    assert abs(kinds["catch"] / scored - rate) <= 1 / scored, kinds
    assert kinds["catch"] == catch_count(kinds["test"], rate)


def test_participant_order_is_deterministic_and_balanced(rvf: tuple[Path, dict]) -> None:
    _, doc = rvf
    trials = [(t["id"], t["kind"] == "practice") for t in doc["trials"]]
    a = order.plan(doc["seed"], "alice", trials)
    assert a == order.plan(doc["seed"], "alice", trials)
    b = order.plan(doc["seed"], "bob", trials)
    assert a.order != b.order and sorted(a.order) == sorted(b.order) == sorted(dict(trials))
    assert order.plan(doc["seed"] + 1, "alice", trials) != a
    for p in (a, b):
        assert set(p.order[:4]) == {"p01", "p02", "p03", "p04"}  # practice first
        for group in ([i for i, pr in trials if pr], [i for i, pr in trials if not pr]):
            swapped = sum(p.swapped[i] for i in group)
            assert swapped == len(group) // 2


def test_mulberry32_matches_the_reference_sequence() -> None:
    # the first draws of the JavaScript original, mulberry32(1): 0.6270739405881613, ...
    rng = order.mulberry32(1)
    assert [rng() for _ in range(3)] == [
        0.6270739405881613,
        0.002735721180215478,
        0.5274470399599522,
    ]
    assert order.fnv1a32("") == 0x811C9DC5 and order.fnv1a32("a") == 0xE40C292C


# --- the other designs ---------------------------------------------------------------------------


def test_method_vs_method(results: Path, tmp_path: Path) -> None:
    doc = make_study(
        opts(
            results,
            tmp_path / "mvm",
            protocol="afhq",
            design="method-vs-method",
            methods=("munit", "stargan_v2", "random_real"),
            trials=8,
        )
    )
    assert doc["design"] == "method-vs-method" and doc["against"] is None
    tests = [t for t in doc["trials"] if t["kind"] == "test"]
    pairs = Counter(frozenset((t["method"], t["against"])) for t in tests)
    assert set(pairs.values()) == {8} and len(pairs) == 3  # every pair of the three
    for pair in pairs:
        a = sorted(pair)[0]
        in_pair = [t for t in tests if frozenset((t["method"], t["against"])) == pair]
        _balanced(in_pair, lambda t, a=a: "left" if t["method"] == a else "right")
    for t in tests:
        assert t["correct"] is None and t["input"]
        left, right = t["sources"]["left"], t["sources"]["right"]
        assert left.startswith(t["method"] + "/") and right.startswith(t["against"] + "/")
        assert left.split("/")[2:4] == right.split("/")[2:4]  # same task, same input
    known = [t for t in doc["trials"] if t["kind"] in ("practice", "catch")]
    assert Counter(t["kind"] for t in known)["practice"] == 4
    assert all(t["correct"] in ("left", "right") and t["input"] for t in known)


def test_method_vs_method_against_one(results: Path, tmp_path: Path) -> None:
    doc = make_study(
        opts(
            results,
            tmp_path / "mvm",
            design="method-vs-method",
            methods=("pix2pix", "bicyclegan"),
            against="ground_truth",
            trials=5,
        )
    )
    tests = [t for t in doc["trials"] if t["kind"] == "test"]
    assert Counter(frozenset((t["method"], t["against"])) for t in tests) == {
        frozenset(("pix2pix", "ground_truth")): 5,
        frozenset(("bicyclegan", "ground_truth")): 5,
    }
    for t in tests:
        gt = "left" if t["method"] == "ground_truth" else "right"
        assert t["sources"][gt].endswith("/target.png")


def test_unpaired_real_images_come_from_random_real(results: Path, tmp_path: Path) -> None:
    doc = make_study(opts(results, tmp_path / "s", protocol="afhq", methods=("munit",)))
    tests = [t for t in doc["trials"] if t["kind"] == "test"]
    assert len(tests) == 6
    for t in tests:
        assert t["sources"][t["correct"]].startswith("random_real/")
        assert t["sources"][t["correct"]].endswith(" (random_real)")


# --- one-line errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protocol": "celeba"}, "no samples for protocol 'celeba'"),
        ({"methods": ("pix2pix", "munit")}, "no samples for method 'munit'"),
        ({"protocol": "afhq", "methods": ("no_outputs",)}, "'no_outputs' saved no outputs"),
        ({"against": "random_real"}, "--against random_real: no real image"),
        ({"against": "munit"}, "--against munit: real-vs-fake shows real images"),
        (
            {"design": "method-vs-method", "against": "stargan_v2"},
            "no samples for method 'stargan_v2'",
        ),
        ({"design": "method-vs-method", "methods": ("pix2pix",)}, "needs two methods"),
        ({"methods": ("pix2pix", "pix2pix")}, "names pix2pix twice"),
        ({"catch_rate": 1.0}, "--catch-rate must be in [0, 1)"),
        ({"trials": 0}, "--trials must be 1 or more"),
        ({"tasks": ("cat2dog",)}, "--tasks: no samples for cat2dog"),
    ],
)
def test_refusals(results: Path, tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        make_study(opts(results, tmp_path / "s", **change))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "s").exists()


def test_unpaired_without_random_real_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "r"
    _samples(root, AFHQ, "munit", "cat2dog--latent", outs=2, target=False)
    with pytest.raises(UserError, match="--against ground_truth: no real image to show against"):
        make_study(opts(root, tmp_path / "s", protocol="afhq", methods=("munit",)))
    with pytest.raises(UserError, match=r"has no samples/ folder"):
        make_study(opts(tmp_path, tmp_path / "s"))


def test_a_study_with_answers_is_never_overwritten(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    make_study(opts(results, out))
    (out / "answers.jsonl").write_text('{"participant": "a"}\n')
    with pytest.raises(UserError, match="already holds answers"):
        make_study(opts(results, out))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="other files in it"):
        make_study(opts(results, tmp_path / "busy"))


def test_cli(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchmark.cli import build_parser, main

    args = build_parser(["study", "make"]).parse_args(
        ["study", "make", str(results), "--protocol", "edges2shoes", "--design", "real-vs-fake",
         "--methods", "pix2pix", "--out", str(tmp_path / "s")]
    )  # fmt: skip
    # pix2pix's AMT study: 1 s display, 10 practice trials, 40 test trials
    assert (args.display_ms, args.practice, args.trials) == (1000, 10, 40)
    serve = build_parser(["study"]).parse_args(["study", "serve", "S"])
    assert serve.host == "127.0.0.1"
    analyze = build_parser(["study"]).parse_args(
        ["study", "analyze", "S", "--answers", "a.jsonl", "--answers", "b.jsonl", "--out", "R"]
    )
    assert analyze.answers == [Path("a.jsonl"), Path("b.jsonl")]
    assert (analyze.out, analyze.min_catch_accuracy, analyze.study) == (Path("R"), 0.8, Path("S"))

    argv = ["study", "make", str(results), "--protocol", "edges2shoes", "--design",
            "real-vs-fake", "--methods", "pix2pix", "--trials", "4", "--out", str(tmp_path / "s")]  # fmt: skip
    assert main(argv) == 0
    assert "4 test" in capsys.readouterr().out
    for bad, says in (
        (["--methods", "nope"], "error: no samples for method 'nope'"),
        (["--against", "nope"], "error: --against nope: real-vs-fake shows real images"),
    ):
        assert main([*argv[:-2], *bad, "--out", str(tmp_path / "t")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(says) and "\n" not in err, err


def test_the_page_orders_trials_as_python_does(rvf: tuple[Path, dict]) -> None:
    """study.js's randomisation, run by node where it is installed (the browser test runs it
    in Chromium), against ``benchmark.study.order``, for ids in several scripts."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node (apt-get install nodejs); tests/study/test_browser.py checks too")
    study, doc = rvf
    trials = [[t["id"], t["kind"] == "practice"] for t in doc["trials"]]
    people = ["alice", "bob", "A1B2C3D4E5", "worker.7@x-y_z", "Zoë"]
    script = (
        "global.window = {}; global.document = {addEventListener() {}};"
        f"require({json.dumps(str(study / 'study.js'))});"
        f"const trials = {json.dumps(trials)};"
        f"console.log(JSON.stringify({json.dumps(people)}.map("
        f"p => window.studyPage.plan({doc['seed']}, p, trials))));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for who, got in zip(people, json.loads(out.stdout), strict=True):
        want = order.plan(doc["seed"], who, [tuple(t) for t in trials])
        assert (tuple(got["order"]), got["swapped"]) == (want.order, want.swapped), who
