"""A realistic results folder written the way the runner writes it (records + sample PNGs).

Two protocols (one also with an older version), methods and oracles, 3 seeds, a failed cell,
a cell failing on one seed, FID under two feature extractors and two variants, LPIPS, and
profile records with a kernel table and a chrome trace. Values are fixed so tests know the
answer: stargan_v2 has the best FID on afhq, ground_truth (an oracle) beats every method on
edges2shoes but the best mark goes to pix2pix.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark import records
from benchmark.records import CELL, Record

SEEDS = (0, 1, 2)
AFHQ_HASH = "a1b2c3d4e5f6"
AFHQ_OLD_HASH = "0f0e0d0c0b0a"
E2S_HASH = "123456789abc"
EXT_COMPAT = "inception-v3-compat"
EXT_PROTO = f"protocol:afhq@{AFHQ_HASH}"
TRACE = "traces/afhq-a1b2c3d4e5f6/stargan_v2/seed0/trace-bs16.json.gz"

# baseline -> (metric, variant, extractor, direction) -> per-seed values
AFHQ = {
    "stargan_v2": {
        ("fid", "latent", EXT_COMPAT, "lower"): (16.0, 16.2, 16.4),
        ("fid", "latent", EXT_PROTO, "lower"): (3.1, 3.3, 3.2),
        ("fid", "reference", EXT_COMPAT, "lower"): (19.7, 19.8, 19.9),
        ("lpips", "latent", None, "higher"): (0.450, 0.451, 0.449),
        ("lpips", "reference", None, "higher"): (0.431, 0.432, 0.430),
    },
    "munit": {
        ("fid", "latent", EXT_COMPAT, "lower"): (41.0, 41.5, 42.0),
        ("fid", "latent", EXT_PROTO, "lower"): (9.0, 9.5, 9.9),
        ("fid", "reference", EXT_COMPAT, "lower"): (223.0, 224.0, 225.0),
        ("lpips", "latent", None, "higher"): (0.511, 0.512, 0.510),
        ("lpips", "reference", None, "higher"): (0.199, 0.198, 0.200),
    },
    "identity": {
        ("fid", "latent", EXT_COMPAT, "lower"): (80.0, 80.0, 80.0),
        ("fid", "latent", EXT_PROTO, "lower"): (30.0, 30.0, 30.0),
        ("lpips", "latent", None, "higher"): (0.0, 0.0, 0.0),
    },
}
DRIT_REASON = "diverged: generator loss is NaN at step 120"
E2S = {
    "pix2pix": {
        ("fid", "", EXT_COMPAT, "lower"): (60.0, 61.0, 62.0),
        ("lpips", "", None, "higher"): (0.01, 0.012, 0.011),
    },
    "bicyclegan": {  # seed 2 failed
        ("fid", "", EXT_COMPAT, "lower"): (64.0, 65.0),
        ("lpips", "", None, "higher"): (0.104, 0.106),
    },
    "ground_truth": {
        ("fid", "", EXT_COMPAT, "lower"): (5.0, 5.0, 5.0),
        ("lpips", "", None, "higher"): (0.0, 0.0, 0.0),
    },
}
BICYCLE_REASON = "out of memory at step 40"
KERNELS = [
    {"name": "volta_sgemm_128x64_nn", "self_time_us": 900.0, "calls": 12, "kind": "cuda"},
    {
        "name": "void at::native::elementwise_kernel<128, 2>",
        "self_time_us": 300.0,
        "calls": 40,
        "kind": "cuda",
    },
    {"name": "aten::convolution", "self_time_us": 150.0, "calls": 24, "kind": "cpu"},
    {"name": "aten::instance_norm", "self_time_us": 50.0, "calls": 16, "kind": "cpu"},
]


def _prov(protocol: str, phash: str, synthetic: bool, extractor: str | None, when: str) -> dict:
    prov = {
        "dataset": {"fingerprint": f"fp-{protocol}", "synthetic": synthetic, "root": "/data"},
        "samples": {"fake": 50, "real": 200},
        "code_revision": "abc123def456",
        "versions": {"torch": "2.14.1", "numpy": "2.4.6"},
        "device": "cpu x86_64 (2 cores, 2 torch threads)",
        "wall_time_s": 1.5,
        "written_at": when,
    }
    if extractor:
        prov["extractor"] = {"name": extractor, "weights_sha256": "9" * 64}
    if extractor and extractor.startswith("protocol:"):
        prov["instrument"] = "official"  # the protocol's pinned classifier file
    return prov


ORACLES = ("identity", "random_real", "ground_truth")


def _write_table(root: Path, protocol: str, phash: str, table: dict, when: str) -> None:
    for baseline, metrics in table.items():
        for (metric, variant, ext, direction), values in metrics.items():
            for seed, value in zip(SEEDS, values, strict=False):
                records.write(
                    root,
                    Record(
                        protocol=protocol,
                        protocol_hash=phash,
                        baseline=baseline,
                        seed=seed,
                        metric=metric,
                        value=value,
                        variant=variant,
                        extractor=ext,
                        direction=direction,
                        provenance=_prov(protocol, phash, True, ext, when),
                    ),
                )
        for seed in SEEDS:
            records.write(root, _cell(protocol, phash, baseline, seed, "ok", None, when))


def _cell(
    protocol: str, phash: str, baseline: str, seed: int, status: str, reason: str | None, when: str
) -> Record:
    return Record(
        protocol=protocol,
        protocol_hash=phash,
        baseline=baseline,
        seed=seed,
        metric=CELL,
        status=status,
        reason=reason,
        # the runner writes whether a baseline is an oracle into its records
        provenance=_prov(protocol, phash, True, None, when) | {"oracle": baseline in ORACLES},
        extra={"losses": {"G": 1.0}, "train_steps": 100},
    )


def _profile(root: Path, when: str) -> None:
    for seed in SEEDS:
        for bs, lat in ((1, 12.0), (4, 30.0), (16, 100.0)):
            lat_s = lat + seed * 0.5
            extra = {"p10": lat_s * 0.9, "p90": lat_s * 1.2}
            for metric, value, direction in (
                ("latency_ms", lat_s, "lower"),
                ("throughput", bs * 1000.0 / lat_s, "higher"),
            ):
                records.write(
                    root,
                    Record(
                        protocol="afhq",
                        protocol_hash=AFHQ_HASH,
                        baseline="stargan_v2",
                        seed=seed,
                        metric=metric,
                        variant=f"bs={bs}",
                        value=value,
                        direction=direction,
                        provenance=_prov("afhq", AFHQ_HASH, True, None, when),
                        extra=extra if metric == "latency_ms" else {},
                    ),
                )
        for metric, value in (("peak_memory_mb", 812.0), ("params", 5.3e7), ("flops", 9.9e10)):
            records.write(
                root,
                Record(
                    protocol="afhq",
                    protocol_hash=AFHQ_HASH,
                    baseline="stargan_v2",
                    seed=seed,
                    metric=metric,
                    value=value,
                    provenance=_prov("afhq", AFHQ_HASH, True, None, when),
                ),
            )
        # the profiler's kernel table: a record of its own at the largest batch size
        records.write(
            root,
            Record(
                protocol="afhq",
                protocol_hash=AFHQ_HASH,
                baseline="stargan_v2",
                seed=seed,
                metric="kernels",
                variant="bs=16",
                value=1.4,
                provenance=_prov("afhq", AFHQ_HASH, True, None, when),
                extra={
                    "batch_size": 16,
                    "kind": "cuda",
                    "kernels": KERNELS,
                    "trace": TRACE.replace("seed0", f"seed{seed}"),
                },
            ),
        )
    trace = root / TRACE
    trace.parent.mkdir(parents=True, exist_ok=True)
    trace.write_bytes(gzip.compress(b'{"traceEvents": []}'))  # seeds 1, 2: trace file missing


def _png(path: Path, rgb: tuple[int, int, int], size: int, noise: int) -> None:
    rng = np.random.default_rng(noise)
    arr = np.clip(np.array(rgb)[None, None, :] + rng.integers(-30, 30, (size, size, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def _samples(
    root: Path,
    slug: str,
    baseline: str,
    task_mode: str,
    outs: int,
    refs: int,
    target: bool,
    size: int = 32,
) -> None:
    for seed in SEEDS:
        for i in range(2):
            d = root / "samples" / slug / baseline / f"seed{seed}" / task_mode / f"{i:04d}"
            _png(d / "input.png", (40, 40, 200), size, i)
            for k in range(outs):
                _png(d / f"out_{k:02d}.png", (200, 60 + 40 * k, 40), size, 100 + k + 10 * i)
            for k in range(refs):
                _png(d / f"ref_{k:02d}.png", (60, 180, 60), size, 200 + k)
            if target:
                _png(d / "target.png", (220, 220, 220), size, 300 + i)


def make_results(root: Path) -> Path:
    """Write the fixture results folder under ``root`` and return it."""
    new, old = "2026-05-02T10:00:00Z", "2026-04-01T10:00:00Z"
    _write_table(root, "afhq", AFHQ_HASH, AFHQ, new)
    for seed in SEEDS:
        records.write(root, _cell("afhq", AFHQ_HASH, "drit", seed, "failed", DRIT_REASON, new))
    _write_table(
        root,
        "afhq",
        AFHQ_OLD_HASH,
        {"munit": {("fid", "latent", EXT_COMPAT, "lower"): (50.0, 51.0, 52.0)}},
        old,
    )
    _write_table(root, "edges2shoes", E2S_HASH, E2S, new)
    records.write(
        root, _cell("edges2shoes", E2S_HASH, "bicyclegan", 2, "failed", BICYCLE_REASON, new)
    )
    _profile(root, new)
    afhq = f"afhq-{AFHQ_HASH}"
    for b in ("stargan_v2", "munit"):
        _samples(root, afhq, b, "cat2dog--latent", outs=3, refs=0, target=False)
        _samples(root, afhq, b, "cat2dog--reference", outs=3, refs=1, target=False)
    e2s = f"edges2shoes-{E2S_HASH}"
    for b in ("pix2pix", "bicyclegan", "ground_truth"):
        _samples(root, e2s, b, "edges2shoes--latent", outs=2, refs=0, target=True)
    return root


# --- the default offline run: one seed, standard weights missing -------------------------------

OFF_HASH = "1f0a351a9b6c"
OFF_EXT = "protocol:afhq@845d5b41e828"
INCEPTION_REASON = (
    "Inception (FID, torch-fidelity) weights missing: put weights-inception-2015-12-05-"
    "6726825d.pth in /root/.cache/torch/hub/checkpoints/ (or pass --weights-dir DIR holding it)"
)
TV_REASON = "torchvision Inception-v3 weights missing: put inception_v3_google-0cc3c7bd.pth in X"
ALEX_REASON = (
    "AlexNet (LPIPS trunk, torchvision) weights missing: put alexnet-owt-7be5be79.pth in X"
)
PROFILE_REASON = "ValueError: ground_truth oracle got an input that is not in the dataset"
SKIP = None  # a skipped record (its reason from OFFLINE_SKIPS)
# (metric, variant, extractor, direction) -> per baseline: a value or SKIP
OFFLINE = {
    ("fid", "latent", OFF_EXT, "lower"): {
        "cyclegan": 11.58,
        "munit": 14.33,
        "stargan_v2": 28.04,
        "identity": 19.76,
    },
    ("cis", "latent", OFF_EXT, "higher"): {  # deterministic methods: 0 up to float noise
        "cyclegan": -2.671e-18,
        "munit": 0.04513,
        "stargan_v2": 1.054e-05,
        "identity": 2.168e-19,
    },
    ("feature_diversity", "latent", OFF_EXT, "higher"): {  # every method tied: no best
        "cyclegan": 0.0,
        "munit": 0.0,
        "stargan_v2": 0.0,
        "identity": 0.0,
    },
    ("lpips_diversity", "latent", None, "higher"): {  # 0 by definition, else LPIPS is needed
        "cyclegan": 0.0,
        "munit": SKIP,
        "stargan_v2": SKIP,
        "identity": 0.0,
    },
    ("fid", "latent", EXT_COMPAT, "lower"): dict.fromkeys(
        ("cyclegan", "munit", "stargan_v2", "identity"), SKIP
    ),
    ("kid", "latent", EXT_COMPAT, "lower"): dict.fromkeys(
        ("cyclegan", "munit", "stargan_v2", "identity"), SKIP
    ),
    ("is", "latent", "inception-v3-torchvision", "higher"): dict.fromkeys(
        ("cyclegan", "munit", "stargan_v2", "identity"), SKIP
    ),
    ("lpips_paired", "", None, "lower"): dict.fromkeys(
        ("cyclegan", "munit", "stargan_v2", "identity"), SKIP
    ),
}
OFFLINE_SKIPS = {
    "lpips_diversity": ALEX_REASON,
    "lpips_paired": ALEX_REASON,
    EXT_COMPAT: INCEPTION_REASON,
    "inception-v3-torchvision": TV_REASON,
}
CLASSIFIER = {"top1": 0.95, "top5": 1.0}


def make_offline_results(root: Path) -> Path:
    """What the default offline run writes: one seed; the Inception and AlexNet weights missing
    (whole columns skipped, LPIPS diversity skipped except where it is 0 by definition); CIS
    of deterministic methods at float noise around 0; the protocol classifier's held-out accuracy
    under its pseudo-baseline; an oracle whose cell failed after its metrics were written."""
    when = "2026-11-22T02:32:39Z"
    for (metric, variant, ext, direction), per_baseline in OFFLINE.items():
        for baseline, value in per_baseline.items():
            skipped = value is SKIP
            records.write(
                root,
                Record(
                    protocol="afhq",
                    protocol_hash=OFF_HASH,
                    baseline=baseline,
                    seed=0,
                    metric=metric,
                    value=None if skipped else value,
                    variant=variant,
                    extractor=ext,
                    direction=direction,
                    status="skipped" if skipped else "ok",
                    reason=OFFLINE_SKIPS.get(ext or metric) if skipped else None,
                    provenance=_prov("afhq", OFF_HASH, True, ext, when),
                ),
            )
    for baseline in ("cyclegan", "munit", "stargan_v2"):
        records.write(root, _cell("afhq", OFF_HASH, baseline, 0, "ok", None, when))
        records.write(
            root,
            Record(
                protocol="afhq",
                protocol_hash=OFF_HASH,
                baseline=baseline,
                seed=0,
                metric="latency_ms",
                variant="bs=1",
                value=1.5,
                provenance=_prov("afhq", OFF_HASH, True, None, when),
            ),
        )
    records.write(root, _cell("afhq", OFF_HASH, "identity", 0, "failed", PROFILE_REASON, when))
    for variant, acc in CLASSIFIER.items():
        prov = _prov("afhq", OFF_HASH, True, OFF_EXT, when) | {"steps": 200, "batch": 32}
        records.write(
            root,
            Record(
                protocol="afhq",
                protocol_hash=OFF_HASH,
                baseline="protocol_classifier",
                seed=0,
                metric="classifier_accuracy",
                value=acc,
                variant=variant,
                extractor=OFF_EXT,
                direction="higher",
                provenance=prov,
                extra={"per_class": {"cat": 1.0, "dog": 0.9, "wild": 0.95}, "pose_mae": 0.0749},
            ),
        )
    return root
