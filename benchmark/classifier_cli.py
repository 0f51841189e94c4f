"""``python -m benchmark classifier {train, card}``: build a protocol's measurement instrument
once (weights plus card), and read a card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark import datasets, instruments, presets
from benchmark import device as devices
from benchmark.atomic import write_bytes
from benchmark.classifier import train
from benchmark.errors import UserError, output_folder
from benchmark.features import atomic_torch_save
from benchmark.progress import log


def cmd_train(args: argparse.Namespace) -> int:
    preset = presets.get(args.preset)
    out = Path(args.out)
    if out.suffix != ".pt":
        raise UserError(f"--out {out}: name the weights file FILE.pt (the card goes beside it)")
    output_folder(out.parent, "--out")
    cache = output_folder(args.cache_dir, "--cache-dir")
    root = datasets.resolve(args.protocol, args.data, None, preset.synthetic_size, cache)
    data = datasets.load(args.protocol, root, preset)
    obj = train(data.protocol, data, devices.resolve(args.device), args.seed, args.steps)
    atomic_torch_save(obj, out)
    command = (
        f"python -m benchmark classifier train {args.protocol} --preset {preset.name}"
        + (" --data DIR" if args.data else "")
        + f" --seed {args.seed}"
        + (f" --steps {args.steps}" if args.steps else "")
        + f" --out {out.name}"
    )
    card = instruments.make_card(obj, data.protocol, out, command)
    write_bytes(instruments.card_path(out), (json.dumps(card, indent=1) + "\n").encode())
    if args.pin:
        _pin(card, data.protocol.synthetic, preset.name)
    log.info(
        f"wrote {out} and its card: held-out top-1 {card['heldout']['accuracy']:.3f}, "
        f"sha256 {card['sha256'][:12]}"
    )
    print(out)
    return 0


def _pin(card: dict, synthetic: bool, preset: str) -> None:
    """Make this file the protocol's official instrument for its data part (maintainers)."""
    ours, everything = card["protocol_data_hash"], instruments.load_pins()
    pins = [p for p in everything if p.data_hash != ours and p.file != card["file"]]
    same = [p for p in everything if p.data_hash == ours]
    kept = tuple(sorted({preset, *(x for p in same for x in p.presets)}))
    what = "synthetic twin" if synthetic else "real data"
    size = card["protocol_data"]["image_size"]
    pins.append(
        instruments.Pin(
            card["protocol"],
            card["protocol_data_hash"],
            card["file"],
            card["sha256"],
            f"{what}, {size} px",
            kept,
        )
    )
    rows = [p.__dict__ | {"presets": list(p.presets)} for p in pins]
    rows.sort(key=lambda r: (r["protocol"], r["data_hash"]))
    write_bytes(instruments.PINS_FILE, (json.dumps({"pins": rows}, indent=1) + "\n").encode())
    log.info(f"pinned {card['file']} for {card['protocol']} ({', '.join(kept)})")


def cmd_card(args: argparse.Namespace) -> int:
    print(json.dumps(instruments.read_card(Path(args.file)), indent=1))
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classifier", help="protocol classifiers: train one, read its card")
    csub = p.add_subparsers(dest="classifier_command", required=True)
    t = csub.add_parser("train", help="train a protocol's classifier; writes FILE.pt + card")
    t.add_argument("protocol")
    t.add_argument("--preset", default=presets.DEFAULT, choices=list(presets.PRESETS))
    t.add_argument("--data", type=Path, default=None, help="dataset folder (default: the twin)")
    t.add_argument("--out", type=Path, required=True, help="weights file FILE.pt")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=None, help="default: the protocol's")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--cache-dir", type=Path, default=Path(".cache"), help="synthetic twins")
    t.add_argument(
        "--pin",
        action="store_true",
        help="maintainers: make it the protocol's official file in protocols/instruments",
    )
    t.set_defaults(func=cmd_train)
    c = csub.add_parser("card", help="print the card of a classifier file")
    c.add_argument("file", type=Path)
    c.set_defaults(func=cmd_card)
