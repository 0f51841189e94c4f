"""The ``profile`` subcommand: one baseline's inference cost on random inputs at a protocol's
image size, written as one JSON file and printed as a summary (``benchmark.profiling`` measures).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import baselines
import protocols
from baselines.base import TaskSpec, Translator
from benchmark import presets
from benchmark.errors import UserError, output_folder
from benchmark.plan import how_to_run, kind_of, pair_spec
from benchmark.profiling import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    profile_modes,
    profile_translator,
)
from benchmark.records import atomic_write_text
from benchmark.timing import unstable_note
from benchmark.values import Value
from protocols.base import Protocol


def cli_task(
    protocol_name: str, preset: presets.Preset, baseline: str
) -> tuple[Protocol, TaskSpec]:
    """The protocol scaled by ``preset`` and the TaskSpec the runner would build ``baseline``
    with for it (direct, or the two-domain spec of a pairwise/unpaired method), without loading
    the data (see ``TaskKind.spec_without_data``: few-shot specs name the target classes)."""
    protocol = protocols.get(protocol_name).spec(
        image_size=preset.image_size,
        max_inputs=preset.max_inputs,
        max_outputs=preset.max_outputs,
        preset=preset.name,
    )
    how = how_to_run(baselines.get(baseline), protocol.kind)
    if how is None:
        raise UserError(
            f"baseline {baseline} cannot run {protocol.kind} protocols like {protocol_name}; "
            f"pick a baseline that supports {protocol.kind}"
        )
    if how != "direct":
        return protocol, pair_spec(protocol, "unpaired", (0, 1))
    return protocol, kind_of(protocol.kind).spec_without_data(protocol)


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UserError(
            f"--batch-sizes {text!r}: give positive integers separated by commas, e.g. 1,8,32"
        )
    return sizes


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="latency, throughput, memory, params, FLOPs and top kernels of one baseline",
        description="Profile a baseline's inference on random inputs at a protocol's image "
        "size (random weights unless --checkpoint is given; cost does not depend on them).",
    )
    p.add_argument("--baseline", required=True, help="registered baseline name")
    p.add_argument("--protocol", required=True, help="protocol name (its image size and task)")
    p.add_argument(
        "--preset",
        default="paper",
        help="run preset scaling the protocol: smoke, quick or paper (default: paper, the "
        "protocol's own resolution)",
    )
    p.add_argument(
        "--config", default=None, help="baseline config, tiny or paper (default: the preset's)"
    )
    p.add_argument("--checkpoint", default=None, help="weights to load (default: random init)")
    p.add_argument(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated batch sizes (default %(default)s)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", type=Path, default=Path("results/profile"), help="output folder")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed calls per size")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed calls first")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    sizes = parse_batch_sizes(args.batch_sizes)
    output_folder(args.out, "--out")
    if args.repeats < 1 or args.warmup < 0:
        raise UserError("--repeats must be >= 1 and --warmup >= 0")
    preset = presets.get(args.preset)
    config = args.config or preset.config
    protocol, task = cli_task(args.protocol, preset, args.baseline)
    if baselines.get(args.baseline).prepare is not Translator.prepare:
        raise UserError(
            f"baseline {args.baseline} indexes the dataset before it can translate; its cost "
            "is profiled in every cell of `python -m benchmark run`"
        )
    model = baselines.build(args.baseline, config, checkpoint=args.checkpoint, task=task)
    name = f"{args.protocol}-{args.baseline}-{config}-{preset.name}"
    values = profile_translator(
        model,
        task,
        batch_sizes=sizes,
        device=args.device,
        repeats=args.repeats,
        warmup=args.warmup,
        trace_dir=args.out / "traces" / name,
        results_dir=args.out,
        shots=max(protocol.shots, default=1),
        modes=profile_modes(protocol, baselines.get(args.baseline).reference_guided),
    )
    payload = {
        "protocol": protocol.name,
        "protocol_hash": protocol.hash,
        "preset": preset.name,
        "baseline": args.baseline,
        "config": config,
        "checkpoint": args.checkpoint,
        "task": task.to_dict(),
        "values": [asdict(v) for v in values],
    }
    path = args.out / f"{name}.json"
    atomic_write_text(path, json.dumps(payload, indent=1, default=str) + "\n")
    print(format_values(values))
    print(f"wrote {path}")
    return 0


def format_values(values: Sequence[Value]) -> str:
    """A plain-text summary: what it ran on, one line per value, then the kernel table."""
    lines = []
    if values:
        prov = values[0].provenance
        build = f"torch {prov.get('torch')}, built for CUDA {prov.get('cuda')}"
        lines.append(f"device: {prov.get('device')} ({build})")
        math = prov.get("math")
        if math:
            fp32 = ", ".join(f"{k} {v}" for k, v in math["fp32_precision"].items())
            lines.append(
                f"  fp32 precision: {fp32}; cudnn.benchmark {math['cudnn_benchmark']}, "
                f"deterministic {math['cudnn_deterministic']}"
            )
    for v in values:
        shown = "-" if v.value is None else f"{v.value:.6g}"
        note = f"  ({v.status}: {v.reason})" if v.status != "ok" else ""
        if v.metric == "latency_ms" and v.extra.get("unstable"):
            note += f"  ({unstable_note(v.extra['spread'])}; rerun idle or with more --repeats)"
        lines.append(f"{v.metric:15s} {v.variant:6s} {shown:>14s}{note}")
        if v.extra.get("kernels"):
            lines.append(
                f"  top {len(v.extra['kernels'])} by self time per call: "
                f"{v.provenance.get('note', '')}"
            )
        for k in v.extra.get("kernels", []):
            lines.append(f"    {k['self_time_us']:12.1f} us {k['calls']:7.1f}x  {k['name'][:90]}")
    return "\n".join(lines)
