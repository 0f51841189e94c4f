"""What torch.profiler adds to one translate call (profiled vs plain), reported in the benchmark
table's extra info, never asserted: timings on a shared machine are not a pass/fail signal.

``make bench`` (or ``pytest tests/benchmarks --benchmark-enable``) prints it; with benchmarks
disabled (the default test run) the profiled call still runs once as a smoke check.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from baselines.base import TaskSpec, Translator
from benchmark import measure, profiling
from benchmark.device import resolve


class SmallGenerator(Translator):
    """A few conv layers at 32 px: enough operators for the profiler's per-op cost to show."""

    name = "bench_small_generator"
    supports = frozenset({"paired"})

    def __init__(self, task: TaskSpec, config: str = "tiny") -> None:
        super().__init__(task, config)
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(16, 16, 3, padding=1), nn.InstanceNorm2d(16), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Conv2d(16, 3, 3, padding=1), nn.Tanh())

    def translate(self, x, *, target=None, latent=None, reference=None):
        return self.net(x)


def test_profiler_overhead_ratio(benchmark):
    device = resolve("auto")
    task = TaskSpec(kind="paired", image_size=32)
    model = SmallGenerator(task).to(device).eval()
    x, kwargs = profiling.random_inputs(task, 4, device)

    def forward() -> torch.Tensor:
        return model.translate(x, **kwargs)

    with torch.no_grad():
        plain = measure.time_calls(forward, device, repeats=5, warmup=1)
        rows = benchmark.pedantic(
            lambda: measure.profile_kernels(forward, device, steps=1)[0],
            rounds=5,
            warmup_rounds=1,
        )
    assert any(r["key"] == "translate" for r in rows)  # the profiled call did run
    plain_ms = statistics.median(plain)
    benchmark.extra_info["plain_ms"] = plain_ms
    benchmark.extra_info["device"] = str(device)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None when benchmarks are disabled
        ratio = stats.stats.median * 1e3 / plain_ms
        benchmark.extra_info["overhead_ratio"] = ratio
        print(f"profiled / plain translate on {device}: {ratio:.1f}x ({plain_ms:.2f} ms plain)")
