"""``python -m benchmark run`` (and ``run_all.py``): the grid's command line, turned into a
``RunConfig`` with every user mistake found before any work."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

import baselines
import protocols
from benchmark import device as devices
from benchmark import presets, runner
from benchmark.errors import UserError, output_folder
from benchmark.run_config import RunConfig


def _kv(items: list[str], flag: str, allowed: list[str] | None = None) -> dict[str, Path]:
    """``NAME=PATH`` pairs; with ``allowed``, a name outside it is refused (a mistyped key
    must never fall back to a default silently)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"{flag} {item}: expected NAME=PATH")
        k, v = item.split("=", 1)
        if allowed is not None and k not in allowed:
            what = "baseline" if flag == "--checkpoint" else "protocol"
            raise UserError(
                f"{flag} {item}: '{k}' is not a {what} of this run (names are case-sensitive); "
                f"use one of {', '.join(allowed)}"
            )
        out[k] = Path(v)
    return out


def _checkpoints(given: dict[str, Path]) -> dict[str, Path]:
    """Every ``--checkpoint`` file exists before any work: a typo is one line, not a failed
    cell found an hour into a grid."""
    for name, path in given.items():
        if not path.is_file():
            raise UserError(f"--checkpoint {name}={path}: no such file; fix the path")
    return given


SEEDS_FIX = "pass a count (--seeds 3 runs seeds 0,1,2) or a list of seeds (--seeds 0,3,7)"


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: a count N (seeds 0..N-1) or a comma-separated list of distinct seeds, run in
    the order given (a trailing comma makes one seed a list: ``7,``). A bad value is one line
    naming the flag and the fix."""
    text = text.strip()
    if "," not in text:
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise UserError(f"--seeds {text}: not a whole number; {SEEDS_FIX}")
        if int(text) < 1:
            raise UserError(f"--seeds {text}: a count must be at least 1; {SEEDS_FIX}")
        return list(range(int(text)))
    items = [item.strip() for item in text.split(",")]
    if items[-1] == "":  # "7," is the list [7]
        items.pop()
    seeds: list[int] = []
    for item in items:
        if not re.fullmatch(r"[0-9]+", item):
            what = (
                "an empty entry" if item == "" else f"'{item}' is not a seed (a whole number >= 0)"
            )
            raise UserError(f"--seeds {text}: {what}; {SEEDS_FIX}")
        if int(item) in seeds:
            raise UserError(
                f"--seeds {text}: seed {int(item)} is listed twice; list each seed once"
            )
        seeds.append(int(item))
    return seeds


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocols", nargs="+", default=None, help="default: all")
    p.add_argument("--baselines", nargs="+", default=None, help="default: all")
    p.add_argument(
        "--seeds",
        default="1",
        metavar="N|S,S,...",
        help="a count (--seeds 3 runs seeds 0,1,2; default 1) or a comma-separated list of seeds "
        "run in that order (--seeds 0,3,7; --seeds 7, runs seed 7 alone)",
    )
    p.add_argument("--preset", default=presets.DEFAULT, choices=list(presets.PRESETS))
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding one dataset folder per protocol (DIR/afhq/train/...)",
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="dataset folder for one protocol (repeatable)",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="BASELINE=PATH",
        help="evaluate these weights instead of training (authors' files load as is)",
    )
    p.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="folder with standard extractor weights (Inception, AlexNet)",
    )
    p.add_argument(
        "--classifier",
        action="append",
        default=[],
        metavar="PROTOCOL=FILE",
        help="the protocol classifier file to measure with (default: the one the protocol pins)",
    )
    p.add_argument(
        "--train-classifiers",
        action="store_true",
        help="train a local classifier where none is pinned or given (records say so)",
    )
    p.add_argument("--out", type=Path, default=Path("results/latest"))
    p.add_argument("--cache-dir", type=Path, default=Path(".cache"))
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    p.add_argument("--no-profile", action="store_true", help="skip the per-cell speed profile")
    p.add_argument("--no-report", action="store_true", help="skip rendering the leaderboard")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    known_p, known_b = protocols.names(), baselines.names()
    chosen_p = args.protocols or known_p
    chosen_b = args.baselines or known_b
    for p in chosen_p:
        protocols.get(p)
    # a package.module:Class path becomes the class's own name (records and folders use it)
    chosen_b = list(dict.fromkeys(baselines.get(b).name for b in chosen_b))
    seeds = parse_seeds(str(args.seeds))
    dev = devices.resolve(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    return RunConfig(
        protocols=list(chosen_p),
        baselines=list(chosen_b),
        seeds=seeds,
        preset=presets.get(args.preset),
        out=output_folder(args.out, "--out"),
        device=dev,
        data_root=args.data_root,
        data=_kv(args.data, "--data", list(chosen_p)),
        checkpoints=_checkpoints(_kv(args.checkpoint, "--checkpoint", list(chosen_b))),
        classifiers=_kv(args.classifier, "--classifier", list(chosen_p)),
        train_classifiers=args.train_classifiers,
        weights_dir=args.weights_dir,
        cache_dir=output_folder(args.cache_dir, "--cache-dir"),
        retry_failed=args.retry_failed,
        profile=not args.no_profile,
        report=not args.no_report,
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Exit 1 when a cell of the grid failed (now or in an earlier run, unretried): its reason
    is in the log and the leaderboard, and the results are incomplete."""
    counts = runner.run(config_from_args(args))
    return 1 if counts["failed"] or counts["failed earlier"] else 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the grid: protocols x baselines x seeds")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
