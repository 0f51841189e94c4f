"""Frozen protocol descriptions, the loaded-dataset view every protocol returns, and its registry.

A ``Protocol`` is everything that decides whether two numbers are comparable: dataset and split,
image size, domains, test-input and output counts, metrics and their parameters. Its ``hash``
covers all of it; results record it, and the report never puts two hashes in one column.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from benchmark.errors import UserError

# what PIL raises on a file it cannot decode (ValueError also: pixels ``to_8bit`` refuses)
READ_ERRORS = (
    OSError,
    UnidentifiedImageError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)
KINDS = ("paired", "multi_domain", "few_shot", "attributes")
# the fields (and params) a protocol classifier depends on: its pin is keyed by their hash
DATA_FIELDS = (
    "name",
    "kind",
    "dataset",
    "train_split",
    "test_split",
    "image_size",
    "domains",
    "attributes",
    "synthetic",
)
DATA_PARAMS = ("resize", "resize_filter", "classifier_steps")


@dataclass(frozen=True)
class Protocol:
    """A fixed, versioned evaluation protocol. Change any field and the hash changes."""

    name: str
    version: int
    kind: str  # one of KINDS
    dataset: str  # what the real data is, in words
    train_split: str
    test_split: str
    image_size: int
    domains: tuple[str, ...]  # domains; for few-shot the target (test) classes
    tasks: tuple[str, ...]  # what is scored: "edges2shoes", "cat2dog", "Male", "k=5", ...
    num_test_inputs: int  # inputs per task (0 = every test image)
    outputs_per_input: int
    metrics: tuple[str, ...]
    modes: tuple[str, ...] = ("latent",)  # "latent" and/or "reference" guided synthesis
    shots: tuple[int, ...] = ()  # few-shot K values
    attributes: tuple[str, ...] = ()  # attribute names (celeba)
    params: tuple[tuple[str, Any], ...] = ()  # metric parameters and protocol-specific knobs
    preset: str = "paper"
    synthetic: bool = False  # True when this is the protocol's synthetic twin
    # the authors' evaluation code this protocol reproduces step for step ("" when they released
    # none), and every named way it does not (docs/protocols.md has the step-by-step comparison)
    follows: str = ""
    deviations: tuple[str, ...] = ()
    notes: str = ""

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def hash(self) -> str:
        """sha256 over the canonical JSON of every field except free-text notes (12 hex)."""
        data = self.to_dict()
        data.pop("notes")
        blob = json.dumps(data, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def data_hash(self) -> str:
        """sha256 (12 hex) of what a protocol classifier learns from: the data, its splits,
        size, classes and resize, and the classifier's training length; not the metrics, counts
        or version, so a metric-only change keeps the pinned instrument."""
        data = {k: getattr(self, k) for k in DATA_FIELDS}
        data["params"] = {k: self.param(k) for k in DATA_PARAMS}
        blob = json.dumps(data, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def replace(self, **changes: Any) -> Protocol:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Item:
    """One image of a split: where it is and what it is (domain, class, attributes, pairing)."""

    path: str  # relative to the dataset root
    domain: int  # domain index (paired: 0 = A, 1 = B), class index for few-shot
    crop: str | None = None  # "left"/"right" half of a side-by-side paired file
    attrs: tuple[int, ...] | None = None  # 0/1 attribute vector (celeba)
    pair: int | None = None  # index in the same split of the paired target item
    factors: dict[str, Any] | None = None  # synthetic ground truth (content and style)


@dataclass
class Split:
    name: str
    items: list[Item]

    def indices(self, domain: int) -> list[int]:
        return [i for i, it in enumerate(self.items) if it.domain == domain]

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class ProtocolData:
    """A dataset on disk, validated and indexed for one protocol."""

    protocol: Protocol
    root: Path
    train: Split
    test: Split
    class_names: list[str]  # the name of each domain/class index used in Items
    fingerprint: str
    synthetic: bool
    loader: Callable[[Path, Item], Image.Image]
    # attribute protocols: (N, A) 0/1 attributes, their names, the edited one -> wanted vector
    # (the dataset's own rule, e.g. StarGAN's exclusive hair colours)
    edit_target: Callable[[np.ndarray, tuple[str, ...], str], np.ndarray] | None = None
    cache_limit_bytes: int = 2 << 30  # decoded images kept in memory (real data can be huge)
    _cache: dict[tuple[str, str | None], torch.Tensor] = field(default_factory=dict, repr=False)
    _cached_bytes: int = field(default=0, repr=False)

    def image(self, item: Item) -> torch.Tensor:
        """One image as float (3, S, S) in [-1, 1] at the protocol's size (cached)."""
        key = (item.path, item.crop)
        if key in self._cache:
            return self._cache[key]
        path = self.root / item.path
        try:
            img = self.loader(path, item)
            img.load()
        except READ_ERRORS as exc:
            raise UserError(
                f"cannot read image {path} ({exc}); replace or delete the file "
                "(or regenerate the dataset)"
            ) from exc
        p = self.protocol
        tensor = to_tensor(
            img, p.image_size, p.param("resize", "crop"), p.param("resize_filter", "bicubic")
        )
        nbytes = tensor.numel() * tensor.element_size()
        if self._cached_bytes + nbytes <= self.cache_limit_bytes:
            self._cache[key] = tensor
            self._cached_bytes += nbytes
        return tensor

    def images(self, items: Sequence[Item]) -> torch.Tensor:
        if not items:
            return torch.empty(0, 3, self.protocol.image_size, self.protocol.image_size)
        return torch.stack([self.image(it) for it in items])

    def describe(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "fingerprint": self.fingerprint,
            "synthetic": self.synthetic,
            "train_images": len(self.train),
            "test_images": len(self.test),
        }


