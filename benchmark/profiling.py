"""What a Translator costs at inference: latency, throughput, peak memory, parameters, FLOPs and
the kernels that take the time, as values the runner records next to the metric values.

The CPU and CUDA paths are one code path with the device switched (``benchmark.device``); only
the readings that exist on one kind of device differ, and each value's provenance names which
one it is. Values (``variant`` is ``"bs=N"`` where the number depends on the batch size):

- ``latency_ms``: median wall time of one ``translate`` call after warm-up, device synchronised
  before the clock stops; ``std`` over the repeats, ``extra`` p10/p90/min/max and
  ``unstable`` when median/min exceeds ``benchmark.timing.UNSTABLE_SPREAD`` (a busy machine).
  Reference-guided methods on protocols that score reference-guided synthesis are also timed
  with a style reference image (``variant`` ``"bs=N,reference"``: latency, throughput, memory).
- ``throughput``: images/s = N / median latency (higher is better).
- ``peak_memory_mb``: CUDA: ``max_memory_allocated`` over one call after
  ``reset_peak_memory_stats`` (weights and inputs included); CPU: growth of the process peak
  RSS over one call (``/proc/self/status`` VmHWM, reset through ``/proc/self/clear_refs``).
- ``params``: parameters of the modules ``translate`` actually runs, so discriminators and other
  training-only nets are left out (``extra["total"]`` counts every parameter).
- ``flops``: per image, ``FlopCounterMode`` over one call at batch size 1 (matmul, conv and
  attention only; a multiply-add counts 2).
- ``kernels``: a record of its own at the largest batch size: total self time per call (ms) of
  the CUDA kernels on a GPU or the CPU operators otherwise, ``extra["kernels"]`` the top 15
  ``{name, self_time_us, calls, kind}`` and ``extra["trace"]`` the Chrome trace (.json.gz, opens
  in Perfetto or chrome://tracing).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

import baselines
import protocols
from baselines.base import TaskSpec, Translator
from benchmark import presets
from benchmark.atomic import atomic_path
from benchmark.device import describe, resolve, synchronize
from benchmark.errors import UserError, output_folder
from benchmark.plan import how_to_run, pair_spec, task_spec_for
from benchmark.profiling_parse import event_rows, top_kernels, total_self_time_us
from benchmark.records import atomic_write_text
from benchmark.timing import is_unstable, unstable_note
from protocols.base import Protocol

# small on purpose: the default grid profiles every cell on 2 CPU cores; the CLI asks for more
DEFAULT_BATCH_SIZES = (1, 8)
DEFAULT_REPEATS = 5
DEFAULT_WARMUP = 1
KERNEL_STEPS = 2  # calls under the profiler; the table is divided back to one call
MB = 1024 * 1024
_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")

Forward = Callable[[], torch.Tensor]


@dataclass
class ProfileValue:
    """One profiling number; the same fields as a metric value, so the runner records both
    alike (``extractor`` is always None: no feature extractor is involved)."""

    metric: str
    value: float | None
    std: float | None = None
    variant: str = ""
    extractor: str | None = None
    direction: str = "lower"
    status: str = "ok"
    reason: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


# --- inputs -------------------------------------------------------------------------------
def random_inputs(
    task: TaskSpec,
    n: int,
    device: torch.device,
    *,
    shots: int = 1,
    seed: int = 0,
    mode: str = "latent",
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Random images at the task's size and the ``translate`` keywords its kind needs (see
    baselines.base), plus a style reference image per input in ``"reference"`` mode: cost
    does not depend on image content, only on shapes."""
    g = torch.Generator().manual_seed(seed)
    s, c = task.image_size, task.channels

    def images(*lead: int) -> torch.Tensor:
        return (torch.rand(*lead, c, s, s, generator=g) * 2 - 1).to(device)

    x = images(n)
    if task.kind in ("paired", "unpaired"):
        kwargs: dict[str, Any] = {"target": 1}
    elif task.kind == "multi_domain":
        kwargs = {"target": (torch.arange(n) % task.num_domains).to(device)}
    elif task.kind == "few_shot":
        kwargs = {"reference": images(n, shots)}
    elif task.kind == "attributes":
        wanted = torch.randint(2, (n, len(task.attributes)), generator=g).float()
        kwargs = {"target": wanted.to(device)}
    else:
        raise ValueError(f"unknown task kind {task.kind!r}")
    if mode == "reference" and task.kind != "few_shot":
        kwargs["reference"] = images(n)
    return x, kwargs


