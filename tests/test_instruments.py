"""Protocol classifiers as frozen instruments: the committed files match their pins and cards,
the twins they were trained on are the twins every machine generates, a run never trains one
unasked, and another instrument is said in one line instead of hundreds of missing rows."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import protocols
from benchmark import classifier, datasets, instruments, presets
from benchmark import records as rec
from benchmark.cli import main
from benchmark.provenance import sha256_file
from benchmark.report.labels import LOCAL_LABEL
from tests.cpu_kernels import OTHER_CPU

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference"
PINS = instruments.load_pins()
SMOKE = ["--preset", "smoke", "--device", "cpu", "--no-profile"]


SYNTH = (
    "import sys; from pathlib import Path; import protocols\n"
    "for name in protocols.names():\n"
    "    protocols.get(name).synthesize(Path(sys.argv[1]) / name, size=32, seed=0)\n"
)


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> Path:
    """Every protocol's 32 px twin, generated here as a run generates it."""
    root = tmp_path_factory.mktemp("twins")
    subprocess.run([sys.executable, "-c", SYNTH, str(root)], cwd=REPO, check=True, timeout=600)
    return root


def test_twin_bytes_are_identical_under_every_kernel_setting(twins, tmp_path):
    other = tmp_path / "other"
    env = {**os.environ, **OTHER_CPU}
    subprocess.run([sys.executable, "-c", SYNTH, str(other)], cwd=REPO, env=env, check=True)
    here, there = _tree_digest(twins), _tree_digest(other)
    assert len(here) > 500 and here == there


@pytest.mark.parametrize("pin", PINS, ids=[p.file for p in PINS])
def test_every_pin_is_a_committed_file_whose_card_matches_it(pin):
    path = instruments.INSTRUMENTS_DIR / pin.file
    clf = classifier.from_file(path, pin.protocol)
    card = instruments.read_card(path)
    assert clf.weights_sha256 == pin.sha256 == card["sha256"]
    assert card["file_sha256"] == sha256_file(path) and card["file"] == pin.file
    assert card["protocol"] == pin.protocol and card["protocol_data_hash"] == pin.data_hash
    assert card["class_names"] == clf.class_names and card["torch"]
    arch = card["architecture"]
    chance = 0.5 if arch["multi_label"] else 1 / arch["num_classes"]
    # well above chance on held-out images (animal_faces: 0.38 top-1 over 20 classes)
    assert card["heldout"]["accuracy"] == clf.report["accuracy"] > min(0.9, 5 * chance)
    assert card["command"].startswith(f"python -m benchmark classifier train {pin.protocol}")


@pytest.mark.parametrize("preset", ["smoke", "quick"])
@pytest.mark.parametrize("name", protocols.names())
def test_the_twin_presets_of_every_protocol_are_pinned_to_the_twin_generated_now(
    name, preset, twins
):
    data = datasets.load(name, twins / name, presets.get(preset))
    pin = instruments.pin_for(data.protocol)
    assert pin is not None and preset in pin.presets
    card = instruments.read_card(instruments.INSTRUMENTS_DIR / pin.file)
    # a changed twin generator must come with retrained instruments
    assert card["dataset_fingerprint"] == data.fingerprint


def test_every_classifier_record_of_the_reference_names_a_committed_file_with_its_card():
    seen = set()
    for r in rec.iter_records(REFERENCE):
        if r.extractor and r.extractor.startswith("protocol:") and r.status == "ok":
            path = instruments.INSTRUMENTS_DIR / r.provenance["classifier_file"]
            card = instruments.read_card(path)
            assert r.extractor.endswith("@" + card["sha256"][:12])
            assert r.provenance["instrument"] == instruments.OFFICIAL
            seen.add(r.protocol)
    assert seen == set(protocols.names())


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _run(out: Path, cache: Path, *extra: str) -> int:
    argv = ["run", *SMOKE, "--protocols", "afhq", "--baselines", "identity"]
    return main([*argv, "--out", str(out), "--cache-dir", str(cache), *extra])


