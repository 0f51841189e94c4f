"""``python -m benchmark {run, data, metrics, report, regress, profile, classifier}``.

Each subcommand lives in the module that does the work and exposes ``register_cli(sub)``; this
file only wires them and turns user mistakes into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from benchmark.errors import UserError
from benchmark.progress import setup_logging

SUBCOMMAND_MODULES = (
    "benchmark.runner",
    "benchmark.data_cli",
    "benchmark.metrics.cli",
    "benchmark.report.cli",
    "benchmark.regress",
    "benchmark.profiling",
    "benchmark.classifier_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="Image-to-image translation benchmark: run, score, report, gate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine's, not the code's: a full disk, a vanished folder
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"error: {exc.strerror or exc}{where}; finished records are kept, fix it and rerun",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished records are kept; rerun the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
