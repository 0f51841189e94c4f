"""Each participant's trial order and left/right swaps, from (the study's seed, their id).

The page computes the same thing in JavaScript (``page/study.js``): a 32-bit FNV-1a hash of
``"<seed>:<participant>"`` seeds mulberry32, whose draws shuffle (Fisher-Yates) the practice
trials, then the others (test and catch together), then a balanced list of swaps for each of
those two groups (half the trials of a group, rounded down, shown with ``left`` and ``right``
exchanged). Every step is integer arithmetic modulo 2**32 and one float division, exactly
representable in both languages, so the two agree draw for draw; the server checks the page's
``swapped`` against this module on every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

MASK = 0xFFFFFFFF
T = TypeVar("T")


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text``'s UTF-8 bytes."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & MASK
    return h


def mulberry32(seed: int) -> Callable[[], float]:
    """Tommy Ettinger's mulberry32: a float in [0, 1) per call, as the JavaScript original."""
    state = seed & MASK

    def draw() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & MASK
        t = state
        t = ((t ^ (t >> 15)) * (t | 1)) & MASK
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & MASK)) & MASK
        return ((t ^ (t >> 14)) & MASK) / 4294967296

    return draw


def shuffle(items: list[T], rng: Callable[[], float]) -> list[T]:
    """Fisher-Yates in place, from the last position down (as the page does); returns items."""
    for i in range(len(items) - 1, 0, -1):
        j = int(rng() * (i + 1))
        items[i], items[j] = items[j], items[i]
    return items


def participant_rng(seed: int, participant: str) -> Callable[[], float]:
    return mulberry32(fnv1a32(f"{seed}:{participant}"))


@dataclass(frozen=True)
class Plan:
    """What one participant sees: trial ids in order, and which trials are shown swapped."""

    order: tuple[str, ...]
    swapped: dict[str, bool]


def plan(seed: int, participant: str, trials: Sequence[tuple[str, bool]]) -> Plan:
    """``trials``: (id, is_practice) in the study's file order."""
    rng = participant_rng(seed, participant)
    practice = [tid for tid, p in trials if p]
    main = [tid for tid, p in trials if not p]
    order = shuffle(list(practice), rng) + shuffle(list(main), rng)
    swapped: dict[str, bool] = {}
    for group in (practice, main):
        flags = shuffle([k % 2 == 1 for k in range(len(group))], rng)
        swapped.update(zip(group, flags, strict=True))
    return Plan(order=tuple(order), swapped=swapped)
