"""Loaders read the official layouts and refuse broken ones with one clear line."""

from __future__ import annotations

import json
import shutil

import pytest

import protocols
from benchmark.cli import main
from benchmark.errors import UserError
from tests.protocols.conftest import load


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def test_edges2shoes_items_split_halves_and_pair(twin_cache):
    data = load("edges2shoes", twin_cache["edges2shoes"])
    a, b = data.test.items[0], data.test.items[1]
    assert (a.crop, b.crop, a.domain, b.domain, a.pair) == ("left", "right", 0, 1, 1)
    assert a.path == b.path
    assert data.image(a).shape == (3, 32, 32)
    assert data.image(a).mean() > data.image(b).mean()  # white edge map vs painted photo


def test_afhq_v2_layout_with_test_split(tmp_path):
    root = protocols.get("afhq").synthesize(tmp_path / "afhq", size=32, version=2)
    data = load("afhq", root)
    assert data.test.name == "test"
    assert data.test.items[0].path.endswith(".png")


def test_celeba_official_anno_eval_layout(twin):
    root = twin("celeba_attributes")
    (root / "Anno").mkdir()
    (root / "Eval").mkdir()
    shutil.move(root / "list_attr_celeba.txt", root / "Anno" / "list_attr_celeba.txt")
    shutil.move(root / "list_eval_partition.txt", root / "Eval" / "list_eval_partition.txt")
    data = load("celeba_attributes", root)
    assert len(data.test) == 60 and len(data.train) == 320


def test_animal_faces_lists_are_crlf_and_classes_sorted(twin_cache):
    root = twin_cache["animal_faces"]
    assert b"\r\n" in (root / "animals_list_test.txt").read_bytes()
    data = load("animal_faces", root)
    n_train = len({it.domain for it in data.train.items})
    assert data.class_names[:n_train] == sorted(data.class_names[:n_train])


@pytest.mark.parametrize(
    ("name", "breakage", "expected"),
    [
        ("edges2shoes", lambda r: shutil.rmtree(r / "val"), "missing folder"),
        ("edges2shoes", lambda r: (r / "val" / "1_AB.jpg").unlink(), "expected 40"),
        ("edges2shoes", lambda r: _truncate(r / "val" / "3_AB.jpg"), "cannot read image"),
        ("afhq", lambda r: shutil.rmtree(r / "train" / "wild"), "train/wild"),
        ("afhq", lambda r: _truncate(r / "val" / "dog" / "flickr_dog_000002.jpg"), "flickr_dog"),
        ("animal_faces", lambda r: (r / "animals_list_test.txt").unlink(), "animals_list_test"),
        ("celeba_attributes", lambda r: (r / "list_attr_celeba.txt").unlink(), "list_attr"),
        (
            "celeba_attributes",
            lambda r: (r / "list_eval_partition.txt").write_text("000001.jpg 0\n"),
            "no partition",
        ),
        (
            "celeba_attributes",
            lambda r: (r / "img_align_celeba" / "000007.jpg").unlink(),
            "000007.jpg",
        ),
    ],
)
def test_broken_layouts_raise_one_line(twin, name, breakage, expected):
    root = twin(name)
    breakage(root)
    with pytest.raises(UserError) as err:
        load(name, root)
    msg = str(err.value)
    assert expected in msg and "\n" not in msg


def test_wrong_attribute_count_in_header(twin):
    root = twin("celeba_attributes")
    path = root / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(["999"] + lines[1:]) + "\n")
    with pytest.raises(UserError, match="expected 999"):
        load("celeba_attributes", root)


def test_real_layout_without_sidecar_checks_official_counts(twin):
    """Without the synthetic sidecar the loader expects the real dataset's counts."""
    root = twin("edges2shoes")
    (root / "synthetic.json").unlink()
    with pytest.raises(UserError, match="expected 200"):
        load("edges2shoes", root)


def test_leaking_target_class_is_refused(twin):
    root = twin("animal_faces")
    names = (root / "animals_train_class_names.txt").read_text().split()
    test_names = (root / "animals_test_class_names.txt").read_text().split()
    side = json.loads((root / "synthetic.json").read_text())
    side["counts"]["train_classes"] += 1
    (root / "synthetic.json").write_text(json.dumps(side))
    (root / "animals_train_class_names.txt").write_text("\r\n".join(names + test_names[:1]))
    with pytest.raises(UserError, match="few-shot split"):
        load("animal_faces", root)


def test_cli_reports_bad_data_as_one_line_exit_2(twin, capsys):
    root = twin("afhq")
    shutil.rmtree(root / "val" / "cat")
    code = main(["data", "check", "afhq", str(root)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "val/cat" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err