def _error_line(capsys) -> str:
    """The one error line of a refused command (the log's progress lines share stderr)."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and err.rstrip().endswith(lines[0]) and "Traceback" not in err, err
    return lines[0]


def _classifier_records(out: Path) -> list[rec.Record]:
    return [
        r
        for r in rec.iter_records(out)
        if r.extractor and r.extractor.startswith("protocol:") and r.status == "ok"
    ]


def test_a_run_never_trains_an_instrument_unasked_and_labels_one_it_trained(
    tmp_path, cache, capsys, monkeypatch
):
    empty = tmp_path / "pins.json"
    empty.write_text('{"pins": []}')
    monkeypatch.setattr(instruments, "PINS_FILE", empty)
    assert _run(tmp_path / "refused", cache, "--no-report") == 2
    err = _error_line(capsys)
    assert "no official classifier" in err
    assert "benchmark classifier train afhq --preset smoke" in err and "--train-classifiers" in err
    assert not (tmp_path / "refused" / "records").exists()

    out = tmp_path / "trained"
    assert _run(out, cache, "--train-classifiers") == 0
    made = _classifier_records(out)
    assert made and {r.provenance["instrument"] for r in made} == {instruments.TRAINED}
    report = out / "report"
    for name in ("index.html", "leaderboard.md"):
        assert LOCAL_LABEL in (report / name).read_text()
    assert LOCAL_LABEL.replace("—", "---") in (report / "tables.tex").read_text()
    frame = pd.read_csv(report / "results.csv")
    assert set(frame["instrument"].dropna()) == {instruments.TRAINED}


@pytest.fixture(scope="module")
def mine(tmp_path_factory, cache) -> Path:
    """An afhq classifier trained here with fewer steps: a local instrument, not the pinned."""
    weights = tmp_path_factory.mktemp("mine") / "mine.pt"
    argv = ["classifier", "train", "afhq", "--preset", "smoke", "--steps", "20"]
    assert main([*argv, "--out", str(weights), "--cache-dir", str(cache)]) == 0
    return weights


def test_classifier_train_and_card_then_a_run_with_it_is_refused_by_the_gate_in_one_line(
    tmp_path, cache, mine, capsys
):
    capsys.readouterr()
    assert main(["classifier", "card", str(mine)]) == 0
    card = json.loads(capsys.readouterr().out)
    clf = classifier.from_file(mine, "afhq")
    assert card["sha256"] == clf.weights_sha256 and card["training"]["steps"] == 20
    assert card["file_sha256"] == sha256_file(mine)
    assert set(card["heldout"]) >= {"accuracy", "per_class", "test_images"}

    out = tmp_path / "results"
    assert _run(out, cache, "--no-report", "--classifier", f"afhq={mine}") == 0
    made = _classifier_records(out)
    assert {r.extractor for r in made} == {clf.id}
    assert {r.provenance["instrument"] for r in made} == {instruments.LOCAL}
    assert {r.provenance["classifier_file"] for r in made} == {"mine.pt"}

    capsys.readouterr()
    assert main(["regress", "--results", str(out), "--reference", str(REFERENCE)]) == 2
    assert [_error_line(capsys)] == [
        f"error: afhq: classifier {clf.weights_sha256[:12]} here, 845d5b41e828 in the "
        "reference: not comparable; pass --classifier or rebuild the reference"
    ]


@pytest.mark.parametrize(
    ("flag", "needle"),
    [
        ("AFHQ={pinned}", "'AFHQ' is not a protocol of this run"),
        ("afhq={missing}", "no such file"),
        ("afhq={other}", "is the classifier of protocol 'edges2shoes', not 'afhq'"),
    ],
)
def test_bad_classifier_flags_are_one_line_errors(tmp_path, cache, capsys, flag, needle):
    by = {p.protocol: instruments.INSTRUMENTS_DIR / p.file for p in PINS}
    value = flag.format(pinned=by["afhq"], missing=tmp_path / "nope.pt", other=by["edges2shoes"])
    assert _run(tmp_path / "r", cache, "--no-report", "--classifier", value) == 2
    assert needle in _error_line(capsys)


def test_other_weights_under_the_pinned_name_are_refused(tmp_path, cache, mine, capsys):
    pin = next(p for p in PINS if p.protocol == "afhq")
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / pin.file).write_bytes(mine.read_bytes())
    assert _run(tmp_path / "r", cache, "--no-report", "--weights-dir", str(weights)) == 2
    assert f"afhq pins {pin.sha256[:12]}" in _error_line(capsys)
    assert not (tmp_path / "r" / "records").exists()  # refused before any work


def test_metrics_cli_measures_with_a_pinned_classifier_by_name_or_with_any_file(
    tmp_path, mine, capsys
):
    rng = np.random.default_rng(0)
    for name, lo in (("real", 0), ("fake", 96)):
        (tmp_path / name).mkdir()
        for i in range(8):
            pixels = rng.integers(lo, lo + 160, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    argv = ["metrics", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake")]
    argv += ["--metrics", "fid", "--cache-dir", str(tmp_path / "cache"), "--json"]
    pin = next(p for p in PINS if p.protocol == "afhq")
    # a copy of the same weights under another name (a run's cache) is the same instrument
    (tmp_path / "cache" / "classifiers").mkdir(parents=True)
    shutil.copy(instruments.INSTRUMENTS_DIR / pin.file, tmp_path / "cache/classifiers/afhq-x.pt")
    for extractor, status, file in (
        ("protocol:afhq", instruments.OFFICIAL, pin.file),
        (f"protocol:{mine}", instruments.LOCAL, mine.name),
    ):
        capsys.readouterr()
        assert main([*argv, "--extractor", extractor]) == 0
        (fid,) = json.loads(capsys.readouterr().out)["metrics"]
        assert fid["status"] == "ok" and fid["value"] > 0
        assert fid["provenance"]["instrument"] == status
        assert fid["provenance"]["classifier_file"] == file
