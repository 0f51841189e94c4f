"""What the CUDA kernel-table reading relies on in a CUDA profile's ``key_averages()`` rows.

One set of checks, run on two inputs: the hand-laid fixture (tests/test_profiling.py, on every
machine) and a live CUDA profile (tests/test_profiling_cuda.py, where torch sees a GPU). The
fixture was written without a GPU; when both pass, the fixture's structure is confirmed by a real
profile rather than assumed.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmark.profiling_parse import top_kernels, total_self_time_us

ANNOTATION = "translate"  # the record_function range measure.profile_kernels puts around a call


def check_cuda_table(rows: list[dict[str, Any]], steps: int) -> float:
    """Assert the structure ``top_kernels(rows, "cuda")`` depends on; return the kernels' total
    self time per step (µs).

    - kernels exist and none shares its name with a host row (an operator, a CUDA runtime
      call) or the annotation;
    - their total equals the device time torch credits to the host-side annotation, i.e. the
      table holds every kernel the profiled calls launched, each once;
    - summing device self time over *every* row counts kernels at least twice (their own row and
      the operator that launched them), which is why only kernel rows are read.
    """
    everything = top_kernels(rows, "cuda", steps, limit=len(rows))
    assert everything, "no CUDA kernel rows in the profile"
    host_names = {r["key"] for r in rows if r["device_type"].endswith("CPU")}
    for k in everything:
        assert k["kind"] == "cuda" and k["self_time_us"] >= 0 and k["calls"] > 0
        assert k["name"] != ANNOTATION and k["name"] not in host_names, k["name"]
    total = total_self_time_us(rows, "cuda", steps)
    assert total > 0
    host = [
        r
        for r in rows
        if r["key"] == ANNOTATION and r["device_type"].endswith("CPU") and r["is_user_annotation"]
    ]
    assert len(host) == 1 and host[0]["count"] == steps
    assert host[0]["device_time_total"] / steps == pytest.approx(total, rel=1e-3)
    naive = sum(float(r["self_device_time_total"]) for r in rows) / steps
    assert naive >= 2 * total * (1 - 1e-6)
    return total
