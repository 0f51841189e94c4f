"""Profiling: the CPU path run for real on tiny translators, the CUDA kernel-table reading on
torch's own key_averages() of a kineto-shaped CUDA event list, FLOPs against a hand count
(``benchmark.measure``), the values (``benchmark.profiling``) and the ``profile`` CLI
(``benchmark.profile_cli``)."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd import DeviceType
from torch.autograd.profiler_util import EventList, FunctionEvent

import protocols
from baselines.base import TaskSpec, Translator
from benchmark import measure, presets, profile_cli, profiling
from benchmark.device import describe
from benchmark.errors import UserError
from benchmark.profiling_parse import ROW_FIELDS, event_rows, top_kernels, total_self_time_us
from benchmark.values import Value
from tests.cuda_profile_checks import check_cuda_table

LAUNCHES = Path(__file__).parent / "fixtures" / "profiler_cuda_launches.json"
KINDS = ("paired", "unpaired", "multi_domain", "few_shot", "attributes")


class ConvTranslator(Translator):
    """A generator of one conv (3 -> 5, 3x3, stride 2, no bias) upsampled back, plus a
    discriminator that translate never runs (it must not count as an inference parameter)."""

    name = "test_conv"
    supports = frozenset(KINDS)

    def __init__(self, task: TaskSpec, config: str = "tiny") -> None:
        super().__init__(task, config)
        self.conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False)
        self.to_rgb = nn.Conv2d(5, 3, 1)
        self.disc = nn.Conv2d(3, 1, 4)
        self.seen: list[dict] = []

    def translate(self, x, *, target=None, latent=None, reference=None):
        self.seen.append({"target": target, "reference": reference})
        h = torch.relu(self.conv(x))
        return torch.tanh(self.to_rgb(nn.functional.interpolate(h, scale_factor=2)))


class Allocating(Translator):
    """Touches a 64 MiB buffer on every call: the CPU peak-memory reading must see it."""

    name = "test_alloc"
    supports = frozenset(KINDS)

    def translate(self, x, *, target=None, latent=None, reference=None):
        buf = torch.ones(16 * 1024 * 1024)  # float32: 64 MiB, every page written
        return x + buf[0] - 1


def _task(kind: str = "paired", size: int = 16) -> TaskSpec:
    attrs = ("Male", "Young") if kind == "attributes" else ()
    return TaskSpec(kind=kind, image_size=size, num_domains=3, attributes=attrs)


@pytest.fixture(scope="module")
def cpu_profile(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    model = ConvTranslator(_task())
    values = profiling.profile_translator(
        model,
        _task(),
        batch_sizes=(2, 1),
        device="cpu",
        repeats=3,
        warmup=1,
        trace_dir=root / "traces" / "cell",
        results_dir=root,
    )
    return root, model, values


def _by_key(values):
    return {(v.metric, v.variant): v for v in values}


# --- FLOPs and parameters -----------------------------------------------------------------
def test_flops_of_a_single_conv_match_the_hand_count():
    class OneConv(Translator):
        name = "one_conv"
        supports = frozenset({"paired"})

        def __init__(self, task, config="tiny"):
            super().__init__(task, config)
            self.conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False)

        def translate(self, x, *, target=None, latent=None, reference=None):
            return self.conv(x)

    task = _task(size=8)
    model = OneConv(task)
    fn = profiling.make_forward(model, task, 1, torch.device("cpu"), 1)
    flops, by_op, used, total = measure.count_cost(model, fn)
    # output 5 x 4 x 4 positions, each 3 * 3 * 3 multiply-adds, 2 FLOPs per multiply-add
    assert flops == 2 * (5 * 4 * 4) * (3 * 3 * 3) == 4320
    assert used == total == 5 * 3 * 3 * 3
    assert by_op == {"aten.convolution": 4320}


def test_params_count_only_what_translate_runs_and_flops_are_per_image(cpu_profile):
    _, model, values = cpu_profile
    v = _by_key(values)
    gen = 5 * 3 * 3 * 3 + (3 * 5 + 3)  # conv (no bias) + 1x1 to_rgb with bias
    disc = 3 * 4 * 4 + 1
    assert v["params", ""].value == gen
    assert (
        v["params", ""].extra["total"] == gen + disc == sum(p.numel() for p in model.parameters())
    )
    # per image at 16 px: stride-2 conv to 8x8, then the 1x1 conv at 16x16
    assert v["flops", ""].value == 2 * (5 * 8 * 8 * 27 + 3 * 16 * 16 * 5)
    assert v["flops", ""].extra["per"] == "image"


# --- the CPU path, for real ---------------------------------------------------------------
def test_cpu_profile_has_every_metric_per_batch_size(cpu_profile):
    _, _, values = cpu_profile
    keys = {(v.metric, v.variant) for v in values}
    per_bs = {
        (m, f"bs={n}") for m in ("latency_ms", "throughput", "peak_memory_mb") for n in (1, 2)
    }
    assert keys == per_bs | {("params", ""), ("flops", ""), ("kernels", "bs=2")}
    for v in values:
        assert isinstance(v, Value) and v.kind == "profile"
        assert v.status == "ok", (v.metric, v.reason)
        assert v.extractor is None
        assert v.direction == ("higher" if v.metric == "throughput" else "lower")
        assert v.provenance["device"].startswith("cpu")
        assert v.provenance["torch"] == torch.__version__
        assert v.provenance["cuda"] == torch.version.cuda


def test_latency_summary_and_throughput_follow_from_the_repeats(cpu_profile):
    _, _, values = cpu_profile
    v = _by_key(values)
    for bs in (1, 2):
        lat = v["latency_ms", f"bs={bs}"]
        e = lat.extra
        assert e["repeats"] == 3 and e["batch_size"] == bs
        assert 0 < e["min"] <= e["p10"] <= lat.value <= e["p90"] <= e["max"]
        assert e["per_image_ms"] == pytest.approx(lat.value / bs)
        assert lat.std is not None and lat.std >= 0
        thr = v["throughput", f"bs={bs}"]
        assert thr.value == pytest.approx(bs * 1000.0 / lat.value)
        assert thr.extra["latency_ms"] == lat.value


@pytest.fixture
def math_switches():
    """Torch's float32-precision and cuDNN switches, put back after the test (monkeypatch cannot:
    these backend objects answer through __getattr__/__setattr__)."""
    b = torch.backends
    places = ((b.cudnn.conv, "fp32_precision"), (b.cuda.matmul, "fp32_precision"))
    saved = [getattr(obj, name) for obj, name in places]
    benchmark = b.cudnn.benchmark
    yield
    for (obj, name), value in zip(places, saved, strict=True):
        setattr(obj, name, value)
    b.cudnn.benchmark = benchmark


def test_cuda_math_settings_follow_torchs_switches(math_switches):
    """Recorded in every CUDA profile's provenance; readable without a GPU and after a user mixed
    the legacy ``allow_tf32`` and the new ``fp32_precision`` APIs (the legacy getter raises)."""
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.benchmark = True
    got = profiling.cuda_math_settings()
    assert got["fp32_precision"]["cudnn.conv"] == "ieee"
    assert got["fp32_precision"]["cuda.matmul"] == "tf32"
    assert got["cudnn_benchmark"] is True and got["cudnn_deterministic"] is False
    torch.backends.cuda.matmul.allow_tf32 = False  # the legacy setter writes the same switch
    assert profiling.cuda_math_settings()["fp32_precision"]["cuda.matmul"] == "ieee"
    json.dumps(got)  # provenance must serialise


def test_latency_statistics_match_numpy(monkeypatch):
    times = [4.0, 1.0, 3.0, 2.0, 10.0]
    monkeypatch.setattr(profiling, "time_calls", lambda fn, device, repeats, warmup: times)
    values = profiling.profile_translator(
        ConvTranslator(_task()), _task(), batch_sizes=(4,), device="cpu", repeats=5
    )
    lat = _by_key(values)["latency_ms", "bs=4"]
    assert lat.value == 3.0
    assert lat.std == pytest.approx(np.std(times, ddof=1))
    assert lat.extra["p10"] == pytest.approx(np.percentile(times, 10))
    assert lat.extra["p90"] == pytest.approx(np.percentile(times, 90))
    assert (lat.extra["min"], lat.extra["max"]) == (1.0, 10.0)
    assert _by_key(values)["throughput", "bs=4"].value == pytest.approx(4 / 0.003)


@pytest.mark.parametrize(
    ("times", "unstable"),
    [
        ([10.0, 10.4, 9.8, 10.1, 10.2], False),  # an idle machine: a few percent
        ([10.0, 10.2, 9.9, 10.1, 30.0], False),  # one stalled call: the median does not move
        ([10.0, 10.0, 20.0, 25.0, 26.0], True),  # most calls slowed: median = 2 x min
        ([1.40, 1.50, 5.42], False),  # 3 repeats, one slow: seen here on an idle machine
        ([138.0, 508.0, 508.0, 284.0, 508.0], True),  # seen here with another job on the cores
    ],
)
def test_latency_with_a_wide_spread_is_flagged_unstable_and_said(monkeypatch, times, unstable):
    monkeypatch.setattr(profiling, "time_calls", lambda fn, device, repeats, warmup: times)
    values = profiling.profile_translator(
        ConvTranslator(_task()), _task(), batch_sizes=(2,), device="cpu", repeats=len(times)
    )
    lat = _by_key(values)["latency_ms", "bs=2"]
    spread = np.median(times) / np.min(times)
    assert lat.extra["spread"] == pytest.approx(spread)
    assert lat.extra["unstable"] is unstable and lat.status == "ok"
    line = next(
        x for x in profile_cli.format_values(values).splitlines() if x.startswith("latency")
    )
    assert ("unstable: median/min" in line) is unstable
    if unstable:
        assert f"{spread:.1f}x" in line and "--repeats" in line


def test_cpu_kernel_table_lists_operators_per_call_without_the_annotation(cpu_profile):
    root, _, values = cpu_profile
    k = _by_key(values)["kernels", "bs=2"]
    assert k.extra["kind"] == "cpu" and k.extra["batch_size"] == 2
    assert "CPU operators" in k.provenance["note"]
    kernels = k.extra["kernels"]
    assert 0 < len(kernels) <= 15
    names = [row["name"] for row in kernels]
    assert "translate" not in names  # our record_function range is not an operator
    assert all(row["kind"] == "cpu" for row in kernels)
    times = [row["self_time_us"] for row in kernels]
    assert times == sorted(times, reverse=True)
    # calls are per translate call: one tanh, relu and upsample, two conv2d
    calls = {row["name"]: row["calls"] for row in kernels}
    per_call = {"aten::tanh": 1, "aten::relu": 1, "aten::upsample_nearest2d": 1, "aten::conv2d": 2}
    assert set(per_call) & set(calls)
    assert {n: calls[n] for n in per_call if n in calls} == {
        n: c for n, c in per_call.items() if n in calls
    }
    assert any("conv" in n for n in names)
    assert k.value * 1e3 >= sum(times) * (1 - 1e-9) > 0  # the top 15 are part of the total


def test_chrome_trace_is_saved_relative_to_the_results_folder(cpu_profile):
    root, _, values = cpu_profile
    trace = _by_key(values)["kernels", "bs=2"].extra["trace"]
    assert not Path(trace).is_absolute()
    assert trace == "traces/cell/trace-bs2.json.gz"
    with gzip.open(root / trace, "rt") as f:
        events = json.load(f)["traceEvents"]
    assert any(e.get("name") == "translate" for e in events)
    assert not [p for p in (root / "traces" / "cell").iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_cpu_peak_memory_sees_a_64_mib_buffer():
    values = profiling.profile_translator(
        Allocating(_task()), _task(), batch_sizes=(1,), device="cpu", repeats=1, warmup=0
    )
    mem = _by_key(values)["peak_memory_mb", "bs=1"]
    assert mem.status == "ok", mem.reason
    assert "VmHWM" in mem.provenance["memory"]
    assert 60 <= mem.value < 200
    assert mem.extra["peak_rss_mb"] - mem.extra["rss_before_mb"] == pytest.approx(mem.value)


def test_peak_memory_without_proc_is_skipped_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(measure, "_PROC_CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    values = profiling.profile_translator(
        ConvTranslator(_task()), _task(), batch_sizes=(1,), device="cpu", repeats=1
    )
    mem = _by_key(values)["peak_memory_mb", "bs=1"]
    assert (mem.status, mem.value, mem.kind) == ("skipped", None, "profile")
    assert "clear_refs" in mem.reason


@pytest.mark.parametrize("kind", KINDS)
def test_translate_gets_the_arguments_of_its_task_kind(kind):
    task = _task(kind)
    model = ConvTranslator(task)
    x, kwargs = profiling.random_inputs(task, 4, torch.device("cpu"), shots=3)
    model.translate(x, **kwargs)
    assert x.shape == (4, 3, 16, 16) and -1 <= x.min() and x.max() <= 1
    seen = model.seen[-1]
    if kind in ("paired", "unpaired"):
        assert seen["target"] == 1
    elif kind == "multi_domain":
        assert seen["target"].tolist() == [0, 1, 2, 0]
    elif kind == "few_shot":
        assert seen["reference"].shape == (4, 3, 3, 16, 16)
    else:
        assert seen["target"].shape == (4, 2) and set(seen["target"].unique().tolist()) <= {0, 1}


def test_random_inputs_refuse_an_unknown_task_kind():
    with pytest.raises(ValueError, match="unknown task kind 'nope'"):
        profiling.random_inputs(_task("nope"), 2, torch.device("cpu"))


@pytest.mark.parametrize("kind", KINDS)
def test_a_reference_is_added_unless_the_kind_takes_its_shots_as_references(kind):
    _, kwargs = profiling.random_inputs(_task(kind), 2, torch.device("cpu"), mode="reference")
    if kind == "few_shot":  # the K shots are the reference; no extra style image
        assert kwargs["reference"].shape == (2, 1, 3, 16, 16)
    else:
        assert kwargs["reference"].shape == (2, 3, 16, 16)


@pytest.mark.parametrize(
    "protocol, guided, modes",
    [
        ("afhq", True, ["latent", "reference"]),  # StarGAN v2 protocol scores both
        ("afhq", False, ["latent"]),
        ("edges2shoes", True, ["latent"]),  # latent-only protocol
        ("animal_faces", True, ["latent"]),  # few-shot: the K shots are the latent path
    ],
)
def test_reference_timing_only_where_the_protocol_scores_it(protocol, guided, modes):
    assert profiling.profile_modes(protocols.get(protocol).paper, guided) == modes


def test_reference_mode_times_translate_with_a_style_image():
    model = ConvTranslator(_task("multi_domain"))
    values = profiling.profile_translator(
        model,
        _task("multi_domain"),
        batch_sizes=(1, 2),
        device="cpu",
        repeats=2,
        modes=("latent", "reference"),
    )
    refs = [s["reference"] for s in model.seen if s["reference"] is not None]
    assert refs and {tuple(r.shape) for r in refs} == {(1, 3, 16, 16), (2, 3, 16, 16)}
    by_variant: dict[str, set[str]] = {}
    for v in values:
        by_variant.setdefault(v.variant, set()).add(v.metric)
    timed = {"latency_ms", "throughput", "peak_memory_mb"}
    assert by_variant["bs=1,reference"] == by_variant["bs=2,reference"] == timed
    assert by_variant["bs=2"] == timed | {"kernels"}  # kernels and FLOPs: latent mode only
    ref = next(v for v in values if v.variant == "bs=2,reference" and v.metric == "latency_ms")
    assert ref.extra["mode"] == "reference" and ref.extra["batch_size"] == 2


def test_model_returns_to_its_mode():
    model = ConvTranslator(_task()).train()
    profiling.profile_translator(model, _task(), batch_sizes=(1,), device="cpu", repeats=1)
    assert model.training
    assert model.device.type == "cpu"


# --- the CUDA kernel table, from torch's own aggregation of a kineto-shaped event list ------
def _launches() -> dict:
    return json.loads(LAUNCHES.read_text())


def cuda_event_list(doc: dict) -> EventList:
    """The events a kineto CUDA profile of ``doc["steps"]`` calls yields, linked and
    aggregated by torch's own classes (built as ``_parse_kineto_results`` builds them).

    Per step: the "translate" range on the CPU thread and mirrored on the GPU stream (both
    user annotations); each launch's operator chain nested on the CPU, its innermost operator
    holding one runtime call per kernel and owning the kernels (``append_kernel``, as the
    correlation ids link them); the kernels back to back on the stream. One
    ``cudaDeviceSynchronize`` at the end waits for the stream.
    """
    events: list[FunctionEvent] = []

    def add(name, start, end, device=DeviceType.CPU, annotation=False, thread=1):
        evt = FunctionEvent(
            id=len(events) + 1,
            name=name,
            thread=thread,
            start_us=start,
            end_us=end,
            use_device="cuda",
            device_type=device,
            is_user_annotation=annotation,
            input_shapes=[],
            stack=[],
        )
        events.append(evt)
        return evt

    cpu = gpu = 0.0
    for _ in range(doc["steps"]):
        cpu_start, gpu_start = cpu, gpu = cpu + 5, max(gpu, cpu) + 20
        for launch in doc["launches"]:
            runtime = launch.get("runtime", "cudaLaunchKernel")
            for _ in range(launch["repeat"]):
                depth, n = len(launch["ops"]), len(launch["kernels"])
                span = 2 * depth + 6 * n + 4
                chain = [add(op, cpu + i, cpu + span - i) for i, op in enumerate(launch["ops"])]
                t = cpu + depth + 1
                for name, dur in launch["kernels"]:
                    add(runtime, t, t + 5)
                    kernel = add(name, gpu, gpu + dur, DeviceType.CUDA, thread=7)
                    chain[-1].append_kernel(name, 0, kernel.time_range.elapsed_us())
                    t, gpu = t + 6, gpu + dur
                cpu += span + 1
        add("translate", cpu_start - 1, cpu, annotation=True)
        add("translate", gpu_start, gpu, DeviceType.CUDA, annotation=True, thread=7)
    add("cudaDeviceSynchronize", cpu + 1, max(cpu, gpu) + 2)
    out = EventList(events, use_device="cuda")
    out._build_tree()  # what profile.events() does before key_averages()
    return out


def _expected_kernels(doc: dict) -> dict[str, tuple[float, int]]:
    """Per kernel name, (time per step, calls per step) summed straight from the launches."""
    totals: dict[str, tuple[float, int]] = {}
    for launch in doc["launches"]:
        for name, dur in launch["kernels"]:
            t, c = totals.get(name, (0.0, 0))
            totals[name] = (t + dur * launch["repeat"], c + launch["repeat"])
    return totals


@pytest.fixture(scope="module")
def cuda_rows():
    doc = _launches()
    return event_rows(cuda_event_list(doc).key_averages()), doc


def test_cuda_rows_have_the_fields_a_live_cpu_profile_has(cuda_rows):
    rows, _ = cuda_rows
    model = ConvTranslator(_task())
    fn = profiling.make_forward(model, _task(), 1, torch.device("cpu"), 1)
    live, kind = measure.profile_kernels(fn, torch.device("cpu"), steps=1)
    assert kind == "cpu"
    assert live and all(tuple(r) == ROW_FIELDS for r in live)
    assert {r["device_type"] for r in live} == {"DeviceType.CPU"}
    assert all(tuple(r) == ROW_FIELDS for r in rows)
    assert {r["device_type"] for r in rows} == {"DeviceType.CPU", "DeviceType.CUDA"}


def test_torch_counts_kernel_time_on_launching_operators_and_annotations_too(cuda_rows):
    """Why only some rows are kernels: summing device self time over every row counts each
    kernel three times (its own row, the operator that launched it, the GPU-side range)."""
    rows, doc = cuda_rows
    per_step = sum(t for t, _ in _expected_kernels(doc).values())
    naive = sum(r["self_device_time_total"] for r in rows) / doc["steps"]
    assert naive == pytest.approx(3 * per_step)
    conv = next(r for r in rows if r["key"] == "aten::cudnn_convolution")
    assert conv["device_type"] == "DeviceType.CPU" and conv["self_device_time_total"] > 0


def test_cuda_table_is_the_kernels_ranked_by_self_time_per_step(cuda_rows):
    rows, doc = cuda_rows
    steps = doc["steps"]
    expected = sorted(_expected_kernels(doc).items(), key=lambda kv: (-kv[1][0], kv[0]))
    assert len(expected) > 15  # the table is cut
    kernels = top_kernels(rows, "cuda", steps)
    assert [k["name"] for k in kernels] == [name for name, _ in expected[:15]]
    for got, (_, (time_us, calls)) in zip(kernels, expected, strict=False):
        assert got["self_time_us"] == pytest.approx(time_us)
        assert got["calls"] == calls and got["kind"] == "cuda"
    names = {k["name"] for k in kernels}
    assert not {n for n in names if n.startswith(("aten::", "cuda"))} and "translate" not in names
    assert kernels[0]["name"].startswith("sm90_xmma_fprop")


def test_cuda_total_matches_the_device_time_torch_gives_the_annotation(cuda_rows):
    rows, doc = cuda_rows
    steps = doc["steps"]
    per_step = sum(t for t, _ in _expected_kernels(doc).values())
    assert total_self_time_us(rows, "cuda", steps) == pytest.approx(per_step)
    host_range = next(
        r for r in rows if r["key"] == "translate" and r["device_type"].endswith("CPU")
    )
    assert host_range["device_time_total"] / steps == pytest.approx(per_step)


def test_fixture_passes_the_checks_a_live_cuda_profile_must_pass(cuda_rows):
    """tests/test_profiling_cuda.py runs the same checks on a real GPU profile: where both
    pass, the hand-laid fixture has the structure torch really produces."""
    rows, doc = cuda_rows
    total = check_cuda_table(rows, doc["steps"])
    assert total == pytest.approx(sum(t for t, _ in _expected_kernels(doc).values()))


def test_live_profile_checks_catch_a_kernel_left_out_or_an_operator_read_as_kernel(cuda_rows):
    rows, doc = cuda_rows
    kernel = top_kernels(rows, "cuda", doc["steps"])[0]["name"]
    without = [r for r in rows if r["key"] != kernel]
    with pytest.raises(AssertionError):
        check_cuda_table(without, doc["steps"])
    conv = next(r for r in rows if r["key"] == "aten::cudnn_convolution")
    misread = [dict(r, device_type="DeviceType.CUDA") if r is conv else r for r in rows]
    with pytest.raises(AssertionError):
        check_cuda_table(misread, doc["steps"])


def test_cpu_reading_of_a_cuda_profile_ranks_host_operators(cuda_rows):
    rows, doc = cuda_rows
    host = top_kernels(rows, "cpu", doc["steps"])
    assert host[0]["name"] == "cudaDeviceSynchronize" and host[0]["kind"] == "cpu"
    assert host[1]["name"] == "cudaLaunchKernel"
    assert "translate" not in [k["name"] for k in host]
    with pytest.raises(ValueError, match="unknown kernel kind"):
        top_kernels(rows, "tpu")


def test_cuda_profile_without_kernels_fails_instead_of_reading_zero(monkeypatch, cuda_rows):
    rows = [r for r in cuda_rows[0] if r["device_type"].endswith("CPU")]
    monkeypatch.setattr(
        profiling, "profile_kernels", lambda fn, device, steps, trace_path: (rows, "cuda")
    )
    v = profiling._kernels_value(lambda: None, torch.device("cpu"), 8, {}, 2, None, None)
    assert (v.status, v.value, v.kind) == ("failed", None, "profile")
    assert "no cuda kernels" in v.reason


# --- CLI ----------------------------------------------------------------------------------
def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    profile_cli.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["profile", *argv])
    return args.func(args)


def test_cli_profiles_a_baseline_at_the_protocol_size_and_writes_one_json(tmp_path, capsys):
    rc = _run_cli(
        "--baseline", "identity", "--protocol", "afhq", "--preset", "smoke",
        "--batch-sizes", "1,2", "--device", "cpu", "--out", str(tmp_path),
        "--repeats", "2", "--warmup", "0",
    )  # fmt: skip
    assert rc == 0
    doc = json.loads((tmp_path / "afhq-identity-tiny-smoke.json").read_text())
    protocol = protocols.get("afhq").spec(
        image_size=32, max_inputs=6, max_outputs=3, preset="smoke"
    )
    assert doc["protocol_hash"] == protocol.hash
    assert doc["task"]["kind"] == "multi_domain" and doc["task"]["image_size"] == 32
    got = {(v["metric"], v["variant"]) for v in doc["values"]}
    assert {("latency_ms", "bs=1"), ("latency_ms", "bs=2"), ("kernels", "bs=2")} <= got
    trace = next(v for v in doc["values"] if v["metric"] == "kernels")["extra"]["trace"]
    assert trace == "traces/afhq-identity-tiny-smoke/trace-bs2.json.gz"
    assert (tmp_path / trace).is_file()
    assert "latency_ms" in capsys.readouterr().out


def test_cli_few_shot_passes_the_protocols_largest_shot_count(tmp_path, monkeypatch):
    seen = {}
    real = profiling.profile_translator

    def spy(model, task, **kw):
        seen.update(kind=task.kind, size=task.image_size, shots=kw["shots"])
        return real(model, task, **{**kw, "repeats": 1})

    monkeypatch.setattr(profile_cli, "profile_translator", spy)
    rc = _run_cli(
        "--baseline", "identity", "--protocol", "animal_faces", "--preset", "smoke",
        "--batch-sizes", "1", "--device", "cpu", "--out", str(tmp_path),
    )  # fmt: skip
    assert rc == 0
    assert seen == {
        "kind": "few_shot",
        "size": 32,
        "shots": max(protocols.get("animal_faces").paper.shots),
    }


@pytest.mark.parametrize(
    "protocol, baseline, kind, names",
    [
        ("edges2shoes", "pix2pix", "paired", ("edges", "shoes")),
        ("afhq", "cyclegan", "unpaired", ("cat", "dog")),  # pairwise: the first pair's model
        ("afhq", "stargan_v2", "multi_domain", ("cat", "dog", "wild")),
        ("animal_faces", "funit", "few_shot", None),  # None: the protocol's target classes
    ],
)
def test_cli_builds_the_spec_the_runner_would_without_the_data(protocol, baseline, kind, names):
    spec, task = profile_cli.cli_task(protocol, presets.get("smoke"), baseline)
    names = names or spec.domains
    assert task == TaskSpec(kind, 32, num_domains=len(names), domain_names=names)


@pytest.mark.parametrize("bad", ["0,8", "a", "", "1,-2"])
def test_cli_rejects_bad_batch_sizes(bad):
    with pytest.raises(UserError, match="--batch-sizes"):
        profile_cli.parse_batch_sizes(bad)


def test_cli_rejects_a_baseline_that_cannot_run_the_protocol(tmp_path):
    with pytest.raises(UserError, match="cannot run multi_domain"):
        _run_cli("--baseline", "ground_truth", "--protocol", "afhq", "--out", str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_cli_refuses_oracles_that_need_the_dataset(tmp_path):
    with pytest.raises(UserError, match="indexes the dataset"):
        _run_cli("--baseline", "random_real", "--protocol", "afhq", "--out", str(tmp_path))


def test_out_of_memory_at_one_batch_size_fails_only_that_size(monkeypatch):
    def time_calls(fn, device, repeats, warmup):
        if fn().shape[0] == 4:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return [1.0]

    monkeypatch.setattr(profiling, "time_calls", time_calls)
    values = profiling.profile_translator(
        ConvTranslator(_task()), _task(), batch_sizes=(1, 4), device="cpu", repeats=1
    )
    v = _by_key(values)
    assert [x.status for x in values if x.variant == "bs=4"] == ["failed"] * 3
    assert {x.kind for x in values} == {"profile"}
    assert "out of memory at batch size 4" in v["latency_ms", "bs=4"].reason
    assert v["latency_ms", "bs=1"].status == "ok"
    assert ("kernels", "bs=1") in v  # the kernel table falls back to the largest size that ran


def test_text_summary_labels_what_the_kernel_table_holds(cpu_profile):
    _, _, values = cpu_profile
    text = profile_cli.format_values(values).splitlines()
    assert text[0] == (
        f"device: {describe(torch.device('cpu'))} "
        f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})"
    )
    header = next(i for i, line in enumerate(text) if line.startswith("kernels"))
    assert "top" in text[header + 1] and "CPU operators (no CUDA device)" in text[header + 1]
    assert "aten::" in text[header + 2]
