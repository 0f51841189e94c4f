"""Atomic writes for the report's binary outputs (PNG grids and plots).

Text goes through ``benchmark.records.atomic_write_text``; binaries come here, so a report
interrupted mid-render never leaves a truncated image that a browser shows as broken.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image


def write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return path


def save_image(path: Path, img: Image.Image) -> Path:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return write_bytes(path, buf.getvalue())


def save_figure(path: Path, fig: Figure, dpi: int = 100) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # layout="constrained" already fits the labels
    return write_bytes(path, buf.getvalue())
