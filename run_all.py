#!/usr/bin/env python3
"""Run the whole benchmark grid and render the leaderboard.

``python run_all.py`` with no arguments runs every protocol x every baseline on the synthetic
twins, offline, on CPU or GPU (``--device auto``), with the ``quick`` preset, into
``results/latest/`` (leaderboard at ``results/latest/report/index.html``). Same options as
``python -m benchmark run``; see ``--help``.
"""

import sys

from benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
