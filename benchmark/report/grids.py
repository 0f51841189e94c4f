"""Sample grids: what each baseline actually produced for the same inputs, side by side.

Numbers hide failure modes (mode collapse, colour shifts, ignored references); one picture per
protocol task shows them. Built with PIL from the PNGs the runner saved under
``samples/<protocol>-<hash>/<baseline>/seed<k>/<task>--<mode>/<input:04d>/``: one row per
(input, baseline) holding the input, the references used, the outputs and the paired target.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from benchmark.report.files import save_image

log = logging.getLogger("benchmark")

MAX_INPUTS = 3
MAX_OUTPUTS = 5
MAX_REFS = 2
LABEL_W = 150
HEADER_H = 20
GAP = 2
BACKGROUND = (255, 255, 255)
MISSING = (225, 225, 225)
BROKEN = (200, 60, 60)


@dataclass(frozen=True)
class Grid:
    task: str
    mode: str
    path: Path  # the PNG written
    baselines: tuple[str, ...]
    inputs: int
    outputs: int  # output columns drawn
    refs: int = 0  # reference columns drawn
    refs_available: int = 0  # references the method was given (k-shot: k)
    outputs_available: int = 0  # outputs saved per input
    target: bool = False  # a ground-truth column


def _seed_of(path: Path) -> int:
    m = re.fullmatch(r"seed(\d+)", path.name)
    return int(m.group(1)) if m else -1


def _sample_sets(root: Path) -> dict[str, dict[str, Path]]:
    """``task--mode`` -> baseline -> that baseline's folder at its lowest seed."""
    found: dict[str, dict[str, Path]] = defaultdict(dict)
    if not root.is_dir():
        return {}
    for base_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        seeds = sorted((p for p in base_dir.iterdir() if _seed_of(p) >= 0), key=_seed_of)
        for seed_dir in seeds:
            for tm in sorted(p for p in seed_dir.iterdir() if p.is_dir() and "--" in p.name):
                found[tm.name].setdefault(base_dir.name, tm)
    return dict(found)


def _tile(path: Path | None, size: int) -> Image.Image:
    if path is None or not path.is_file():
        return Image.new("RGB", (size, size), MISSING)
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        log.warning(f"sample grid: cannot read {path} ({exc}); drawn as a red tile")
        return Image.new("RGB", (size, size), BROKEN)
    if img.size == (size, size):
        return img
    grow = img.width < size
    return img.resize((size, size), Image.NEAREST if grow else Image.LANCZOS)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _header(draw: ImageDraw.ImageDraw, name: str, x: int, width: int, font) -> None:
    """A column's name centred over its tile, never wider than it (cut, not run on)."""
    while name and draw.textlength(name, font=font) > width - 2:
        name = name[:-1]
    w = draw.textlength(name, font=font)
    draw.text((x + (width - w) / 2, 3), name, fill=(0, 0, 0), font=font)


def _numbered(folder: Path, prefix: str) -> list[Path]:
    return sorted(folder.glob(f"{prefix}_[0-9][0-9].png"))


def _tile_size(folders: list[Path]) -> int:
    for folder in folders:
        first = folder / "input.png"
        if first.is_file():
            try:
                with Image.open(first) as img:
                    return max(64, min(128, img.width))
            except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
                continue
    return 96


def render_grid(task_mode: str, per_baseline: dict[str, Path], out: Path) -> Grid | None:
    """One PNG for one task/mode; None when no baseline saved a readable input folder."""
    rows: list[tuple[str, Path]] = []
    for baseline, folder in per_baseline.items():
        inputs = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
        rows.extend((baseline, p) for p in inputs[:MAX_INPUTS])
    if not rows:
        return None
    rows.sort(key=lambda r: (r[1].name, r[0]))  # group by input, baselines in order
    all_out = max(len(_numbered(p, "out")) for _, p in rows)
    all_ref = max(len(_numbered(p, "ref")) for _, p in rows)
    n_out, n_ref = min(MAX_OUTPUTS, all_out), min(MAX_REFS, all_ref)
    has_target = any((p / "target.png").is_file() for _, p in rows)
    # short headers, each centred over its own tile: "reference 1" is wider than a 64 px tile
    # and ran into its neighbour; the page's caption spells them out
    headers = (
        ["input"]
        + [f"ref {i + 1}" for i in range(n_ref)]
        + [f"out {i + 1}" for i in range(n_out)]
        + (["target"] if has_target else [])
    )
    size = _tile_size([p for _, p in rows])
    width = LABEL_W + len(headers) * (size + GAP)
    height = HEADER_H + len(rows) * (size + GAP)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for j, name in enumerate(headers):
        _header(draw, name, LABEL_W + j * (size + GAP), size, font)
    for i, (baseline, folder) in enumerate(rows):
        y = HEADER_H + i * (size + GAP)
        draw.text((4, y + 4), baseline, fill=(0, 0, 0), font=font)
        draw.text((4, y + 20), f"input #{int(folder.name)}", fill=(90, 90, 90), font=font)
        refs, outs = _numbered(folder, "ref"), _numbered(folder, "out")
        tiles = (
            [folder / "input.png"]
            + [refs[k] if k < len(refs) else None for k in range(n_ref)]
            + [outs[k] if k < len(outs) else None for k in range(n_out)]
            + ([folder / "target.png"] if has_target else [])
        )
        for j, path in enumerate(tiles):
            canvas.paste(_tile(path, size), (LABEL_W + j * (size + GAP), y))
    save_image(out, canvas)
    task, _, mode = task_mode.partition("--")
    return Grid(
        task=task,
        mode=mode,
        path=out,
        baselines=tuple(sorted(per_baseline)),
        inputs=len({p.name for _, p in rows}),
        outputs=n_out,
        refs=n_ref,
        refs_available=all_ref,
        outputs_available=all_out,
        target=has_target,
    )


def natural_key(name: str) -> tuple:
    """ "k=5--reference" before "k=10--reference": digit runs compare as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", name)
        if part
    )


def render_grids(results_dir: Path, slug: str, out_dir: Path) -> list[Grid]:
    """Every task/mode grid of one protocol version, written under ``out_dir/grids/<slug>/``,
    in natural order (k=1, k=5, k=10, ...)."""
    sets = _sample_sets(Path(results_dir) / "samples" / slug)
    grids = []
    for task_mode in sorted(sets, key=natural_key):
        per_baseline = sets[task_mode]
        grid = render_grid(task_mode, per_baseline, out_dir / "grids" / slug / f"{task_mode}.png")
        if grid is not None:
            grids.append(grid)
    return grids
