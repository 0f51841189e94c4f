"""Atomic writes for the report's binary outputs (PNG grids and plots).

Both go through ``benchmark.atomic``, so a report interrupted mid-render never leaves a
truncated image that a browser shows as broken.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image

from benchmark.atomic import write_bytes


def save_image(path: Path, img: Image.Image) -> Path:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return write_bytes(path, buf.getvalue())


def save_figure(path: Path, fig: Figure, dpi: int = 100) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # layout="constrained" already fits the labels
    return write_bytes(path, buf.getvalue())
