"""StarGAN's own CelebA protocol: its five attributes, its 128 px crop and its test split.

The split is StarGAN's (yunjey/stargan ``data_loader.py``, ``CelebA.preprocess``; PROTOCOLS.md
1.4): the attribute lines after the two header lines, shuffled by ``random.seed(1234)`` and
``random.shuffle``; every line with ``(i + 1) < 2000`` is test, so 1,999 images although the paper
says 2,000, and every other image trains, the official partition file ignored. Python's shuffle
permutes positions without looking at the lines, so the split follows from the line count alone
and is the same on any Python 3 (the Mersenne Twister and ``shuffle`` have been stable since 3.2).

Layouts: StarGAN's ``celeba.zip`` (``images/`` and ``list_attr_celeba.txt``), or the official
one (``img_align_celeba/``, the attribute file flat or in ``Anno/``); no partition file needed.
On a synthetic twin the test set is the first ``counts.test`` lines of the same shuffle.
"""

from __future__ import annotations

import random
from pathlib import Path

from benchmark.errors import UserError
from protocols import register
from protocols.base import SIDECAR, Protocol, ProtocolData, check_count, read_sidecar
from protocols.celeba_attributes import (
    CelebAAttributes,
    celeba_data,
    celeba_item,
    find_file,
    read_attributes,
)

SEED = 1234  # data_loader.py: random.seed(1234)
TEST_IMAGES = 1999  # (i + 1) < 2000
# solver.py / main.py default --selected_attrs (PROTOCOLS.md 1.4: indices 8, 9, 11, 20, 39)
STARGAN_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
IMAGE_DIRS = ("images", "img_align_celeba")  # StarGAN's celeba.zip, then the official release


def stargan_split(n_lines: int, n_test: int = TEST_IMAGES) -> tuple[list[int], list[int]]:
    """(test, train) line positions, in StarGAN's shuffled order."""
    order = list(range(n_lines))
    random.Random(SEED).shuffle(order)
    return order[:n_test], order[n_test:]


@register
class CelebAStarGAN(CelebAAttributes):
    name = "celeba_stargan"
    paper = Protocol(
        name="celeba_stargan",
        version=2,  # 2: resized with PIL bilinear, as StarGAN's torchvision Resize
        kind="attributes",
        dataset="CelebA aligned: images/ (StarGAN's celeba.zip) or img_align_celeba/, "
        "with list_attr_celeba.txt",
        train_split="every image not in the test split (list_eval_partition.txt ignored)",
        test_split="StarGAN's: attribute lines shuffled with random.seed(1234), first 1,999",
        image_size=128,
        domains=("face",),
        tasks=STARGAN_ATTRIBUTES,
        num_test_inputs=0,  # all 1,999
        outputs_per_input=1,
        metrics=("accuracy", "fid", "kid", "content"),
        attributes=STARGAN_ATTRIBUTES,
        params=(
            ("crop", "center-square"),
            ("fid_real", "attribute"),
            ("split", "stargan"),
            ("resize_filter", "bilinear"),
        ),
        deviations=(
            "StarGAN released no evaluation code (its paper ran a user study): the classifier "
            "accuracy, FID, KID and content are the suite's",
        ),
        notes="StarGAN's test split and five attributes (hair colour set, Male/Young flipped), "
        "for comparison with StarGAN's own setup; edits scored by the protocol's classifier "
        "(StarGAN itself ran a user study).",
    )
    image_dir = "images"
    writes_partition = False

    def load(self, root: Path, protocol: Protocol) -> ProtocolData:
        root = Path(root)
        sidecar = read_sidecar(root)
        folder = next((d for d in IMAGE_DIRS if (root / d).is_dir()), None)
        if folder is None:
            raise UserError(
                f"missing folder {root / 'images'} (or {root / 'img_align_celeba'}): expected "
                "CelebA's aligned JPGs, as StarGAN's celeba.zip or the official release unpacks"
            )
        attr_file = find_file(root, "list_attr_celeba.txt", "Anno")
        rows = read_attributes(attr_file, protocol.attributes, real=sidecar is None)
        n_test = TEST_IMAGES if sidecar is None else sidecar.get("counts", {}).get("test")
        if not isinstance(n_test, int):
            raise UserError(
                f"{root / SIDECAR}: no whole-number counts.test; regenerate the twin with "
                "`python -m benchmark data synth`"
            )
        test_at, train_at = stargan_split(len(rows), n_test)
        test = [celeba_item(folder, *rows[i], sidecar) for i in test_at]
        train = [celeba_item(folder, *rows[i], sidecar) for i in train_at]
        if sidecar is None:
            check_count(len(test), TEST_IMAGES, attr_file, "test images (StarGAN split)")
        return celeba_data(root, protocol, train, test, rows, folder, attr_file, [], sidecar)
