"""FID, KID, IS and precision/recall, computed by torch-fidelity's own functions on features.

We extract features once per image set (benchmark.features) and hand them to torch-fidelity's
``fid_featuresdict_to_statistics`` / ``fid_statistics_to_metric``, ``kid_featuresdict_to_metric``,
``isc_featuresdict_to_metric`` and ``prc_featuresdict_to_metric``, so the formulas are the
library's and the numbers equal ``torch_fidelity.calculate_metrics`` on the same images.
torch-fidelity's convention: input 1 is generated, input 2 is real.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric

from benchmark.features import Extractor
from benchmark.metrics import (
    MetricContext,
    MetricValue,
    family,
    not_ok,
    over_tasks,
    per_extractor,
)
from benchmark.samples import TaskSamples

KID_SUBSET_MAX = 1000  # torch-fidelity's default kid_subset_size
PRC_NEIGHBORHOOD = 3  # torch-fidelity's default prc_neighborhood


class TooFew(ValueError):
    """A set too small for a metric; recorded as a failed value with this message."""


def fid(fake: torch.Tensor, real: torch.Tensor) -> float:
    if len(fake) < 2 or len(real) < 2:
        raise TooFew(f"FID needs at least 2 images per set (fake {len(fake)}, real {len(real)})")
    s1 = fid_featuresdict_to_statistics({"f": fake.double()}, "f")
    s2 = fid_featuresdict_to_statistics({"f": real.double()}, "f")
    return fid_statistics_to_metric(s1, s2, False)["frechet_inception_distance"]


def kid(
    fake: torch.Tensor, real: torch.Tensor, subsets: int = 100, seed: int = 2020
) -> tuple[float, float, int]:
    """KID mean, std and the subset size used: min(1000, n_fake, n_real), so small sets work."""
    m = min(KID_SUBSET_MAX, len(fake), len(real))
    if m < 2:
        raise TooFew(f"KID needs at least 2 images per set (fake {len(fake)}, real {len(real)})")
    out = kid_featuresdict_to_metric(
        {"f": fake},
        {"f": real},
        "f",
        kid_subset_size=m,
        kid_subsets=subsets,
        rng_seed=seed,
        verbose=False,
    )
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"], m


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float, int]:
    splits = min(splits, len(logits))
    if splits < 1:
        raise TooFew("IS needs at least 1 image")
    out = isc_featuresdict_to_metric({"l": logits}, "l", isc_splits=splits, verbose=False)
    return out["inception_score_mean"], out["inception_score_std"], splits


def prc(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    if min(len(fake), len(real)) <= PRC_NEIGHBORHOOD:
        raise TooFew(
            f"precision/recall needs more than {PRC_NEIGHBORHOOD} images per set "
            f"(fake {len(fake)}, real {len(real)})"
        )
    out = prc_featuresdict_to_metric(
        {"f": fake}, {"f": real}, "f", prc_neighborhood=PRC_NEIGHBORHOOD, verbose=False
    )
    return out["precision"], out["recall"]


def class_groups(
    ctx: MetricContext, s: TaskSamples
) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, fake rows, real rows) to score: one per target class for mFID protocols (FUNIT),
    else the whole task. Rows index the flattened outputs and the real set."""
    k = s.outputs_per_input
    all_fake = torch.arange(s.num_inputs * k)
    all_real = torch.arange(len(s.real_target))
    labels = s.real_target_labels
    if not ctx.protocol.param("fid_per_class", False) or labels is None:
        return [(s.task, all_fake, all_real)]
    groups = []
    target = s.target_class.repeat_interleave(k)
    for c in sorted(set(s.target_class.tolist())):
        name = ctx.data.class_names[c] if ctx.data is not None else str(c)
        groups.append((name, all_fake[target == c], all_real[labels == c]))
    return groups


def _sets(ctx: MetricContext, ex: Extractor, s: TaskSamples):
    fake = ctx.store.get(ex, s.flat_outputs(), "fake", f"{s.task} outputs")
    real = ctx.store.get(ex, s.real_target, "real", s.real_target_name)
    return fake, real