def make_forward(
    model: Translator,
    task: TaskSpec,
    n: int,
    device: torch.device,
    shots: int = 1,
    mode: str = "latent",
) -> Forward:
    """A no-argument call of ``model.translate`` on fixed random inputs of batch size ``n``."""
    x, kwargs = random_inputs(task, n, device, shots=shots, mode=mode)
    return lambda: model.translate(x, **kwargs)


# --- measurements -------------------------------------------------------------------------
def time_calls(fn: Forward, device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Wall time of each of ``repeats`` calls in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _proc_kb(name: str) -> int:
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise OSError(f"{name} not in {_PROC_STATUS}")


def _release_freed_heap() -> None:
    """Hand freed malloc memory back to the OS, so the next call's growth is not hidden in
    pages an earlier call left behind (glibc only; elsewhere a no-op)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def peak_memory(fn: Forward, device: torch.device) -> tuple[float | None, dict[str, Any], str]:
    """``(peak MB, extra, method)`` of one call; value None when the reading is unavailable
    (then ``method`` says why)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        extra = {"allocated_before_mb": before / MB, "delta_mb": (peak - before) / MB}
        return peak / MB, extra, "torch.cuda.max_memory_allocated after reset_peak_memory_stats"
    _release_freed_heap()
    try:
        _PROC_CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        before = _proc_kb("VmRSS")
    except OSError as exc:
        return None, {}, f"peak RSS needs Linux /proc/self/clear_refs ({exc})"
    fn()
    peak = _proc_kb("VmHWM")
    extra = {"rss_before_mb": before / 1024, "peak_rss_mb": peak / 1024}
    method = "process peak RSS growth over one call (/proc VmHWM after clear_refs - VmRSS)"
    return (peak - before) / 1024, extra, method


def count_cost(model: Translator, fn: Forward) -> tuple[int, dict[str, int], int, int]:
    """``(flops, flops by op, inference params, all params)`` of one call of ``fn``.

    Inference parameters belong to the modules whose forward ran during the call (found with
    pre-hooks) or to the Translator itself; shared parameters count once.
    """
    ran: dict[int, torch.nn.Module] = {}

    def note(mod: torch.nn.Module, _args: Any) -> None:  # must return None: keeps the inputs
        ran[id(mod)] = mod

    hooks = [m.register_forward_pre_hook(note) for m in model.modules()]
    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    finally:
        for h in hooks:
            h.remove()
    used = {id(p): p for m in (model, *ran.values()) for p in m.parameters(recurse=False)}
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    inference = sum(p.numel() for p in used.values())
    return (
        int(counter.get_total_flops()),
        by_op,
        inference,
        sum(p.numel() for p in model.parameters()),
    )


def profile_kernels(
    fn: Forward, device: torch.device, *, steps: int = KERNEL_STEPS, trace_path: Path | None = None
) -> tuple[list[dict[str, Any]], str]:
    """``(event table rows, kind)`` of ``steps`` calls under torch.profiler; writes the Chrome
    trace to ``trace_path`` when given. ``kind`` is "cuda" on a GPU, else "cpu"."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    activities = [ProfilerActivity.CPU]
    if kind == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with _without_kineto_chatter(), profile(activities=activities) as prof:
        for _ in range(steps):
            with record_function("translate"):
                fn()
        synchronize(device)
    if trace_path is not None:
        _export_trace(prof, trace_path)
    return event_rows(prof.key_averages()), kind


_CHATTER = ("USDT:", "gpuGetDeviceCount")


@contextlib.contextmanager
def _without_kineto_chatter() -> Iterator[None]:
    """The profiler's native library prints start/stop and "no GPU" lines straight to fd 2;
    hold them back so the run's log stays readable, and pass every other line through."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as buf:
        os.dup2(buf.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            buf.seek(0)
            for line in buf.read().decode(errors="replace").splitlines():
                if line and not any(c in line for c in _CHATTER):
                    print(line, file=sys.stderr)


def _export_trace(prof: profile, path: Path) -> None:
    """Chrome trace written whole or not at all (temp file in the same folder, then replace)."""
    # the suffix must stay .json.gz: torch gzips the export when the path ends in .gz
    with atomic_path(path, suffix=".json.gz") as tmp:
        prof.export_chrome_trace(str(tmp))
        wait = getattr(prof, "wait_for_exports", None)  # async CUPTI-monitor export (torch 2.14)
        if wait is not None:
            wait()


# --- the library entry point --------------------------------------------------------------
def base_provenance(device: torch.device) -> dict[str, Any]:
    prov: dict[str, Any] = {
        "device": describe(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    if device.type == "cuda":
        prov["cudnn"] = torch.backends.cudnn.version()
        prov["math"] = cuda_math_settings()
    return prov


def cuda_math_settings() -> dict[str, Any]:
    """The switches that change which CUDA kernels run and how fast: float32 precision (TF32)
    per backend and cuDNN autotuning. Two GPU timings compare only when these match.

    Read through torch's per-backend ``fp32_precision`` ("tf32", "ieee", or "none": inherit
    from the level above) because the legacy ``allow_tf32`` getters raise once a user has
    mixed the two APIs; the legacy setters write these same values."""
    backends = torch.backends
    return {
        "fp32_precision": {
            "generic": getattr(backends, "fp32_precision", None),
            "cuda.matmul": getattr(backends.cuda.matmul, "fp32_precision", None),
            "cudnn.conv": getattr(getattr(backends.cudnn, "conv", None), "fp32_precision", None),
        },
        "cudnn_benchmark": bool(backends.cudnn.benchmark),
        "cudnn_deterministic": bool(backends.cudnn.deterministic),
    }


def variant_of(bs: int, mode: str = "latent") -> str:
    """``bs=N`` for the method's own synthesis, ``bs=N,reference`` with a style reference."""
    return f"bs={bs}" if mode == "latent" else f"bs={bs},{mode}"


def profile_modes(protocol: Protocol, reference_guided: bool) -> list[str]:
    """The synthesis modes worth timing: always the method's own (latent; few-shot methods take
    their K shots there), and reference-guided where the protocol scores it separately."""
    extra = protocol.kind != "few_shot" and "reference" in protocol.modes and reference_guided
    return ["latent", "reference"] if extra else ["latent"]


def _latency_values(
    times: list[float], bs: int, prov: dict[str, Any], mode: str = "latent"
) -> list[ProfileValue]:
    arr = np.asarray(times)
    median = float(np.median(arr))
    variant = variant_of(bs, mode)
    timer = {**prov, "timer": "time.perf_counter around translate, device synchronised"}
    p10, p90, fastest = (
        float(np.percentile(arr, 10)),
        float(np.percentile(arr, 90)),
        float(arr.min()),
    )
    extra = {
        "mode": mode,
        "batch_size": bs,
        "repeats": len(arr),
        "p10": p10,
        "p90": p90,
        "min": fastest,
        "max": float(arr.max()),
        "per_image_ms": median / bs,
        "spread": median / fastest,
        "unstable": is_unstable(fastest, median),
    }
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return [
        ProfileValue("latency_ms", median, std, variant, provenance=timer, extra=extra),
        ProfileValue(
            "throughput",
            bs / (median / 1e3),
            variant=variant,
            direction="higher",
            provenance=timer,
            extra={"mode": mode, "batch_size": bs, "unit": "images/s", "latency_ms": median},
        ),
    ]


def _memory_value(
    fn: Forward, device: torch.device, bs: int, prov: dict[str, Any], mode: str = "latent"
) -> ProfileValue:
    value, extra, method = peak_memory(fn, device)
    status, reason = ("ok", None) if value is not None else ("skipped", method)
    return ProfileValue(
        "peak_memory_mb",
        value,
        variant=variant_of(bs, mode),
        status=status,
        reason=reason,
        provenance={**prov, "memory": method},
        extra={"mode": mode, "batch_size": bs, **extra},
    )


def _cost_values(
    model: Translator, task: TaskSpec, device: torch.device, shots: int, prov: dict[str, Any]
) -> list[ProfileValue]:
    flops, by_op, inference, total = count_cost(model, make_forward(model, task, 1, device, shots))
    return [
        ProfileValue(
            "params",
            float(inference),
            provenance={**prov, "counted": "parameters of the modules translate() runs"},
            extra={"total": total, "training_only": total - inference},
        ),
        ProfileValue(
            "flops",
            float(flops),
            provenance={
                **prov,
                "counter": "torch.utils.flop_counter.FlopCounterMode, batch size 1 "
                "(matmul/conv/attention only, 2 FLOPs per multiply-add)",
            },
            extra={"by_op": by_op, "per": "image"},
        ),
    ]


def _kernels_value(
    fn: Forward,
    device: torch.device,
    bs: int,
    prov: dict[str, Any],
    steps: int,
    trace_dir: Path | None,
    results_dir: Path | None,
) -> ProfileValue:
    trace_path = None if trace_dir is None else Path(trace_dir) / f"trace-bs{bs}.json.gz"
    rows, kind = profile_kernels(fn, device, steps=steps, trace_path=trace_path)
    kernels = top_kernels(rows, kind, steps)
    if kind == "cuda":
        note = "CUDA kernels, self_device_time_total"
    elif torch.cuda.is_available():
        note = "CPU operators (run on CPU by request), self_cpu_time_total"
    else:
        note = "CPU operators (no CUDA device), self_cpu_time_total"
    extra: dict[str, Any] = {"batch_size": bs, "steps": steps, "kind": kind, "kernels": kernels}
    if trace_path is not None:
        extra["trace"] = _shown_path(trace_path, results_dir)
    status, reason = "ok", None
    if not kernels:  # e.g. CUPTI could not start: an empty table must not read as 0 ms
        status, reason = "failed", f"torch.profiler recorded no {kind} kernels"
    return ProfileValue(
        "kernels",
        total_self_time_us(rows, kind, steps) / 1e3 if kernels else None,
        variant=f"bs={bs}",
        status=status,
        reason=reason,
        provenance={**prov, "profiler": "torch.profiler key_averages", "note": note},
        extra=extra,
    )


def _shown_path(path: Path, results_dir: Path | None) -> str:
    """``path`` relative to the results folder when it lies inside it, else as it is."""
    if results_dir is not None:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(Path(results_dir).resolve()))
    return str(path)


def profile_translator(
    model: Translator,
    task: TaskSpec,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    device: str | torch.device = "auto",
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
    trace_dir: Path | None = None,
    results_dir: Path | None = None,
    shots: int = 1,
    kernel_steps: int = KERNEL_STEPS,
    modes: Sequence[str] = ("latent",),
) -> list[ProfileValue]:
    """Profile ``model.translate`` on random inputs of ``task`` (see the module docstring).

    ``results_dir`` (the results folder) makes ``extra["trace"]`` a relative path; ``shots`` is
    the reference count K for few-shot tasks; ``modes`` (see ``profile_modes``) adds timings
    with a style reference. FLOPs, parameters and the kernel table are of the latent mode. A
    batch size that runs out of GPU memory gets failed values and the rest go on. The model
    is returned to its device and train/eval mode.
    """
    sizes = sorted(set(batch_sizes))
    if not sizes or sizes[0] < 1 or repeats < 1 or warmup < 0 or kernel_steps < 1:
        raise ValueError("need batch sizes >= 1, repeats >= 1, warmup >= 0, kernel_steps >= 1")
    device = resolve(device)
    prov = base_provenance(device)
    home, was_training = model.device, model.training
    model.to(device).eval()
    values: list[ProfileValue] = []
    try:
        with torch.no_grad():
            values += _cost_values(model, task, device, shots, prov)
            largest = None
            for mode in modes:
                for bs in sizes:
                    fn = make_forward(model, task, bs, device, shots, mode)
                    try:
                        times = time_calls(fn, device, repeats, warmup)
                        timed = _latency_values(times, bs, prov, mode)
                        memory = _memory_value(fn, device, bs, prov, mode)
                    except torch.OutOfMemoryError:
                        values += _out_of_memory(bs, device, prov, mode)
                        continue
                    values += [*timed, memory]
                    if mode == "latent":
                        largest = (bs, fn)
            if largest is not None:
                bs, fn = largest
                values.append(
                    _kernels_value(fn, device, bs, prov, kernel_steps, trace_dir, results_dir)
                )
    finally:
        model.to(home).train(was_training)
    return values


def _out_of_memory(
    bs: int, device: torch.device, prov: dict[str, Any], mode: str = "latent"
) -> list[ProfileValue]:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    reason = f"out of memory at batch size {bs} on {describe(device)}"
    return [
        ProfileValue(
            metric,
            None,
            variant=variant_of(bs, mode),
            status="failed",
            reason=reason,
            direction=direction,
            provenance=prov,
        )
        for metric, direction in (
            ("latency_ms", "lower"),
            ("throughput", "higher"),
            ("peak_memory_mb", "lower"),
        )
    ]


# --- CLI ----------------------------------------------------------------------------------
def cli_task(
    protocol_name: str, preset: presets.Preset, baseline: str
) -> tuple[Protocol, TaskSpec]:
    """The protocol scaled by ``preset`` and the TaskSpec the runner would build ``baseline``
    with for it (direct, or the two-domain spec of a pairwise/unpaired method), without data.

    Few-shot specs name the source classes, which only the dataset knows; translate's cost does
    not depend on them (only the discriminator's class heads do, and translate never runs
    those), so the CLI numbers the protocol's target classes instead of loading the data.
    """

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
    if protocol.kind == "few_shot":
        names = tuple(protocol.domains)
        spec = TaskSpec(
            kind="few_shot",
            image_size=protocol.image_size,
            num_domains=len(names),
            domain_names=names,
        )
        return protocol, spec
    return protocol, task_spec_for(protocol)


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


def format_values(values: Sequence[ProfileValue]) -> str:
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
