"""The metrics engine: a registry of metric families, ``prepare`` once per protocol and
``evaluate`` once per (baseline, seed).

A family (``fid``, ``kid``, ``is``, ``cis``, ``prc``, ``lpips_diversity``, ``accuracy``,
``paired``, ``content``) is a function registered by name that turns a group of
``TaskSamples`` (one synthesis mode; one K for few-shot) into ``Value``s. Families never run
a network themselves: they ask ``ctx.store`` for features, which runs each extractor at most once
per image set, so one pass serves every metric. Values averaged over tasks are the headline and
the per-task numbers go in ``extra["per_task"]`` (StarGAN v2 reports FID as the task mean).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmark import device as devices
from benchmark.classifier import ProtocolClassifier
from benchmark.errors import UserError
from benchmark.features import (
    INCEPTION_COMPAT,
    Extractor,
    FeatureStore,
    WeightsMissing,
    build_standard,
)
from benchmark.plan import kind_of, variant_of
from benchmark.registry import Registry, import_modules
from benchmark.samples import TaskSamples
from benchmark.values import Value
from protocols.base import Protocol, ProtocolData

log = logging.getLogger("benchmark")


@dataclass(frozen=True)
class Metric:
    """What a number is, declared where its family is defined: the name records use, which
    way is better, the label a table shows, and the version of its definition (raised when a
    change would move its numbers; every record carries it)."""

    name: str
    higher_is_better: bool
    label: str
    version: int = 1

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


METRICS: dict[str, Metric] = {}  # every declared metric by name


def declare(*metrics: Metric) -> tuple[Metric, ...]:
    """Add metrics to ``METRICS``; a name declared twice differently is refused (two families
    must never record different quantities under one name)."""
    for m in metrics:
        have = METRICS.setdefault(m.name, m)
        if have != m:
            raise ValueError(f"metric {m.name!r} declared twice differently: {have} and {m}")
    return metrics


# the protocol classifier's own held-out accuracy (no family: ``classifier_report``)
CLASSIFIER_ACCURACY = declare(Metric("classifier_accuracy", True, "Classifier acc."))[0]


@dataclass
class Family:
    name: str
    metrics: tuple[str, ...]  # the metric names it produces (for failures and docs)
    fn: Callable[[MetricContext, list[TaskSamples], str], list[Value]]


def _builtins() -> None:
    import_modules("benchmark.metrics", skip=("cli",))


# metric families by name (entry-point group ``i2i_bench.metrics``, benchmark.registry)
REGISTRY: Registry[Family] = Registry("metric family", "i2i_bench.metrics", _builtins)


def family(name: str, metrics: tuple[Metric, ...]):
    """Register a family under ``name``, declaring every metric it produces."""

    def deco(fn):
        declare(*metrics)
        REGISTRY.add(name, Family(name, tuple(m.name for m in metrics), fn))
        return fn

    return deco


def families() -> dict[str, Family]:
    """Every metric family by name (the built-in modules imported on first use)."""
    return REGISTRY.items()


def value(metric: str, v: float | None, **kw: Any) -> Value:
    """A value of a declared metric: its direction, and its label and version in provenance."""
    m = METRICS[metric]
    prov = {**kw.pop("provenance", {}), "metric_label": m.label, "metric_version": m.version}
    return Value(metric, v, direction=m.direction, provenance=prov, **kw)


def not_ok(metric: str, status: str, reason: str, **kw: Any) -> Value:
    return value(metric, None, status=status, reason=reason, **kw)


def over_tasks(metric: str, per_task: dict[str, float], variant: str, **kw: Any) -> Value:
    """The task mean as headline; every task's own number in ``extra['per_task']``."""
    vals = list(per_task.values())
    bad = [t for t, v in per_task.items() if v is None or not math.isfinite(v)]
    extra = kw.pop("extra", {})
    if len(per_task) > 1:
        extra = {**extra, "per_task": per_task}
    if bad:
        return not_ok(
            metric,
            "failed",
            f"non-finite value on task(s) {', '.join(bad)}",
            variant=variant,
            extra=extra,
            **kw,
        )
    return value(metric, sum(vals) / len(vals), variant=variant, extra=extra, **kw)


@dataclass
class MetricContext:
    """Everything metrics share over one protocol: classifier, extractors, caches, weights."""

    protocol: Protocol
    data: ProtocolData | None
    device: torch.device
    cache_dir: Path
    weights_dir: Path | None
    seed: int
    classifier: ProtocolClassifier | None
    extractors: list[Extractor]  # the protocol classifier first, then the standard ones
    missing: dict[str, str]  # extractor id -> why it is not available (weights missing)
    store: FeatureStore
    _lpips: Any = None
    _lpips_reason: str | None = None

    @property
    def protocol_extractor(self) -> Extractor | None:
        return self.extractors[0] if self.classifier is not None else None

    def lpips(self) -> tuple[Any, str | None]:
        """The LPIPS AlexNet model (built once; version from the protocol's ``lpips_version``,
        default 0.1), or None and why it is unavailable."""
        if self._lpips is None and self._lpips_reason is None:
            from benchmark.metrics.lpips_div import build_lpips

            version = self.protocol.param("lpips_version", "0.1")
            try:
                self._lpips = build_lpips(self.weights_dir, self.device, version)
            except WeightsMissing as exc:
                self._lpips_reason = str(exc)
        return self._lpips, self._lpips_reason

    def classifier_report(self) -> list[Value]:
        """The protocol classifier's own accuracy on held-out real images (leaderboard row)."""
        if self.classifier is None:
            return []
        rep = self.classifier.report
        extra = {
            k: v
            for k, v in rep.items()
            if k in ("per_class", "per_attribute", "pose_mae", "shape_accuracy")
        }
        prov = {k: v for k, v in rep.items() if k not in extra}
        prov.update(self.protocol_extractor.provenance())
        out = [
            value(
                "classifier_accuracy",
                rep["accuracy"],
                variant="top1",
                extractor=self.classifier.id,
                provenance=prov,
                extra=extra,
            )
        ]
        if "accuracy_top5" in rep:
            out.append(
                value(
                    "classifier_accuracy",
                    rep["accuracy_top5"],
                    variant="top5",
                    extractor=self.classifier.id,
                    provenance=prov,
                )
            )
        return out