def _two_sample(
    ctx: MetricContext, group: list[TaskSamples], variant: str, metric: str, ex: Extractor, score
) -> list[MetricValue]:
    """A real-vs-fake metric per task (per class within a task for mFID), averaged."""
    layer = ex.layers["fid"]
    per_task, per_class, stds, params = {}, {}, {}, {}
    n_real, n_fake = {}, {}
    for s in group:
        fake, real = _sets(ctx, ex, s)
        vals = []
        for name, fi, ri in class_groups(ctx, s):
            try:
                v, std, used = score(fake[layer][fi], real[layer][ri])
            except TooFew as exc:
                return [
                    not_ok(
                        metric,
                        "failed",
                        f"task {s.task}, {name}: {exc}",
                        variant=variant,
                        extractor=ex.id,
                    )
                ]
            vals.append(v)
            stds[f"{s.task}/{name}"], params[f"{s.task}/{name}"] = std, used
            if name != s.task:
                per_class.setdefault(s.task, {})[name] = v
        per_task[s.task] = sum(vals) / len(vals)
        n_real[s.task], n_fake[s.task] = len(s.real_target), len(fake[layer])
    prov = {
        **ex.provenance(),
        "layer": layer,
        "n_real": n_real,
        "n_fake": n_fake,
        "reference_sets": {s.task: s.real_target_name for s in group},
    }
    if per_class:
        prov["aggregate"] = "mean over target classes per task (mFID, FUNIT), then over tasks"
    extra = {"per_class": per_class} if per_class else {}
    used = sorted({u for u in params.values() if u is not None})
    if metric == "kid":
        prov["kid_subset_size"] = used[0] if len(used) == 1 else params
        prov["kid_subsets"] = 100
    mv = over_tasks(metric, per_task, variant, extractor=ex.id, provenance=prov, extra=extra)
    only = list(stds.values())
    if len(only) == 1 and only[0] is not None and mv.status == "ok":
        mv.std = only[0]
    return [mv]


@family("fid", ("fid",))
def fid_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    return per_extractor(
        ctx,
        ["fid"],
        variant,
        lambda ex: _two_sample(
            ctx, group, variant, "fid", ex, lambda f, r: (fid(f, r), None, None)
        ),
    )


@family("kid", ("kid",))
def kid_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    return per_extractor(
        ctx, ["kid"], variant, lambda ex: _two_sample(ctx, group, variant, "kid", ex, kid)
    )


@family("prc", ("prc_precision", "prc_recall"))
def prc_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    def run(ex: Extractor) -> list[MetricValue]:
        p = _two_sample(
            ctx, group, variant, "prc_precision", ex, lambda f, r: (prc(f, r)[0], None, None)
        )
        r = _two_sample(
            ctx, group, variant, "prc_recall", ex, lambda f, r: (prc(f, r)[1], None, None)
        )
        for mv in p + r:
            mv.provenance["prc_neighborhood"] = PRC_NEIGHBORHOOD
        return p + r

    return per_extractor(ctx, ["prc_precision", "prc_recall"], variant, run)


@family("is", ("is",))
def is_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    splits = int(ctx.protocol.param("isc_splits", 10))

    def run(ex: Extractor) -> list[MetricValue]:
        if (
            ctx.classifier is not None
            and ex is ctx.protocol_extractor
            and ctx.classifier.multi_label
        ):
            return [
                not_ok(
                    "is",
                    "skipped",
                    "IS needs a single-label classifier; this protocol's "
                    "classifier is multi-label (attributes)",
                    variant=variant,
                    extractor=ex.id,
                )
            ]
        layer = ex.layers["isc"]
        per_task, stds, used = {}, {}, {}
        for s in group:
            logits = ctx.store.get(ex, s.flat_outputs(), "fake", f"{s.task} outputs")[layer]
            per_task[s.task], stds[s.task], used[s.task] = inception_score(logits, splits)
        prov = {
            **ex.provenance(),
            "layer": layer,
            "isc_splits": used,
            "n_fake": {s.task: s.num_inputs * s.outputs_per_input for s in group},
        }
        mv = over_tasks("is", per_task, variant, extractor=ex.id, provenance=prov)
        if len(group) == 1 and mv.status == "ok":
            mv.std = stds[group[0].task]
        return [mv]

    return per_extractor(ctx, ["is"], variant, run)
