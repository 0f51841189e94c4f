"""``python -m benchmark data {synth, check, list}``: make synthetic twins, validate real data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import protocols
from benchmark import datasets
from benchmark.errors import output_folder
from benchmark.progress import log


def cmd_synth(args: argparse.Namespace) -> int:
    pdef = protocols.get(args.protocol)
    out = pdef.synthesize(output_folder(args.out, "--out"), size=args.size, seed=args.seed)
    log.info(
        f"wrote the synthetic {args.protocol} twin to {out} ({args.size} px, seed {args.seed})"
    )
    print(out)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    pdef = protocols.get(args.protocol)
    synthetic = (Path(args.path) / "synthetic.json").is_file()
    data = pdef.load(Path(args.path), pdef.spec(synthetic=synthetic))
    for item in data.test.items:  # decode and convert every test image as a run reads it
        data.image(item)
    datasets.verify(data, None)  # and every training image
    info = {"protocol": args.protocol, "protocol_hash": data.protocol.hash, **data.describe()}
    print(json.dumps(info, indent=1))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for name in protocols.names():
        p = protocols.get(name).paper
        print(f"{name:18s} {p.kind:12s} {p.image_size:4d}px  tasks: {', '.join(p.tasks)}")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="synthetic twins and dataset validation")
    dsub = p.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write a protocol's synthetic twin in its real layout")
    s.add_argument("protocol")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)
    c = dsub.add_parser("check", help="validate a dataset folder against a protocol's layout")
    c.add_argument("protocol")
    c.add_argument("path", type=Path)
    c.set_defaults(func=cmd_check)
    ls = dsub.add_parser("list", help="list the protocols")
    ls.set_defaults(func=cmd_list)
