"""Another CPU, simulated on this one: every vector-kernel switch the libraries offer set to its
plainest (ATen, oneDNN, numpy's dispatched loops, libjpeg-turbo's SIMD for the twins' JPEGs).
Floating-point results of training differ across CPUs exactly through these kernels."""

from __future__ import annotations


def _numpy_dispatch_features() -> str:
    """numpy's runtime-dispatched SIMD targets this CPU has (the ones that can be disabled)."""
    from numpy._core import _multiarray_umath as m

    return " ".join(f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f))


OTHER_CPU = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "NPY_DISABLE_CPU_FEATURES": _numpy_dispatch_features(),
    "JSIMD_FORCENONE": "1",
}
