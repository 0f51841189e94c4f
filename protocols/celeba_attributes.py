"""CelebA attribute editing (StarGAN, Fader Networks), scored with an attribute classifier.

Layout: ``img_align_celeba/000001.jpg`` ... with ``list_attr_celeba.txt`` (count line, 40 names,
then ``file v1 .. v40`` in {1, -1}) and ``list_eval_partition.txt`` (``file 0|1|2``), either flat
under the root (torchvision) or in the official ``Anno/`` and ``Eval/`` folders. Images are
178x218; StarGAN centre-crops 178 and resizes to 128. The test split is partition 2 (StarGAN's
own 1,999-image split is the ``celeba_stargan`` protocol, protocols/celeba_stargan.py). StarGAN's
targets (``solver.create_labels``): a hair colour is set (the others cleared); other attributes
flip.
StarGAN itself used a user study; scoring edits with an attribute classifier follows later work.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.errors import UserError
from protocols import ProtocolDef, register
from protocols.base import (
    SIDECAR,
    Item,
    Protocol,
    ProtocolData,
    Split,
    check_count,
    check_image,
    fingerprint,
    open_image,
    read_sidecar,
    require_dir,
)
from protocols.synth import grid, to_uint8

# list_attr_celeba.txt column order (StarGAN jpg/CelebA.md; PROTOCOLS.md 1.4)
ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young"
).split()
SELECTED = (
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Male",
    "Young",
    "Eyeglasses",
    "Smiling",
    "No_Beard",
)
HAIR = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
REAL_COUNTS = {"images": 202599, "train": 162770, "val": 19867, "test": 19962}
HAIR_RGB = {
    "Black_Hair": (0.1, 0.08, 0.07),
    "Blond_Hair": (0.95, 0.85, 0.45),
    "Brown_Hair": (0.45, 0.28, 0.12),
    "Gray_Hair": (0.7, 0.7, 0.72),
}


def target_attributes(attrs: np.ndarray, names: tuple[str, ...], edit: str) -> np.ndarray:
    """StarGAN's test-time target for editing ``edit``: set a hair colour (clear the others),
    or flip any other attribute. ``attrs``: (N, A) 0/1 over ``names``."""
    out = attrs.copy()
    j = names.index(edit)
    if edit in HAIR:
        for h in HAIR:
            if h in names:
                out[:, names.index(h)] = 0
        out[:, j] = 1
    else:
        out[:, j] = 1 - out[:, j]
    return out


def find_file(root: Path, name: str, folder: str) -> Path:
    """``root/name``, or ``root/folder/name`` as the official release nests it."""
    for cand in (root / name, root / folder / name):
        if cand.is_file():
            return cand
    raise UserError(
        f"missing file {root / name} (or {root / folder / name}): CelebA's {name} is needed"
    )


RESTORE = "restore it from the CelebA release (or regenerate the synthetic twin)"


def read_lines(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """``(line number, whitespace-split fields)`` of every non-blank line; bytes that are not
    text (a corrupt download) are one line naming the file, not a decode traceback."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path} is not a text {what} file (byte {exc.start} is not UTF-8); {RESTORE}"
        ) from None
    return [(n, ln.split()) for n, ln in enumerate(text.split("\n"), start=1) if ln.strip()]


def read_attributes(
    attr_file: Path, wanted: tuple[str, ...], *, real: bool
) -> list[tuple[str, tuple[int, ...]]]:
    """``(file name, 0/1 values of wanted)`` per line of list_attr_celeba.txt, in file order,
    validated (header count, the 40 names, 40 values of 1/-1 per line)."""
    lines = read_lines(attr_file, "attribute")
    if len(lines) < 2:
        raise UserError(f"{attr_file} is truncated: expected a count line and 40 names; {RESTORE}")
    (n_count, count), (n_names, names), *rows = lines
    try:
        (declared,) = map(int, count)
    except ValueError:
        raise UserError(
            f"{attr_file}, line {n_count}: should be the image count alone; {RESTORE}"
        ) from None
    if names != ATTRIBUTES:
        raise UserError(
            f"{attr_file}, line {n_names}: should list CelebA's 40 attribute names in order; "
            f"{RESTORE}"
        )
    cols = [ATTRIBUTES.index(a) for a in wanted]
    out = []
    for n, row in rows:
        if len(row) != 41:
            raise UserError(
                f"{attr_file}, line {n}: {len(row)} columns, expected a file name and 40 "
                f"values of 1/-1; {RESTORE}"
            )
        bad = next((v for v in row[1:] if v not in ("1", "-1")), None)
        if bad is not None:
            raise UserError(f"{attr_file}, line {n}: value {bad[:20]!r} is not 1 or -1; {RESTORE}")
        out.append((row[0], tuple(int(row[1 + c] == "1") for c in cols)))
    check_count(len(out), declared, attr_file, "attribute lines (header count)")
    if real:
        check_count(declared, REAL_COUNTS["images"], attr_file, "images in the header")
    return out


