"""``python -m benchmark {run, data, metrics, report, regress, profile, classifier, manifest,
score, status, study}``.

Each subcommand lives in the module that does the work and exposes ``register_cli(sub)``; this
file only wires them and turns user mistakes into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from benchmark.errors import UserError
from benchmark.progress import setup_logging
from benchmark.registry import Registry


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: the module that does the work (its ``register_cli(sub)`` adds the parser)
    and a line for the overview. Only the chosen command's module is imported, so `regress`
    and `report` start without torch or any baseline."""

    module: str
    help: str


def _builtins() -> None:
    for name, module, help_ in (
        ("run", "benchmark.run_cli", "run the grid: protocols x baselines x seeds"),
        ("data", "benchmark.data_cli", "synthetic twins and dataset validation"),
        ("metrics", "benchmark.metrics.cli", "score image folders"),
        ("report", "benchmark.report.cli", "render the leaderboard of a results folder"),
        ("regress", "benchmark.regress", "CI gate: compare results with the reference"),
        ("profile", "benchmark.profile_cli", "speed profile of one baseline"),
        ("classifier", "benchmark.classifier_cli", "protocol classifiers: train one or read it"),
        ("manifest", "benchmark.external_cli", "the inputs to translate with your own code"),
        ("score", "benchmark.external_cli", "score your outputs as a method of the leaderboard"),
        ("study", "benchmark.study.cli", "human perceptual studies: make, serve, analyze"),
        ("status", "benchmark.status_cli", "where a grid stands: done, running, failed, pending"),
    ):
        SUBCOMMANDS.add(name, Subcommand(module, help_))


# subcommands by name; an installed package adds one through the entry-point group
# ``i2i_bench.subcommands`` (an entry point naming a ``Subcommand``)
SUBCOMMANDS: Registry[Subcommand] = Registry("subcommand", "i2i_bench.subcommands", _builtins)


def modules_for(argv: Sequence[str] | None = None) -> list[str]:
    """The subcommand modules a command line needs: its command's, or all for an overview."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    known = SUBCOMMANDS.items()
    chosen = words[0] if words and words[0] in known else None
    return [cmd.module for name, cmd in known.items() if chosen in (None, name)]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="Image-to-image translation benchmark: run, score, report, gate.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    needed, registered = modules_for(argv), set()
    for name, cmd in SUBCOMMANDS.items().items():
        if cmd.module in registered:  # one module may add several subcommands
            continue
        if cmd.module in needed:
            importlib.import_module(cmd.module).register_cli(sub)
            registered.add(cmd.module)
        else:  # named in the overview; its module is imported only when it is the command
            sub.add_parser(name, help=cmd.help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
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
