"""The ``metrics`` CLI on the two layouts of ``--fake``: flat (the output images themselves) and
one subfolder per input holding its K outputs. FID, KID and IS count every output image of every
subfolder, so both layouts of the same images give the same numbers. Measured offline with the
committed afhq classifier (``--extractor protocol:afhq``) on afhq's synthetic twin."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmark.cli import main

CLASSES = ("cat", "dog", "wild")
N_INPUTS, K, N_REAL = 10, len(CLASSES), 12


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    out = tmp_path_factory.mktemp("afhq")
    assert main(["data", "synth", "afhq", "--out", str(out), "--size", "32"]) == 0
    return out


@pytest.fixture()
def folders(tmp_path, twin):
    """The same N_INPUTS x K fakes laid out twice, in the same reading order (sorted subfolders
    then files, or sorted flat names): input i's outputs are the i-th held-out cat, dog and
    wild image, so IS is clearly above 1. The reals are training cats only, so FID and KID
    are clearly above 0."""
    real, grouped, flat = tmp_path / "real", tmp_path / "grouped", tmp_path / "flat"
    real.mkdir()
    flat.mkdir()
    for i, src in enumerate(sorted((twin / "train" / "cat").iterdir())[:N_REAL]):
        shutil.copy(src, real / f"{i:02d}{src.suffix}")
    by_class = {c: sorted((twin / "val" / c).iterdir()) for c in CLASSES}
    for i in range(N_INPUTS):
        (grouped / f"in{i:02d}").mkdir(parents=True)
        for k, c in enumerate(CLASSES):
            src = by_class[c][i]
            shutil.copy(src, grouped / f"in{i:02d}" / f"{k}{src.suffix}")
            shutil.copy(src, flat / f"in{i:02d}_{k}{src.suffix}")
    return tmp_path


def _score(tmp_path, capsys, fake: str, metrics: str) -> tuple[int, dict[str, dict], str]:
    """Exit status, the values by metric and stderr of one ``metrics`` command."""
    capsys.readouterr()
    rc = main(
        [
            "metrics",
            "--real",
            str(tmp_path / "real"),
            "--fake",
            str(tmp_path / fake),
            "--metrics",
            metrics,
            "--extractor",
            "protocol:afhq",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    return rc, ({v["metric"]: v for v in json.loads(out)["metrics"]} if out else {}), err


def test_fid_kid_is_of_subfolders_equal_the_same_images_flat(folders, capsys):
    rc_g, grouped, _ = _score(folders, capsys, "grouped", "fid,kid,is")
    rc_f, flat, _ = _score(folders, capsys, "flat", "fid,kid,is")
    assert rc_g == 0 and rc_f == 0
    assert set(grouped) == set(flat) == {"fid", "kid", "is"}
    # far from degenerate, so the equality compares signals
    assert grouped["fid"]["value"] > 1.0
    assert grouped["kid"]["value"] > 0.01
    assert grouped["is"]["value"] > 1.2  # measured 1.52; noise images score 1.005
    for m in ("fid", "kid", "is"):
        g, f = grouped[m], flat[m]
        assert g["status"] == f["status"] == "ok"
        assert g["value"] == pytest.approx(f["value"], rel=1e-5, abs=1e-9), m
        assert g["extractor"] == f["extractor"] and g["extractor"].startswith("protocol:afhq@")
        # every output of every subfolder is one generated image
        assert g["provenance"]["n_fake"] == {"folders": N_INPUTS * K}
        assert g["provenance"]["fake_layout"] == "one subfolder per input"
        assert f["provenance"]["fake_layout"] == "flat"
    assert grouped["fid"]["provenance"]["n_real"] == {"folders": N_REAL}
    assert grouped["kid"]["std"] == pytest.approx(flat["kid"]["std"], rel=1e-5)
    # the dogs and wild animals count: the cats alone (each input's first output) are closer
    first = folders / "first"
    first.mkdir()
    for f in sorted((folders / "flat").glob("*_0.*")):
        shutil.copy(f, first / f.name)
    rc, cats, _ = _score(folders, capsys, "first", "fid")
    assert rc == 0 and cats["fid"]["provenance"]["n_fake"] == {"folders": N_INPUTS}
    assert cats["fid"]["value"] < 0.8 * grouped["fid"]["value"]


def test_fid_alone_on_subfolders_equals_fid_beside_a_diversity_metric(folders, capsys):
    """Before, FID on subfolders was refused unless a diversity metric was asked for too."""
    rc_alone, alone, _ = _score(folders, capsys, "grouped", "fid")
    rc_both, both, _ = _score(folders, capsys, "grouped", "fid,feature_diversity")
    assert rc_alone == 0 and rc_both == 0
    assert alone["fid"]["value"] == pytest.approx(both["fid"]["value"], rel=1e-6)
    div = both["feature_diversity"]
    assert div["status"] == "ok" and div["value"] > 0
    assert div["provenance"]["outputs_per_input"] == {"folders": K}


@pytest.mark.parametrize(
    "fake, metrics, needle",
    [
        (
            "flat",
            "fid,feature_diversity",
            "has no subfolders; feature_diversity needs --fake to hold one",
        ),
        ("mixed", "fid", "holds both images (in00_0.jpg) and subfolders of images (in00/)"),
        ("missing", "fid", "missing folder"),
    ],
)
def test_layout_mistakes_are_one_line_user_errors(folders, capsys, fake, metrics, needle):
    if fake == "mixed":  # a flat folder with one input's subfolder left in it
        mixed = folders / "mixed"
        mixed.mkdir()
        (folders / "flat" / "in00_0.jpg").rename(mixed / "in00_0.jpg")
        (folders / "grouped" / "in00").rename(mixed / "in00")
    rc, got, err = _score(folders, capsys, fake, metrics)
    assert rc == 2 and not got
    assert len(err.strip().splitlines()) == 1 and needle in err, err