RESIZES = ("crop", "squash")
FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


def to_tensor(
    img: Image.Image, size: int, resize: str = "crop", filter: str = "bicubic"
) -> torch.Tensor:
    """RGB (high bit depths scaled by ``to_8bit``), made square, resized to ``size`` by PIL on
    8-bit pixels, mapped to [-1, 1].

    ``resize`` (the protocol's ``resize`` param): "crop" takes the centred square first, like
    StarGAN's CenterCrop (a no-op on square images); "squash" scales the whole image to
    ``size`` x ``size`` whatever its aspect, as FUNIT's test_k_shot.py Resize((128, 128)) does
    to Animal Faces' non-square crops. ``filter`` (``resize_filter``): PIL's antialiased
    "bicubic", or "bilinear", torchvision ``Resize``'s default on PIL images (StarGAN v2's
    ``get_eval_loader``)."""
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}; use one of {RESIZES}")
    if filter not in FILTERS:
        raise ValueError(f"unknown resize_filter {filter!r}; use one of {tuple(FILTERS)}")
    img = to_8bit(img).convert("RGB")
    w, h = img.size
    if w != h and resize == "crop":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    if img.size != (size, size):
        img = img.resize((size, size), FILTERS[filter])
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] to uint8 in [0, 255] as ``torchvision.utils.save_image`` writes them
    (StarGAN v2's and MUNIT's saved outputs): [0, 1] clamped, times 255, plus 0.5, truncated."""
    x01 = ((x.float() + 1) / 2).clamp(0, 1)
    return x01.mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
WIDE = ("I", "F")  # 32-bit integer and float pixels (TIFF, PGM): their range is not in the mode


def to_8bit(img: Image.Image) -> Image.Image:
    """Single-channel images of more than 8 bits as 8-bit "L", by their real range, since PIL's
    own ``convert`` clips them (a 16-bit PNG came out almost all white); other modes unchanged.

    16-bit modes map 0..65535 to 0..255 (value / 257, rounded), as a 16-bit PNG means. "I" and
    "F" carry no range, so their values decide: all in 0..255 are taken as 8-bit, all in
    0..65535 as 16-bit; anything else, and float pixels all within 0..1 (a normalised image
    that would come out black), is refused with a ValueError saying how to convert the file.
    """
    if img.mode not in SIXTEEN_BIT + WIDE:
        return img
    arr = np.asarray(img).astype(np.float32)  # exact for 16-bit integers
    if img.mode in SIXTEEN_BIT:
        scale = 257.0
    else:
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        kind = "float" if img.mode == "F" else "32-bit integer"
        fix = "save it as an 8- or 16-bit PNG"
        if not (np.isfinite(arr).all() and lo >= 0 and hi <= 65535):
            raise ValueError(f"{kind} pixels range {lo:g}..{hi:g}, outside 0..65535; {fix}")
        if img.mode == "F" and hi <= 1 and not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"float pixels in 0..1 are ambiguous (not 0..255); {fix}")
        scale = 1.0 if hi <= 255 else 257.0
    return Image.fromarray(np.rint(arr / scale).astype(np.uint8))


def open_image(path: Path, item: Item) -> Image.Image:
    """Open a file, taking the left or right half for side-by-side paired files; high bit
    depths come back as 8-bit (``to_8bit``), so a file it refuses is named by the caller."""
    img = to_8bit(Image.open(path))
    if item.crop is None:
        return img
    w, h = img.size
    half = w // 2
    box = (0, 0, half, h) if item.crop == "left" else (half, 0, w, h)
    return img.crop(box)


def check_image(path: Path) -> None:
    """Decode one image fully, and map it to 8 bits as a run will; a truncated, unreadable or
    out-of-range file is a one-line user error."""
    try:
        with Image.open(path) as img:
            img.load()
            to_8bit(img)
    except READ_ERRORS as exc:
        raise UserError(
            f"cannot read image {path} ({exc}); replace or delete the file "
            "(or regenerate the dataset)"
        ) from exc


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UserError(f"missing folder {path}: expected {what}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UserError(f"missing file {path}: expected {what}")
    return path


def list_images(folder: Path, exts: tuple[str, ...] = (".jpg", ".jpeg", ".png")) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in exts and p.is_file())


def fingerprint(root: Path, rel_paths: Sequence[str], extra_files: Sequence[Path] = ()) -> str:
    """Content fingerprint of a dataset: every listed file's name and size, plus the bytes of
    the small index files (lists, attributes). Cheap enough for 200k images, and it changes
    when a file is added, removed, truncated or an annotation edited."""
    h = hashlib.sha256()
    for rel in sorted(rel_paths):
        try:
            size = (root / rel).stat().st_size
        except OSError:
            size = -1
        h.update(f"{rel}\0{size}\n".encode())
    for f in extra_files:
        h.update(f.name.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


SIDECAR = "synthetic.json"


def _counts_ok(counts: Any) -> bool:
    """An object of whole numbers, or of objects of them (per split, per domain)."""
    return isinstance(counts, dict) and all(
        _counts_ok(v) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
        for v in counts.values()
    )


def _sidecar_problem(data: Any) -> str | None:
    """Why parsed JSON is not a sidecar the loaders can index with, or None; checked here once
    so no loader meets a list where it looks up counts or factors."""
    if not isinstance(data, dict):
        return f"holds {json.dumps(data)[:40]}, not a JSON object"
    if not _counts_ok(data.get("counts", {})):
        return "'counts' is not an object of whole numbers"
    factors = data.get("factors", {})
    if not isinstance(factors, dict) or not all(
        isinstance(f, dict) and all(isinstance(f.get(k, {}), dict) for k in ("content", "style"))
        for f in factors.values()
    ):
        return "'factors' is not an object of {content, style} objects per image"
    return None


def read_sidecar(root: Path) -> dict[str, Any] | None:
    """The synthetic twin's ground-truth sidecar, or None for real data; a corrupt one is a
    one-line user error naming it."""
    path = root / SIDECAR
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problem: str | None = f"unreadable ({exc})"
    else:
        problem = _sidecar_problem(data)
    if problem:
        raise UserError(
            f"corrupt {path}: {problem}; regenerate the twin with `python -m benchmark data "
            "synth`, or delete the file if the folder holds real data"
        )
    return data


def sidecar_count(sidecar: dict[str, Any] | None, root: Path, *keys: str) -> int | None:
    """``sidecar["counts"][k1][k2]...``: the twin's expected count there, None when the
    sidecar (or that entry) is absent; any other shape is one line naming the file."""
    node: Any = (sidecar or {}).get("counts")
    for key in keys:
        if node is None:
            return None
        if not isinstance(node, dict):
            raise UserError(
                f"corrupt {root / SIDECAR}: counts.{'.'.join(keys)} is not where it belongs; "
                "regenerate the twin with `python -m benchmark data synth`"
            )
        node = node.get(key)
    if node is not None and (isinstance(node, bool) or not isinstance(node, int)):
        raise UserError(
            f"corrupt {root / SIDECAR}: counts.{'.'.join(keys)} is {node!r}, not a whole number; "
            "regenerate the twin with `python -m benchmark data synth`"
        )
    return node


def check_count(found: int, expected: int | None, where: Path, what: str) -> None:
    if expected is not None and found != expected:
        raise UserError(
            f"{where}: found {found} {what}, expected {expected}; the dataset is incomplete "
            "or not the one this protocol reads (re-extract or regenerate it)"
        )
