"""Turn a torch.profiler event table into the top-kernels list every profile record carries.

Kept apart from the profiling runtime so the CUDA-specific reading can be tested without a GPU:
tests/test_profiling.py lays out a CUDA profile's kineto events (tests/fixtures/
profiler_cuda_launches.json) and lets torch's own ``EventList.key_averages()`` aggregate them,
then reads the result through ``event_rows`` exactly as a live profile is read.

How ``key_averages()`` looks on CUDA (torch/autograd/profiler_util.py, ``FunctionEvent`` and
``FunctionEventAvg``): kernels, memcpys and memsets are rows of their own with
``device_type == DeviceType.CUDA`` and zero CPU time; the ``aten::`` operators that launched them
are ``DeviceType.CPU`` rows whose ``self_device_time_total`` *also* holds the time of the kernels
they launched directly (pytorch/pytorch#60783), and each ``record_function`` range appears twice,
on CPU and mirrored on the GPU timeline, with ``is_user_annotation`` set. Summing device time
over every row therefore double counts; only non-annotation CUDA rows are kernels.

A published real GPU table shows the same double counting: the ResNet-50 kineto profile in gist
ilia-cher/1fa37ad4a5149fb5eeda1245c5583c69 (a PyTorch profiler developer, Feb 2021) lists
``aten::thnn_conv2d_backward`` at 61.17% and ``aten::thnn_conv2d_forward`` at 23.50% Self CUDA
beside ``void at::native::col2im_kernel`` at 20.84% with 0 Self CPU, already over 100% in three
rows. tests/test_profiling_cuda.py checks this structure on a live profile where a GPU exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# the scalar fields of a FunctionEventAvg we keep (object references like cpu_children are not
# serialisable and not needed); a recorded table has exactly these keys per row
ROW_FIELDS = (
    "key",
    "count",
    "device_type",
    "is_user_annotation",
    "is_async",
    "is_remote",
    "node_id",
    "use_device",
    "cpu_time_total",
    "self_cpu_time_total",
    "device_time_total",
    "self_device_time_total",
    "cpu_memory_usage",
    "self_cpu_memory_usage",
    "device_memory_usage",
    "self_device_memory_usage",
    "flops",
)
CUDA = "DeviceType.CUDA"
CPU = "DeviceType.CPU"
TOP_K = 15
# (device_type of the rows, the self-time field) for each kind of kernel table
_KINDS = {"cuda": (CUDA, "self_device_time_total"), "cpu": (CPU, "self_cpu_time_total")}


def event_rows(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Plain dicts from ``prof.key_averages()`` (FunctionEventAvg objects), JSON-ready."""
    rows = []
    for evt in events:
        row = {name: getattr(evt, name, None) for name in ROW_FIELDS}
        row["device_type"] = str(row["device_type"])
        row["is_user_annotation"] = bool(row["is_user_annotation"])
        rows.append(row)
    return rows


def _kernel_rows(rows: Sequence[dict[str, Any]], kind: str) -> tuple[list[dict[str, Any]], str]:
    """The rows that are kernels of ``kind`` and the field holding their self time."""
    if kind not in _KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}; use one of {sorted(_KINDS)}")
    device_type, field = _KINDS[kind]
    picked = [
        r
        for r in rows
        if r["device_type"] == device_type and not r["is_user_annotation"] and not r["is_async"]
    ]
    return picked, field


def top_kernels(
    rows: Sequence[dict[str, Any]], kind: str, steps: int = 1, limit: int = TOP_K
) -> list[dict[str, Any]]:
    """The ``limit`` kernels (``kind="cuda"``) or CPU operators (``"cpu"``) with the most self
    time, per profiled step: ``{name, self_time_us, calls, kind}``, largest first."""
    picked, field = _kernel_rows(rows, kind)
    picked.sort(key=lambda r: (-float(r[field]), r["key"]))
    return [
        {
            "name": r["key"],
            "self_time_us": float(r[field]) / steps,
            "calls": r["count"] / steps,
            "kind": kind,
        }
        for r in picked[:limit]
    ]


def total_self_time_us(rows: Sequence[dict[str, Any]], kind: str, steps: int = 1) -> float:
    """Self time of all kernels (or CPU operators) per step: the sum the top list is cut from."""
    picked, field = _kernel_rows(rows, kind)
    return sum(float(r[field]) for r in picked) / steps