def read_partition(part_file: Path) -> dict[str, str]:
    """File name -> "0" (train), "1" (val) or "2" (test), from list_eval_partition.txt."""
    partition = {}
    for n, row in read_lines(part_file, "partition"):
        if len(row) != 2 or row[1] not in ("0", "1", "2"):
            raise UserError(
                f"{part_file}, line {n}: expected a file name and its partition 0, 1 or 2; "
                f"{RESTORE}"
            )
        partition[row[0]] = row[1]
    return partition


def celeba_item(folder: str, name: str, attrs: tuple[int, ...], sidecar: dict | None) -> Item:
    rel = f"{folder}/{name}"
    return Item(rel, 0, attrs=attrs, factors=(sidecar or {}).get("factors", {}).get(rel))


def celeba_data(
    root: Path,
    protocol: Protocol,
    train: list[Item],
    test: list[Item],
    rows: list[tuple[str, tuple[int, ...]]],
    folder: str,
    attr_file: Path,
    index_files: list[Path],
    sidecar: dict | None,
) -> ProtocolData:
    """Check that every listed image exists (and, on a twin, decodes), then index the splits."""
    for it in train + test:
        if not (root / it.path).is_file():
            raise UserError(f"missing image {root / it.path} listed in {attr_file}")
    for it in test if sidecar else []:
        check_image(root / it.path)
    return ProtocolData(
        protocol=protocol,
        root=root,
        train=Split("train", train),
        test=Split("test", test),
        class_names=list(protocol.attributes),
        fingerprint=fingerprint(
            root, [f"{folder}/{f}" for f, _ in rows], [attr_file, *index_files]
        ),
        synthetic=sidecar is not None,
        loader=open_image,
        edit_target=target_attributes,
    )


