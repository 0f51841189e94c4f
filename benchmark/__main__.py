"""``python -m benchmark``; ``run_all.py`` calls ``launch`` too: one line on an early Ctrl-C."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

INTERRUPTED = "interrupted: finished records are kept; rerun the same command to resume"


def _quit_while_importing(signum: int, frame: FrameType | None) -> None:
    """Leave at once: nothing has started yet, and a KeyboardInterrupt raised inside an import
    can leave numpy half-imported, so the next import ends in an unrelated RecursionError."""
    sys.stderr.write(INTERRUPTED + "\n")
    sys.stderr.flush()
    os._exit(130)


def launch(argv: Sequence[str] | None = None) -> int:
    """The CLI's exit status. Its subcommands import torch and friends for seconds before the
    CLI's own Ctrl-C handling starts; a Ctrl-C then prints the same line, exit status 130."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not where the caller ignores SIGINT
        signal.signal(signal.SIGINT, _quit_while_importing)
    from benchmark.cli import main, modules_for

    for name in modules_for(argv):
        importlib.import_module(name)
    signal.signal(signal.SIGINT, previous)
    try:
        return main(argv)
    except KeyboardInterrupt:  # between the imports and the CLI's own handler
        print(INTERRUPTED, file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(launch())
