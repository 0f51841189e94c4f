"""StarGAN's CelebA split, rebuilt here the way its data loader does it, against the protocol's;
and the loader on StarGAN's celeba.zip layout, the official one, and broken ones."""

from __future__ import annotations

import random
import shutil

import pytest

from benchmark.errors import UserError
from protocols.celeba_stargan import STARGAN_ATTRIBUTES, stargan_split
from tests.protocols.conftest import load

REAL_LINES = 202599  # list_attr_celeba.txt lines after the two header lines (PROTOCOLS.md 1.4)


def stargan_test_files(names: list[str]) -> list[str]:
    """PROTOCOLS.md 1.4, step by step: the lines after the header, shuffled by the global
    ``random`` seeded with 1234, test wherever (i + 1) < 2000."""
    state = random.getstate()
    try:
        lines = list(names)
        random.seed(1234)
        random.shuffle(lines)
        return [line for i, line in enumerate(lines) if (i + 1) < 2000]
    finally:
        random.setstate(state)


def test_split_is_stargans_1999_images_in_its_order_on_the_real_line_count():
    names = [f"{i:06d}.jpg" for i in range(1, REAL_LINES + 1)]
    test_at, train_at = stargan_split(REAL_LINES)
    expected = stargan_test_files(names)
    assert len(expected) == 1999
    assert [names[i] for i in test_at] == expected
    assert sorted(test_at + train_at) == list(range(REAL_LINES))


def test_twin_in_stargans_layout_takes_the_first_lines_of_the_same_shuffle(twin_cache):
    root = twin_cache["celeba_stargan"]
    assert (root / "images").is_dir() and not (root / "list_eval_partition.txt").exists()
    data = load("celeba_stargan", root)
    names = [ln.split()[0] for ln in (root / "list_attr_celeba.txt").read_text().splitlines()[2:]]
    shuffled = list(names)
    random.Random(1234).shuffle(shuffled)
    assert [it.path for it in data.test.items] == [f"images/{n}" for n in shuffled[:60]]
    assert len(data.train) == len(names) - 60  # the official val and test partitions train too
    assert data.class_names == list(STARGAN_ATTRIBUTES)
    assert all(len(it.attrs) == 5 for it in data.test.items)


def test_official_layout_loads_with_the_same_split(twin):
    root = twin("celeba_stargan")
    shutil.move(root / "images", root / "img_align_celeba")
    (root / "Anno").mkdir()
    shutil.move(root / "list_attr_celeba.txt", root / "Anno" / "list_attr_celeba.txt")
    data = load("celeba_stargan", root)
    assert data.test.items[0].path.startswith("img_align_celeba/") and len(data.test) == 60


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda r: shutil.rmtree(r / "images"), "img_align_celeba"),
        (lambda r: (r / "list_attr_celeba.txt").unlink(), "list_attr_celeba.txt"),
        (lambda r: (r / "images" / "000007.jpg").unlink(), "000007.jpg"),
        (lambda r: (r / "synthetic.json").unlink(), "expected 202599"),  # real counts apply
    ],
)
def test_broken_layouts_raise_one_line(twin, breakage, expected):
    root = twin("celeba_stargan")
    breakage(root)
    with pytest.raises(UserError) as err:
        load("celeba_stargan", root)
    assert expected in str(err.value) and "\n" not in str(err.value)
