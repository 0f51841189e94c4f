"""When a latency measurement cannot be trusted, and how to say so; shared by the profiler,
the runner's log and the report, and free of torch so the report stays light to import."""

from __future__ import annotations

# p90/p10 of the timed repeats above which a latency is flagged unstable: an idle machine stays
# well under it, a busy one (another job on the cores, a GPU shared with other work) does not
UNSTABLE_SPREAD = 1.5


def is_unstable(p10: float, p90: float) -> bool:
    return p90 > UNSTABLE_SPREAD * p10


def unstable_note(spread: float) -> str:
    return f"unstable: p90/p10 = {spread:.1f}x over the repeats; was the machine busy?"