@register
class CelebAAttributes(ProtocolDef):
    name = "celeba_attributes"
    paper = Protocol(
        name="celeba_attributes",
        version=2,  # 2: resized with PIL bilinear, as StarGAN's torchvision Resize
        kind="attributes",
        dataset="CelebA aligned: img_align_celeba/ + list_attr_celeba.txt + list_eval_partition.txt",
        train_split="partition 0",
        test_split="partition 2",
        image_size=128,
        domains=("face",),
        tasks=SELECTED,
        num_test_inputs=2000,
        outputs_per_input=1,
        metrics=("accuracy", "fid", "kid", "content"),
        attributes=SELECTED,
        params=(
            ("crop", "center-square"),
            ("fid_real", "attribute"),
            ("resize_filter", "bilinear"),
        ),
        deviations=(
            "StarGAN released no evaluation code (its paper ran a user study): the classifier "
            "accuracy, FID, KID and content are the suite's",
            "the official test partition and three edits beyond StarGAN's five",
        ),
        notes="StarGAN default five (hair colour set, Male/Young flipped) plus Eyeglasses, "
        "Smiling, No_Beard flips; edit success scored by the protocol's attribute classifier.",
    )

    # the twin's layout: image folder, and whether it ships the official partition file
    image_dir = "img_align_celeba"
    writes_partition = True

    def load(self, root: Path, protocol: Protocol) -> ProtocolData:
        root = Path(root)
        sidecar = read_sidecar(root)
        require_dir(root / "img_align_celeba", "CelebA's img_align_celeba/ JPGs")
        attr_file = find_file(root, "list_attr_celeba.txt", "Anno")
        part_file = find_file(root, "list_eval_partition.txt", "Eval")
        rows = read_attributes(attr_file, protocol.attributes, real=sidecar is None)
        partition = read_partition(part_file)
        missing = sorted({f for f, _ in rows} - set(partition))
        if missing:
            raise UserError(
                f"{part_file}: no partition for {missing[0]} and {len(missing) - 1} more"
            )
        splits: dict[str, list[Item]] = {"0": [], "2": []}
        for f, attrs in sorted(rows):
            if partition[f] in splits:
                splits[partition[f]].append(celeba_item("img_align_celeba", f, attrs, sidecar))
        if sidecar is None:
            check_count(len(splits["2"]), REAL_COUNTS["test"], part_file, "test (2) entries")
        return celeba_data(
            root, protocol, splits["0"], splits["2"], rows, "img_align_celeba", attr_file,
            [part_file], sidecar,
        )  # fmt: skip

    def synthesize(self, out: Path, *, size: int = 32, seed: int = 0) -> Path:
        """Cartoon faces at CelebA's 178:218 aspect. Content: face position, size and skin tone
        (identity); style: the rendered attributes (hair colour, male jaw, age, glasses, smile,
        beard). Unrendered attributes are random, as they would be invisible noise."""
        out = Path(out)
        rng = np.random.default_rng(seed)
        w, h = size + size // 8, int(round((size + size // 8) * 218 / 178))
        (out / self.image_dir).mkdir(parents=True, exist_ok=True)
        n_total, parts = 400, {"0": 320, "1": 20, "2": 60}
        attr_lines, part_lines, factors = [], [], {}
        part_of = ["0"] * parts["0"] + ["1"] * parts["1"] + ["2"] * parts["2"]
        for i in range(n_total):
            fname = f"{i + 1:06d}.jpg"
            a = {name: int(rng.random() < 0.5) for name in ATTRIBUTES}
            hair = rng.choice(HAIR + ("none",), p=(0.3, 0.25, 0.3, 0.05, 0.1))
            for hh in HAIR:
                a[hh] = int(hair == hh)
            a["Bald"] = int(hair == "none")
            a["Male"] = int(rng.random() < 0.45)
            a["No_Beard"] = int(not (a["Male"] and rng.random() < 0.5))
            a["Young"] = int(rng.random() < 0.7)
            a["Eyeglasses"] = int(rng.random() < 0.3)
            a["Smiling"] = int(rng.random() < 0.5)
            content = {
                "cx": round(float(rng.uniform(0.45, 0.55)), 4),
                "cy": round(float(rng.uniform(0.5, 0.58)), 4),
                "r": round(float(rng.uniform(0.26, 0.32)), 4),
                "skin": round(float(rng.uniform(0.55, 0.85)), 4),
            }
            img = _face(w, h, content, a, rng)
            Image.fromarray(to_uint8(img, rng, 0.01)).save(out / self.image_dir / fname, quality=95)
            vals = " ".join(f"{1 if a[n] else -1:2d}" for n in ATTRIBUTES)
            attr_lines.append(f"{fname} {vals}")
            part_lines.append(f"{fname} {part_of[i]}")
            factors[f"{self.image_dir}/{fname}"] = {
                "content": content,
                "style": {n: a[n] for n in SELECTED},
            }
        header = f"{n_total}\n" + " ".join(ATTRIBUTES) + " \n"
        (out / "list_attr_celeba.txt").write_text(header + "\n".join(attr_lines) + "\n")
        if self.writes_partition:
            (out / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
        sidecar = {
            "protocol": self.name,
            "generator": f"{type(self).__module__}.synthesize",
            "seed": seed,
            "size": size,
            "counts": {
                "images": n_total,
                **{k: v for k, v in zip(("train", "val", "test"), parts.values())},
            },
            "content_factors": ["cx", "cy", "r", "skin"],
            "style_factors": list(SELECTED),
            "factors": factors,
        }
        (out / SIDECAR).write_text(json.dumps(sidecar, indent=0, sort_keys=True))
        return out


def _face(w: int, h: int, c: dict, a: dict, rng: np.random.Generator) -> np.ndarray:
    """Render one cartoon face; every rendered attribute changes a distinct region."""
    x, y = grid(h, w)
    x = x * w / h  # isotropic units (height = 1)
    cx = c["cx"] * w / h
    cy, r = c["cy"], c["r"]
    img = np.ones((h, w, 3), np.float32) * np.array([0.55, 0.6, 0.7], np.float32)
    skin = np.array([1.0, 0.8, 0.65], np.float32) * c["skin"]
    if not a["Young"]:
        skin = skin * 0.8 + 0.12  # greyer, flatter skin
    jaw = 1.0 if a["Male"] else 1.2  # male: wider, squarer face
    face = ((x - cx) / (r / jaw)) ** 2 + ((y - cy) / (r * 1.15)) ** 2 <= 1
    hair_rgb = np.array(HAIR_RGB.get(_hair(a), (0.0, 0.0, 0.0)), np.float32)
    if _hair(a):
        long_hair = not a["Male"]
        top = ((x - cx) / (r * 1.15)) ** 2 + ((y - cy + 0.12) / (r * 1.1)) ** 2 <= 1
        if long_hair:
            top |= (np.abs(x - cx) <= r * 1.1) & (y >= cy - 0.05) & (y <= cy + r * 1.1)
        img[top] = hair_rgb
    img[face] = skin
    if not a["No_Beard"]:
        img[face & (y > cy + r * 0.35)] = skin * 0.35
    eye_y = cy - r * 0.15
    for ex in (cx - r * 0.4, cx + r * 0.4):
        eye = (x - ex) ** 2 + (y - eye_y) ** 2 <= (r * 0.12) ** 2
        img[eye] = (0.05, 0.05, 0.1)
        if a["Eyeglasses"]:
            d = np.sqrt((x - ex) ** 2 + (y - eye_y) ** 2)
            img[(d >= r * 0.22) & (d <= r * 0.32)] = (0.0, 0.0, 0.0)
    mouth_w = r * 0.45
    in_x = np.abs(x - cx) <= mouth_w
    curve = cy + r * 0.4 + (0.12 * r * (1 - ((x - cx) / mouth_w) ** 2) if a["Smiling"] else 0)
    mouth = in_x & (np.abs(y - curve) <= r * 0.07)
    img[mouth & face] = (0.6, 0.1, 0.15)
    return img


def _hair(a: dict) -> str | None:
    for hh in HAIR:
        if a[hh]:
            return hh
    return None
