"""The CUDA profiling path run for real: skipped where torch sees no GPU, part of the default
test command everywhere else.

It confirms on a real profile what tests/test_profiling.py can only check on a hand-laid event
table: the kernel rows torch's ``key_averages()`` yields (tests/cuda_profile_checks.py), and that
latency, memory, trace and records take their CUDA readings, end to end through the CLIs.
"""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from benchmark import measure, profiling
from benchmark import records as rec
from benchmark.cli import main
from benchmark.profiling_parse import top_kernels
from tests.cuda_profile_checks import check_cuda_table
from tests.test_profiling import ConvTranslator, _by_key, _task

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (torch sees none)"
)
GPU = torch.device("cuda")


def _model(size: int = 64) -> ConvTranslator:
    return ConvTranslator(_task(size=size))


def test_live_cuda_kernel_table_has_the_structure_the_fixture_assumes():
    model = _model().to(GPU).eval()
    fn = profiling.make_forward(model, _task(size=64), 4, GPU)
    with torch.no_grad():
        fn()  # cuDNN picks its algorithms outside the profiled calls
        rows, kind = measure.profile_kernels(fn, GPU, steps=3)
    assert kind == "cuda"
    total_us = check_cuda_table(rows, steps=3)
    names = [k["name"] for k in top_kernels(rows, "cuda", 3)]
    assert any("conv" in n.lower() or "gemm" in n.lower() for n in names), names
    assert total_us < 1e6  # per call: well under a second for one small conv


def test_cuda_profile_takes_cuda_readings(tmp_path):
    model = _model()
    values = profiling.profile_translator(
        model,
        _task(size=64),
        batch_sizes=(1, 4),
        device="cuda",
        repeats=3,
        warmup=2,
        trace_dir=tmp_path / "traces",
        results_dir=tmp_path,
    )
    got = _by_key(values)
    assert all(v.status == "ok" for v in values), [(v.metric, v.reason) for v in values]
    for v in values:
        assert v.provenance["device"].startswith("cuda:")
        assert v.provenance["cuda"] == torch.version.cuda
        assert v.provenance["math"] == profiling.cuda_math_settings()
        assert v.kind == "profile"
    weights_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / measure.MB
    memory = got[("peak_memory_mb", "bs=4")]
    assert "max_memory_allocated" in memory.provenance["memory"]
    assert memory.value >= weights_mb and memory.extra["delta_mb"] > 0
    kernels = got[("kernels", "bs=4")]
    assert kernels.provenance["note"].startswith("CUDA kernels")
    assert {k["kind"] for k in kernels.extra["kernels"]} == {"cuda"}
    # the kernels of one call run inside its synchronised wall time
    assert kernels.value <= got[("latency_ms", "bs=4")].extra["max"] * 1.05
    with gzip.open(tmp_path / kernels.extra["trace"], "rt") as f:
        events = json.load(f)["traceEvents"]
    assert any(e.get("cat") == "kernel" for e in events)
    assert next(model.parameters()).device.type == "cpu"  # handed back where it was


def test_profile_cli_on_cuda_writes_a_cuda_kernel_table(tmp_path, capsys):
    rc = main(
        [
            "profile", "--baseline", "pix2pix", "--protocol", "edges2shoes", "--preset", "smoke",
            "--batch-sizes", "1,2", "--device", "cuda", "--out", str(tmp_path),
            "--repeats", "2", "--warmup", "1",
        ]
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((tmp_path / "edges2shoes-pix2pix-tiny-smoke.json").read_text())
    kernels = next(v for v in doc["values"] if v["metric"] == "kernels")
    assert kernels["status"] == "ok" and kernels["extra"]["kernels"][0]["kind"] == "cuda"
    out = capsys.readouterr().out
    assert "CUDA kernels" in out and out.startswith("device: cuda:")
    assert "fp32 precision: generic" in out.splitlines()[1]


def test_grid_cell_on_cuda_records_the_gpu_everywhere(tmp_path):
    out = tmp_path / "results"
    rc = main(
        [
            "run", "--protocols", "edges2shoes", "--baselines", "pix2pix", "--preset", "smoke",
            "--device", "cuda", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--no-report",
        ]
    )  # fmt: skip
    assert rc == 0
    records = list(rec.iter_records(out))
    failed = [(r.metric, r.reason) for r in records if r.status == "failed"]
    assert records and not failed, failed  # skipped: standard weights absent, said in reason
    assert all(r.provenance["device"].startswith("cuda:") for r in records)
    kernels = next(r for r in records if r.metric == "kernels")
    assert kernels.extra["kernels"][0]["kind"] == "cuda"
