"""``python -m benchmark study {make, serve, analyze}``: human perceptual studies.

``make`` builds a study folder from a run's saved samples, ``serve`` collects answers into it,
``analyze`` (``benchmark.study.analyze``, imported only when chosen) turns them into records.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from benchmark.errors import UserError


def _names(value: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in value.split(",") if x.strip())
    if not items:
        raise argparse.ArgumentTypeError("give one or more names, separated by commas")
    return items


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="human perceptual studies: make a study from saved samples, serve it, analyze it",
        description=(
            "Human perceptual studies as the seeds' papers ran them (pix2pix and BicycleGAN's "
            "real-vs-fake test, MUNIT's preference between two methods); docs/protocols.md, "
            '"Human perceptual studies".'
        ),
    )
    cmds = p.add_subparsers(dest="study_command", required=True, metavar="{make,serve,analyze}")

    m = cmds.add_parser(
        "make",
        help="a self-contained study folder from the samples a run saved",
        description=(
            "Build STUDY (the page, the images, trials.json, trials.csv) from "
            "RESULTS/samples/. Defaults follow pix2pix's AMT study: 10 practice trials with "
            "feedback, 40 test trials, each pair shown for 1000 ms."
        ),
    )
    m.add_argument("results", type=Path, metavar="RESULTS", help="a run's results folder")
    m.add_argument("--protocol", required=True, help="a protocol name, or name-hash")
    m.add_argument(
        "--design",
        required=True,
        choices=("real-vs-fake", "method-vs-method"),
        help="real-vs-fake: a real image against a method's output, 'which is real?' (pix2pix, "
        "BicycleGAN); method-vs-method: the input and two methods' outputs, 'which looks more "
        "realistic?' (MUNIT)",
    )
    m.add_argument("--methods", required=True, type=_names, metavar="A,B", help="methods shown")
    m.add_argument(
        "--against",
        metavar="ground_truth|METHOD",
        help="real-vs-fake: where real images come from, ground_truth (the paired target; for "
        "unpaired protocols random_real's real images of the target domain; the default) or "
        "random_real; method-vs-method: the method each of --methods is compared with "
        "(default: every pair of --methods)",
    )
    m.add_argument("--out", required=True, type=Path, metavar="STUDY", help="the study folder")
    m.add_argument("--trials", type=int, default=40, help="test trials per method or pair (40)")
    m.add_argument("--practice", type=int, default=10, help="practice trials, with feedback (10)")
    m.add_argument(
        "--display-ms",
        type=int,
        default=1000,
        help="how long the images are shown, then hidden (1000; 0 keeps them up); answering "
        "time is unlimited",
    )
    m.add_argument(
        "--catch-rate",
        type=float,
        default=0.1,
        help="share of the scored trials that are catch trials: an image against a flat grey or "
        "heavily blurred copy (0.1)",
    )
    m.add_argument("--seed", type=int, default=0, help="trials, sides and each participant's order")
    m.add_argument("--name", help="the study's name (default: the folder's)")
    m.add_argument(
        "--tasks", type=_names, default=(), metavar="T,T", help="only these tasks (or task--mode)"
    )
    m.add_argument("--display-px", type=int, default=256, help="shown size of each image (256)")
    m.add_argument(
        "--presentation",
        choices=("side-by-side", "sequential"),
        default="side-by-side",
        help="both images at once, or left then right (as the authors' AMT page did)",
    )
    m.add_argument("--question", help="the question asked on every trial (default per design)")
    m.set_defaults(func=run_make)

    s = cmds.add_parser(
        "serve",
        help="serve a study and collect answers into STUDY/answers.jsonl",
        description="Serve STUDY's page and images; answers are appended to STUDY/answers.jsonl.",
    )
    s.add_argument("study", type=Path, metavar="STUDY")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine)")
    s.add_argument("--port", type=int, default=8000, help="port (8000; 0 picks a free one)")
    s.set_defaults(func=run_serve)

    a = cmds.add_parser(
        "analyze",
        help="turn a study's answers into records (fooling rate, preference)",
        description="Analyze STUDY's answers and write records into RESULTS.",
    )
    a.add_argument("study", type=Path, metavar="STUDY")
    a.add_argument(
        "--answers",
        type=Path,
        action="append",
        metavar="FILE",
        help="answers file (repeatable; default STUDY/answers.jsonl)",
    )
    a.add_argument("--out", required=True, type=Path, metavar="RESULTS", help="results folder")
    a.add_argument(
        "--min-catch-accuracy",
        type=float,
        default=0.8,
        help="drop participants below this accuracy on catch trials (0.8)",
    )
    a.set_defaults(func=run_analyze)


def run_make(args: argparse.Namespace) -> int:
    from benchmark.study.make import StudyOptions, make_study

    doc = make_study(
        StudyOptions(
            results=args.results,
            protocol=args.protocol,
            design=args.design,
            methods=args.methods,
            against=args.against,
            out=args.out,
            trials=args.trials,
            practice=args.practice,
            display_ms=args.display_ms,
            catch_rate=args.catch_rate,
            seed=args.seed,
            name=args.name,
            tasks=args.tasks,
            display_px=args.display_px,
            presentation=args.presentation,
            question=args.question,
        )
    )
    n = doc["counts"]
    print(
        f"study '{doc['study']}' ({doc['design']}, {doc['protocol']}-{doc['protocol_hash']}): "
        f"{n['practice']} practice, {n['test']} test, {n['catch']} catch trials in {args.out}; "
        f"serve it with: python -m benchmark study serve {args.out}"
    )
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from benchmark.study.serve import serve

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in [0, 65535], got {args.port}")
    return serve(args.study, args.host, args.port)


def run_analyze(args: argparse.Namespace) -> int:
    return int(importlib.import_module("benchmark.study.analyze").run(args) or 0)
