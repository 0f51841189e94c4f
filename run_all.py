#!/usr/bin/env python3
"""Run the whole benchmark grid and render the leaderboard.

``python run_all.py`` with no arguments runs every protocol x every baseline on the synthetic
twins, offline, on CPU or GPU (``--device auto``), with the ``quick`` preset, into
``results/latest/`` (leaderboard at ``results/latest/report/index.html``). Same options as
``python -m benchmark run``; see ``--help``.
"""

import sys

if __name__ == "__main__":
    try:  # a light import; from then on launch() turns Ctrl-C into the CLI's one line
        from benchmark.__main__ import launch
    except KeyboardInterrupt:
        print(
            "interrupted: finished records are kept; rerun the same command to resume",
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(launch(["run", *sys.argv[1:]]))