def prepare(
    protocol: Protocol,
    data: ProtocolData,
    device: torch.device,
    cache_dir: Path,
    weights_dir: Path | None = None,
    seed: int = 0,
    *,
    classifier: ProtocolClassifier,
) -> MetricContext:
    """Once per protocol: the protocol classifier (a frozen instrument, found by the caller:
    benchmark.instruments) as first extractor, then the standard ones whose weights exist."""
    device = devices.resolve(device)
    known = families()
    unknown = [m for m in protocol.metrics if m not in known]
    if unknown:
        raise UserError(
            f"protocol {protocol.name} asks for unknown metric families {unknown}; "
            f"known: {', '.join(known)}"
        )
    clf = classifier
    extractors = [clf.extractor(device)]
    missing: dict[str, str] = {}
    for ex_id in protocol.param("extractors", (INCEPTION_COMPAT,)):
        try:
            extractors.append(build_standard(ex_id, weights_dir, device))
        except WeightsMissing as exc:
            missing[ex_id] = str(exc)
            log.info(f"metrics with {ex_id} will be skipped: {exc}")
    return MetricContext(
        protocol,
        data,
        device,
        Path(cache_dir),
        weights_dir,
        seed,
        clf,
        extractors,
        missing,
        FeatureStore(Path(cache_dir)),
    )


def target_columns(ctx: MetricContext) -> list[int]:
    """Few-shot: the protocol classifier's output columns of the target (unseen) classes, for
    FUNIT's "test" numbers (top-k and IS over the target classes only); empty otherwise."""
    if not kind_of(ctx.protocol.kind).unseen_targets or ctx.data is None:
        return []
    names = ctx.data.class_names
    return [names.index(d) for d in ctx.protocol.domains if d in names]


def problems(s: TaskSamples) -> str | None:
    """Why these samples cannot be scored (shape errors, a diverged generator), or None."""
    o = s.outputs
    if o.ndim != 5 or o.shape[0] == 0 or o.shape[1] == 0:
        return f"task {s.task}: outputs must be (N, K, 3, S, S) with N, K > 0, got {tuple(o.shape)}"
    if o.shape[2] != 3:
        return f"task {s.task}: outputs have {o.shape[2]} channels, expected 3 (RGB)"
    n_in = s.inputs.shape[0] if s.input_index is None else len(s.input_index)
    if n_in != o.shape[0] or len(s.target_class) != o.shape[0]:
        return (
            f"task {s.task}: {o.shape[0]} output groups but {n_in} inputs and "
            f"{len(s.target_class)} targets"
        )
    finite = torch.isfinite(o.reshape(-1, o[0, 0].numel())).all(dim=1)
    if not bool(finite.all()):
        return (
            f"task {s.task}: {int((~finite).sum())} of {len(finite)} output images contain "
            "NaN/Inf (diverged generator?)"
        )
    return None


def evaluate(samples: list[TaskSamples], ctx: MetricContext) -> list[Value]:
    """Every metric in ``ctx.protocol.metrics`` over one baseline's samples (one seed)."""
    ctx.store.clear()  # fakes of the previous baseline are never reused; reals are on disk
    groups: dict[str, list[TaskSamples]] = {}
    for s in samples:
        groups.setdefault(variant_of(ctx.protocol, s), []).append(s)
    out: list[Value] = []
    for variant, group in groups.items():
        why = next((p for p in map(problems, group) if p), None)
        for name in ctx.protocol.metrics:
            fam = families()[name]
            if why:
                out += [not_ok(m, "failed", why, variant=variant) for m in fam.metrics]
                continue
            out += _run_family(fam, ctx, group, variant)
    return out


def _run_family(
    fam: Family, ctx: MetricContext, group: list[TaskSamples], variant: str
) -> list[Value]:
    """A family that raises fails alone (recorded with its reason); the others still run."""
    try:
        return fam.fn(ctx, group, variant)
    except UserError:
        raise
    except Exception as exc:  # a numerical or shape failure of one metric, not of the grid
        log.debug("metric family %s failed", fam.name, exc_info=True)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return [not_ok(m, "failed", reason, variant=variant) for m in fam.metrics]


def per_extractor(
    ctx: MetricContext,
    metrics: Iterable[str],
    variant: str,
    fn: Callable[[Extractor], list[Value]],
) -> list[Value]:
    """Run ``fn`` for every available extractor; a skipped value for each missing one."""
    out: list[Value] = []
    for ex in ctx.extractors:
        out += fn(ex)
    for ex_id, reason in ctx.missing.items():
        out += [not_ok(m, "skipped", reason, variant=variant, extractor=ex_id) for m in metrics]
    return out


__all__ = ["Metric", "MetricContext", "Value", "evaluate", "families", "family", "prepare"]
