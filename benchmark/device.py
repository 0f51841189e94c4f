"""The one place where a torch device is chosen; nothing else in the suite picks a device.

Under torchrun each rank takes its own GPU, ``cuda:LOCAL_RANK``, and joins the process group
(benchmark.distributed) as its device is chosen: gloo on CPU, gloo and nccl on CUDA."""

from __future__ import annotations

import os
import platform

import torch

from benchmark import distributed
from benchmark.errors import UserError


def resolve(spec: str | torch.device | None = "auto") -> torch.device:
    """Map ``auto|cpu|cuda|cuda:N`` to a device; ``auto`` prefers CUDA when present. Under
    torchrun, ``auto`` and ``cuda`` are this rank's GPU and the rank joins the process group."""
    if isinstance(spec, torch.device):
        return spec
    device = _pick(spec)
    distributed.init(device)
    return device


def _pick(spec: str | None) -> torch.device:
    spec = (spec or "auto").lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {spec} was asked for but torch sees no CUDA device "
                f"(torch {torch.__version__}); use --device cpu or auto"
            )
        if distributed.launched():
            if spec != "cuda":
                raise UserError(
                    f"--device {spec} under torchrun: each process takes its own GPU "
                    "(cuda:LOCAL_RANK); pass --device cuda or auto"
                )
            return torch.device("cuda", distributed.local_rank())
        return torch.device(spec)
    if spec == "cpu":
        return torch.device("cpu")
    raise UserError(f"unknown device '{spec}': use auto, cpu, cuda or cuda:N")


def describe(device: torch.device) -> str:
    """Human-readable device name recorded in every result's provenance."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} {torch.cuda.get_device_name(idx)} (CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    return f"cpu {platform.machine()} ({os.cpu_count()} cores, {threads} torch threads)"


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock timings are honest on GPU; no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
