"""How to read a device: wall time, peak memory, FLOPs and parameters, and the kernel table of
calls of a no-argument function. ``benchmark.profiling`` turns these readings into values.

Every reading synchronises the device before it stops its clock or reads its counters, and
names its own method where one kind of device lacks it (CPU peak memory needs Linux /proc).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

from baselines.base import Translator
from benchmark.atomic import atomic_path
from benchmark.device import synchronize
from benchmark.profiling_parse import event_rows

KERNEL_STEPS = 2  # calls under the profiler; the table is divided back to one call
MB = 1024 * 1024
_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")

Forward = Callable[[], torch.Tensor]


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
