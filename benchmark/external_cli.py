"""``python -m benchmark manifest`` and ``score``: evaluate a method run by your own code.

``manifest PROTOCOL --out DIR`` writes the inputs (and references or K shots) your code
translates and ``DIR/manifest.json``; write each listed output, then ``score PROTOCOL
--manifest DIR/manifest.json --outputs DIR --name NAME --out RESULTS`` scores them with the
whole protocol into the same records as any baseline's (benchmark.external).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import baselines
import protocols
from benchmark import device as devices
from benchmark import external, presets, runner
from benchmark.errors import UserError, output_folder
from benchmark.progress import log
from benchmark.registry import NAME
from benchmark.run_config import RunConfig

EPILOG = "exit status: 0 done; 2 a mistake in the command or the files (one line says which)"


def _data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("protocol", help="protocol name, e.g. afhq")
    p.add_argument(
        "--preset",
        default=None,
        choices=list(presets.PRESETS),
        help=f"run size (manifest default: {presets.DEFAULT}; score: the manifest's)",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="the protocol's dataset folder (default: its synthetic twin)",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding one dataset folder per protocol",
    )
    p.add_argument("--cache-dir", type=Path, default=Path(".cache"))


def register_cli(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "manifest",
        help="write the inputs a protocol needs and the list of outputs to generate",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(m)
    m.add_argument("--seed", type=int, default=0, help="which seeded inputs (as run --seeds)")
    m.add_argument(
        "--modes",
        nargs="+",
        default=None,
        help="synthesis modes to generate (default: every mode the protocol scores)",
    )
    m.add_argument("--out", type=Path, required=True, help="folder for inputs and manifest.json")
    m.set_defaults(func=cmd_manifest)

    s = sub.add_parser(
        "score",
        help="score a folder of outputs made from a manifest, as a baseline of the leaderboard",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(s)
    s.add_argument("--manifest", type=Path, required=True, help="the manifest.json written")
    s.add_argument(
        "--outputs",
        type=Path,
        required=True,
        help="folder holding outputs/ as the manifest lists them",
    )
    s.add_argument("--name", required=True, help="your method's name in records and tables")
    s.add_argument("--out", type=Path, default=Path("results/latest"), help="results folder")
    s.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="folder with standard extractor weights (Inception, AlexNet)",
    )
    s.add_argument(
        "--classifier",
        type=Path,
        default=None,
        help="the protocol classifier file (default: the one the protocol pins)",
    )
    s.add_argument(
        "--train-classifiers",
        action="store_true",
        help="train a local classifier where none is pinned (records say so)",
    )
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    s.add_argument("--no-report", action="store_true", help="skip rendering the leaderboard")
    s.set_defaults(func=cmd_score)


def _config(args: argparse.Namespace, preset: str, name: str, seed: int, out: Path) -> RunConfig:
    return RunConfig(
        protocols=[args.protocol],
        baselines=[name],
        seeds=[seed],
        preset=presets.get(preset),
        out=out,
        device=devices.resolve(getattr(args, "device", "cpu")),
        data_root=args.data_root,
        data={args.protocol: args.data} if args.data else {},
        classifiers={args.protocol: args.classifier} if getattr(args, "classifier", None) else {},
        train_classifiers=getattr(args, "train_classifiers", False),
        weights_dir=getattr(args, "weights_dir", None),
        cache_dir=output_folder(args.cache_dir, "--cache-dir"),
        profile=False,
        report=not getattr(args, "no_report", True),
    )


def cmd_manifest(args: argparse.Namespace) -> int:
    protocols.get(args.protocol)  # an unknown name is one line listing the known ones
    out = output_folder(args.out, "--out")
    preset = args.preset or presets.DEFAULT
    cfg = _config(args, preset, "manifest", args.seed, out)
    data = runner.load_protocol(args.protocol, cfg)
    modes = tuple(args.modes or data.protocol.modes)
    path = external.write_manifest(data, preset, args.seed, modes, out)
    log.info(f"wrote {path}: write every listed output, then run `python -m benchmark score`")
    print(path)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    manifest = external.read_manifest(args.manifest)
    if args.preset and args.preset != manifest.preset:
        raise UserError(
            f"--preset {args.preset}: {args.manifest} was made with preset {manifest.preset}; "
            "drop --preset or remake the manifest"
        )
    if not NAME.fullmatch(args.name) or ":" in args.name:
        raise UserError(f"--name {args.name!r}: use letters, digits, _ . or -")
    if args.name in baselines.names() or args.name == runner.CLASSIFIER_ROW:
        raise UserError(f"--name {args.name}: a baseline of the suite has that name; pick another")
    if not args.outputs.is_dir():
        raise UserError(f"--outputs {args.outputs}: no such folder")
    out = output_folder(args.out, "--out")
    cfg = _config(args, manifest.preset, args.name, manifest.seed, out)
    external.score(cfg, manifest, args.outputs, args.name)
    if cfg.report:
        from benchmark.report import render_all

        log.info(f"leaderboard: {render_all(cfg.out, cfg.out / 'report')}")
    return 0
