"""What a Translator costs at inference: latency, throughput, peak memory, parameters, FLOPs and
the kernels that take the time, as values the runner records next to the metric values.

The CPU and CUDA paths are one code path with the device switched (``benchmark.device``); only
the readings that exist on one kind of device differ (``benchmark.measure`` takes them), and
each value's provenance names which one it is. Every value is a ``benchmark.values.Value`` of
kind ``profile``. Values (``variant`` is ``"bs=N"`` where the number depends on the batch size):

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

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.base import TaskSpec, Translator
from benchmark.device import describe, resolve
from benchmark.measure import (
    KERNEL_STEPS,
    Forward,
    count_cost,
    peak_memory,
    profile_kernels,
    time_calls,
)
from benchmark.plan import kind_of
from benchmark.profiling_parse import top_kernels, total_self_time_us
from benchmark.timing import is_unstable
from benchmark.values import Value
from protocols.base import Protocol

# small on purpose: the default grid profiles every cell on 2 CPU cores; the CLI asks for more
DEFAULT_BATCH_SIZES = (1, 8)
DEFAULT_REPEATS = 5
DEFAULT_WARMUP = 1


def _value(metric: str, value: float | None, *args: Any, **kwargs: Any) -> Value:
    """A ``Value`` of kind ``profile``: machine-dependent, shown apart, never gated."""
    return Value(metric, value, *args, kind="profile", **kwargs)


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
    kind = kind_of(task.kind)
    g = torch.Generator().manual_seed(seed)
    s, c = task.image_size, task.channels

    def images(*lead: int) -> torch.Tensor:
        return (torch.rand(*lead, c, s, s, generator=g) * 2 - 1).to(device)

    x = images(n)
    kwargs = kind.random_kwargs(task, n, images, g, device, shots=shots)
    if mode == "reference" and not kind.references_are_shots:
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
    shots = kind_of(protocol.kind).references_are_shots
    extra = not shots and "reference" in protocol.modes and reference_guided
    return ["latent", "reference"] if extra else ["latent"]


def _latency_values(
    times: list[float], bs: int, prov: dict[str, Any], mode: str = "latent"
) -> list[Value]:
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
        _value("latency_ms", median, std, variant, provenance=timer, extra=extra),
        _value(
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
) -> Value:
    value, extra, method = peak_memory(fn, device)
    status, reason = ("ok", None) if value is not None else ("skipped", method)
    return _value(
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
) -> list[Value]:
    flops, by_op, inference, total = count_cost(model, make_forward(model, task, 1, device, shots))
    return [
        _value(
            "params",
            float(inference),
            provenance={**prov, "counted": "parameters of the modules translate() runs"},
            extra={"total": total, "training_only": total - inference},
        ),
        _value(
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
) -> Value:
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
    return _value(
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
) -> list[Value]:
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
    values: list[Value] = []
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
) -> list[Value]:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    reason = f"out of memory at batch size {bs} on {describe(device)}"
    return [
        _value(
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
