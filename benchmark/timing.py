"""When a latency measurement cannot be trusted, and how to say so; shared by the profiler,
the runner's log and the report, and free of torch so the report stays light to import."""

from __future__ import annotations

# median/min of the timed repeats above which a latency is flagged unstable: how far the typical
# call sits from the fastest the machine managed. One stalled call moves neither (and does not
# move the reported median either); a busy machine (another job on the cores, a GPU shared with
# other work) slows most calls and moves the median. Works with a handful of repeats (quick:
# 5), where quartiles would swing on a single call. An idle machine stays near 1.
UNSTABLE_SPREAD = 1.5


def is_unstable(fastest: float, median: float) -> bool:
    return median > UNSTABLE_SPREAD * fastest


def unstable_note(spread: float) -> str:
    return (
        f"unstable: median/min = {spread:.1f}x over the repeats, a busy machine or a call whose "
        "cost varies"
    )
