"""Drawing primitives for the synthetic twins: shapes with known pose (the content factor a
translation must keep) filled with textures and palettes (the style factor it must change).

Everything is numpy and seeded, so a twin is byte-identical for the same seed and size.
"""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond")
TEXTURES = ("plain", "stripes", "dots", "checker")


def grid(h: int, w: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1]: (x, y) arrays of shape (h, w)."""
    w = w or h
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return (xs + 0.5) / w, (ys + 0.5) / h


def sample_pose(rng: np.random.Generator) -> dict[str, Any]:
    """Content factor: which shape, where, how big, how rotated."""
    return {
        "shape": str(rng.choice(SHAPES)),
        "cx": round(float(rng.uniform(0.35, 0.65)), 4),
        "cy": round(float(rng.uniform(0.35, 0.65)), 4),
        "r": round(float(rng.uniform(0.22, 0.32)), 4),
        "angle": round(float(rng.uniform(0, np.pi / 2)), 4),
    }


def shape_mask(pose: dict[str, Any], h: int, w: int | None = None) -> np.ndarray:
    """Boolean (h, w) mask of the posed shape."""
    x, y = grid(h, w)
    dx, dy = x - pose["cx"], y - pose["cy"]
    c, s = np.cos(pose["angle"]), np.sin(pose["angle"])
    u, v = c * dx + s * dy, -s * dx + c * dy
    r = pose["r"]
    shape = pose["shape"]
    if shape == "circle":
        return u**2 + v**2 <= r**2
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.1 * r
    if shape == "triangle":
        return (v <= 0.5 * r) & (v >= -r + 1.732 * np.abs(u))
    raise ValueError(f"unknown shape {shape}")


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Boundary pixels of a mask (the 'edge map' a pix2pix-style edges domain holds)."""
    inner = mask.copy()
    for _ in range(width):
        shrunk = inner.copy()
        shrunk[1:, :] &= inner[:-1, :]
        shrunk[:-1, :] &= inner[1:, :]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        inner = shrunk
    return mask & ~inner


def texture(kind: str, h: int, w: int | None = None, freq: float = 6.0, phase: float = 0.0):
    """A [0, 1] pattern: plain, stripes, dots or checker (the domain's 'fur')."""
    x, y = grid(h, w)
    if kind == "plain":
        return np.ones_like(x)
    if kind == "stripes":
        return (np.sin(2 * np.pi * freq * (x + 0.5 * y) + phase) > 0).astype(np.float32)
    if kind == "dots":
        fx = np.sin(2 * np.pi * freq * x + phase)
        fy = np.sin(2 * np.pi * freq * y + phase)
        return ((fx * fy) < 0.4).astype(np.float32)
    if kind == "checker":
        cells = np.floor(x * freq + phase) + np.floor(y * freq)
        return (cells % 2).astype(np.float32)
    raise ValueError(f"unknown texture {kind}")


def hue_rgb(hue: float, sat: float = 0.75, val: float = 0.9) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, sat, val), dtype=np.float32)


def paint(
    mask: np.ndarray,
    pattern: np.ndarray,
    fg: np.ndarray,
    fg2: np.ndarray,
    bg: np.ndarray,
) -> np.ndarray:
    """Compose an RGB float image: inside the mask fg/fg2 by pattern, background outside."""
    pat = pattern[..., None]
    inside = pat * fg + (1 - pat) * fg2
    img = np.where(mask[..., None], inside, bg[None, None, :])
    return img.astype(np.float32)


def to_uint8(img: np.ndarray, rng: np.random.Generator | None = None, noise: float = 0.0):
    """Float RGB in [0, 1] (plus optional sensor noise) to uint8 HWC."""
    if rng is not None and noise > 0:
        img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
