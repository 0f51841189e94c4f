"""``python -m benchmark run`` (and ``run_all.py``): the grid's command line, turned into a
``RunConfig`` with every user mistake found before any work."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import torch

import baselines
import protocols
from benchmark import device as devices
from benchmark import presets, runner
from benchmark.errors import UserError, output_folder
from benchmark.launchers.common import CLUSTERS, LAUNCHERS, LaunchOptions
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
    add_launch_arguments(p)


def add_launch_arguments(p: argparse.ArgumentParser) -> None:
    """Where the cells run (docs/cluster.md): here one after another (inline), as processes
    here (local), or as submitit jobs (a Slurm job array)."""
    g = p.add_argument_group("launching the grid (docs/cluster.md)")
    g.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default="inline",
        help="inline: every cell in this process (default); local: each cell a process of its "
        "own, --jobs at a time, one GPU each; submitit: each cell a job of a job array",
    )
    g.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="--launcher local: cells at once (default: one per visible GPU, 1 on CPU)",
    )
    g.add_argument(
        "--cluster",
        choices=CLUSTERS,
        default=None,
        help="--launcher submitit: slurm (default), local (processes here, to try it) or debug "
        "(in this process, one job after another)",
    )
    g.add_argument("--slurm-partition", default=None, metavar="NAME")
    g.add_argument(
        "--slurm-time",
        type=int,
        default=None,
        metavar="MINUTES",
        help="time limit of a job (default 1440); a cell that runs into it is requeued and "
        "resumes from its last training checkpoint",
    )
    g.add_argument(
        "--slurm-gpus-per-cell",
        type=int,
        default=None,
        metavar="N",
        help="default 1 on Slurm (0 with --device cpu), 0 elsewhere",
    )
    g.add_argument("--slurm-cpus-per-cell", type=int, default=None, metavar="N")
    g.add_argument("--slurm-mem", type=float, default=None, metavar="GB")
    g.add_argument(
        "--slurm-array-parallelism",
        type=int,
        default=None,
        metavar="N",
        help="jobs of the array running at once (default: submitit's, 256)",
    )
    g.add_argument(
        "--slurm-setup",
        action="append",
        default=[],
        metavar="LINE",
        help="a shell line run before each job (repeatable), e.g. 'module load cuda'",
    )
    g.add_argument(
        "--no-wait",
        action="store_true",
        help="--launcher submitit: return once the jobs are submitted, printing their ids",
    )


_LOCAL_ONLY = ("jobs",)
_SUBMITIT_ONLY = (
    "cluster",
    "slurm_partition",
    "slurm_time",
    "slurm_gpus_per_cell",
    "slurm_cpus_per_cell",
    "slurm_mem",
    "slurm_array_parallelism",
    "slurm_setup",
    "no_wait",
)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def launch_options(args: argparse.Namespace) -> LaunchOptions:
    """The launcher and its options, every mistake one line before any work: an option of
    another launcher, a count below 1, a device a launched cell cannot honour."""
    launcher = args.launcher
    given = [
        d
        for d in (*_LOCAL_ONLY, *_SUBMITIT_ONLY)
        if getattr(args, d, None) not in (None, []) and getattr(args, d) is not False
    ]
    for dest in given:
        owner = "local" if dest in _LOCAL_ONLY else "submitit"
        if owner != launcher:
            raise UserError(
                f"{_flag(dest)} applies to --launcher {owner}, not {launcher}; add "
                f"--launcher {owner} or drop {_flag(dest)}"
            )
    for dest, least in (
        ("jobs", 1),
        ("slurm_time", 1),
        ("slurm_gpus_per_cell", 0),
        ("slurm_cpus_per_cell", 1),
        ("slurm_mem", 0.001),
        ("slurm_array_parallelism", 1),
    ):
        value = getattr(args, dest, None)
        if value is not None and value < least:
            raise UserError(f"{_flag(dest)} {value}: must be at least {least:g}")
    if launcher != "inline" and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise UserError(
            f"--launcher {launcher} under torchrun: torchrun shards each cell over its "
            "processes, a launcher runs cells apart; use one or the other"
        )
    if args.no_wait and args.cluster == "debug":
        raise UserError(
            "--no-wait with --cluster debug: debug jobs run in this process while it waits; "
            "use --cluster local or drop --no-wait"
        )
    device = str(args.device)
    if launcher == "local" and device.lower().startswith("cuda:"):
        raise UserError(
            f"--device {device}: --launcher local pins each cell to a GPU of its own; use "
            "--device cuda or auto (CUDA_VISIBLE_DEVICES picks the GPUs)"
        )
    return LaunchOptions(
        launcher=launcher,
        jobs=args.jobs,
        cluster=args.cluster or "slurm",
        partition=args.slurm_partition,
        time_min=args.slurm_time or LaunchOptions.time_min,
        gpus_per_cell=args.slurm_gpus_per_cell,
        cpus_per_cell=args.slurm_cpus_per_cell,
        mem_gb=args.slurm_mem,
        array_parallelism=args.slurm_array_parallelism,
        setup=list(args.slurm_setup),
        wait=not args.no_wait,
        device=device,
        refs={baselines.get(b).name: b for b in (args.baselines or [])},
    )


def config_from_args(args: argparse.Namespace, device: torch.device | None = None) -> RunConfig:
    """The run's config; ``device`` stands in for ``--device`` where it is resolved elsewhere
    (a cluster job resolves it on its own node)."""
    known_p, known_b = protocols.names(), baselines.names()
    chosen_p = args.protocols or known_p
    chosen_b = args.baselines or known_b
    for p in chosen_p:
        protocols.get(p)
    # a package.module:Class path becomes the class's own name (records and folders use it)
    chosen_b = list(dict.fromkeys(baselines.get(b).name for b in chosen_b))
    seeds = parse_seeds(str(args.seeds))
    dev = device if device is not None else devices.resolve(args.device)
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
    opts = launch_options(args)
    if opts.launcher == "inline":
        counts = runner.run(config_from_args(args))
    else:
        from benchmark.launchers import grid

        # a submitit job resolves --device on its node (a login node may have no GPU)
        here = torch.device("cpu") if opts.launcher == "submitit" else None
        if here is not None:
            devices_check(args.device)
        launched = grid.launch(config_from_args(args, device=here), opts)
        if launched is None:  # --no-wait: the jobs run on
            return 0
        counts = launched
    return 1 if counts["failed"] or counts["failed earlier"] else 0


def devices_check(spec: str) -> None:
    """``--device`` spelt as ``devices.resolve`` takes it, without asking this machine for it."""
    spec = spec.lower()
    if spec not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:[0-9]+", spec):
        raise UserError(f"unknown device '{spec}': use auto, cpu, cuda or cuda:N")


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the grid: protocols x baselines x seeds")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
