"""Progress lines with an ETA, in words a user understands, for training, features and the grid."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("benchmark")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts finished units of work and logs ``what [i/n] pct, ETA`` at most every ``every`` s."""

    def __init__(self, total: int, what: str, every: float = 5.0) -> None:
        self.total = max(1, total)
        self.what = what
        self.every = every
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0

    def eta(self) -> float:
        elapsed = time.monotonic() - self.start
        if self.done == 0:
            return float("nan")
        return elapsed / self.done * (self.total - self.done)

    def update(self, n: int = 1, detail: str = "", force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if not force and now - self._last < self.every and self.done < self.total:
            return
        self._last = now
        pct = 100.0 * self.done / self.total
        eta = self.eta()
        eta_s = "?" if eta != eta else fmt_seconds(eta)
        suffix = f" - {detail}" if detail else ""
        log.info(f"{self.what} [{self.done}/{self.total}] {pct:3.0f}%, ETA {eta_s}{suffix}")
