"""FID, KID, IS and precision/recall, computed by torch-fidelity's own functions on features.

We extract features once per image set (benchmark.features) and hand them to torch-fidelity's
``fid_featuresdict_to_statistics`` / ``fid_statistics_to_metric``, ``kid_featuresdict_to_metric``,
``isc_featuresdict_to_metric`` and ``prc_featuresdict_to_metric``, so the formulas are the
library's and the numbers equal ``torch_fidelity.calculate_metrics`` on the same images.
torch-fidelity's convention: input 1 is generated, input 2 is real.

Two shortcuts keep the library's numbers (to rounding) where its direct route is slow:
FID's trace term with fewer images than feature dimensions (per-class mFID, small sets) and KID's
subset kernels (computed once for the whole sets, then sliced per subset).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kernel_poly, kid_featuresdict_to_metric, mmd2
from torch_fidelity.metric_prc import prc_featuresdict_to_metric

from benchmark.features import INCEPTION_TORCHVISION, Extractor
from benchmark.metrics import (
    Metric,
    MetricContext,
    Value,
    family,
    not_ok,
    over_tasks,
    per_extractor,
    target_columns,
)
from benchmark.samples import TaskSamples

KID_SUBSET_MAX = 1000  # torch-fidelity's default kid_subset_size
KID_SUBSETS = 100  # torch-fidelity's default kid_subsets
KID_SEED = 2020  # torch-fidelity's default rng_seed
# entries of the three whole-set kernel matrices (float32) above which KID runs the library's
# per-subset loop instead: 3 x 4096^2 is ~200 MB
KID_WHOLE_KERNEL_MAX = 3 * 4096**2
PRC_NEIGHBORHOOD = 3  # torch-fidelity's default prc_neighborhood


class TooFew(ValueError):
    """A set too small for a metric; recorded as a failed value with this message."""


def fid(fake: torch.Tensor, real: torch.Tensor) -> float:
    if len(fake) < 2 or len(real) < 2:
        raise TooFew(f"FID needs at least 2 images per set (fake {len(fake)}, real {len(real)})")
    if min(len(fake), len(real)) < fake.shape[1]:
        return fid_low_rank(fake.double().numpy(), real.double().numpy())
    s1 = fid_featuresdict_to_statistics({"f": fake.double()}, "f")
    s2 = fid_featuresdict_to_statistics({"f": real.double()}, "f")
    return fid_statistics_to_metric(s1, s2, False)["frechet_inception_distance"]


def fid_stargan_v2(fake: torch.Tensor, real: torch.Tensor) -> float:
    """FID as StarGAN v2's metrics/fid.py computes it (L56-60, L72-77): numpy's mean of the
    float32 activations (kept in float32), ``np.cov`` (float64), ``scipy.linalg.sqrtm`` of
    Sigma_real Sigma_fake, real first, real part of the sum. Its ``disp=False`` only asked for
    an error estimate too (deprecated in SciPy 1.17); the square root is the same call."""
    if len(fake) < 2 or len(real) < 2:
        raise TooFew(f"FID needs at least 2 images per set (fake {len(fake)}, real {len(real)})")
    acts = [real.float().cpu().numpy(), fake.float().cpu().numpy()]
    mu = [np.mean(a, axis=0) for a in acts]
    cov = [np.cov(a, rowvar=False) for a in acts]
    covmean = scipy.linalg.sqrtm(np.dot(cov[0], cov[1]))
    dist = np.sum((mu[0] - mu[1]) ** 2) + np.trace(cov[0] + cov[1] - 2 * covmean)
    return float(np.real(dist))


# the FID of a protocol's StarGAN v2 column (``fid_formula`` param): the authors' own formula
# for their own network; every other column uses torch-fidelity's
FID_FORMULAS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "torch-fidelity": fid,
    "stargan-v2": fid_stargan_v2,
}


def fid_formula(ctx: MetricContext, ex: Extractor) -> str:
    wanted = ctx.protocol.param("fid_formula", "torch-fidelity")
    if wanted not in FID_FORMULAS:
        raise ValueError(f"unknown fid_formula {wanted!r}; use one of {tuple(FID_FORMULAS)}")
    return wanted if ex.id == INCEPTION_TORCHVISION else "torch-fidelity"


def fid_low_rank(x1: np.ndarray, x2: np.ndarray) -> float:
    """FID from feature rows when a set has fewer rows than dimensions (Sigma is rank-deficient).

    With A, B the centred rows over sqrt(n - 1) (Sigma1 = A'A, Sigma2 = B'B, np.cov's
    normalisation), Sigma1 Sigma2 has the nonzero eigenvalues of (AB')(AB')', so
    tr sqrt(Sigma1 Sigma2) is the sum of the singular values of the n1 x n2 matrix AB'. The
    library takes eigvals of the non-symmetric d x d product instead (seconds at d = 2048, per
    call; mFID calls it per class) and adds the square roots of its ~d rounding-noise eigenvalues,
    so the two agree to ~1e-7 relative and this one gives exactly 0 for identical sets.
    """
    a = (x1 - x1.mean(axis=0)) / math.sqrt(len(x1) - 1)
    b = (x2 - x2.mean(axis=0)) / math.sqrt(len(x2) - 1)
    diff = x1.mean(axis=0) - x2.mean(axis=0)
    tr_covmean = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * tr_covmean)


def kid(
    fake: torch.Tensor, real: torch.Tensor, subsets: int = KID_SUBSETS, seed: int = KID_SEED
) -> tuple[float, float, int]:
    """KID mean, std and the subset size used: min(1000, n_fake, n_real), so small sets work."""
    m = min(KID_SUBSET_MAX, len(fake), len(real))
    if m < 2:
        raise TooFew(f"KID needs at least 2 images per set (fake {len(fake)}, real {len(real)})")
    n1, n2 = len(fake), len(real)
    if n1 * n1 + n2 * n2 + n1 * n2 > KID_WHOLE_KERNEL_MAX:
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
    mmds = kid_subset_mmds(fake.cpu().numpy(), real.cpu().numpy(), m, subsets, seed)
    return float(np.mean(mmds)), float(np.std(mmds)), m


def kid_subset_mmds(f1: np.ndarray, f2: np.ndarray, m: int, subsets: int, seed: int) -> np.ndarray:
    """torch-fidelity's ``kid_features_to_metric`` loop (same subsets from the same RandomState
    draws, same polynomial kernel and unbiased ``mmd2``) with each kernel computed once for the
    whole sets and sliced per subset: 3 matrix products instead of 3 per subset."""
    k11, k22, k12 = kernel_poly(f1, f1), kernel_poly(f2, f2), kernel_poly(f1, f2)
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        i1 = rng.choice(len(f1), m, replace=False)
        i2 = rng.choice(len(f2), m, replace=False)
        mmds[i] = mmd2(k11[np.ix_(i1, i1)], k12[np.ix_(i1, i2)], k22[np.ix_(i2, i2)])
    return mmds


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


Scored = tuple[float, float | None, int | None]  # value, its std (KID), the parameter used


def _two_sample(
    ctx: MetricContext,
    group: list[TaskSamples],
    variant: str,
    metrics: tuple[str, ...],
    ex: Extractor,
    score: Callable[[torch.Tensor, torch.Tensor], tuple[Scored, ...]],
) -> list[Value]:
    """Real-vs-fake metrics per task (per class within a task for mFID), averaged. ``score``
    returns one ``Scored`` per metric, so metrics of one computation (PRC) share it."""
    layer = ex.layers["fid"]
    per_task = {m: {} for m in metrics}
    per_class = {m: {} for m in metrics}
    stds = {m: {} for m in metrics}
    params = {m: {} for m in metrics}
    n_real, n_fake = {}, {}
    for s in group:
        fake, real = _sets(ctx, ex, s)
        vals = {m: [] for m in metrics}
        for name, fi, ri in class_groups(ctx, s):
            try:
                scored = score(fake[layer][fi], real[layer][ri])
            except TooFew as exc:
                why = f"task {s.task}, {name}: {exc}"
                return [not_ok(m, "failed", why, variant=variant, extractor=ex.id) for m in metrics]
            for m, (v, std, used) in zip(metrics, scored, strict=True):
                vals[m].append(v)
                stds[m][f"{s.task}/{name}"], params[m][f"{s.task}/{name}"] = std, used
                if name != s.task:
                    per_class[m].setdefault(s.task, {})[name] = v
        for m in metrics:
            per_task[m][s.task] = sum(vals[m]) / len(vals[m])
        n_real[s.task], n_fake[s.task] = len(s.real_target), len(fake[layer])
    out = []
    for m in metrics:
        prov = {
            **ex.provenance(),
            "layer": layer,
            "n_real": n_real,
            "n_fake": n_fake,
            "reference_sets": {s.task: s.real_target_name for s in group},
        }
        if per_class[m]:
            prov["aggregate"] = "mean over target classes per task (mFID, FUNIT), then over tasks"
        extra = {"per_class": per_class[m]} if per_class[m] else {}
        used = sorted({u for u in params[m].values() if u is not None})
        if m == "kid":
            prov["kid_subset_size"] = used[0] if len(used) == 1 else params[m]
            prov["kid_subsets"] = KID_SUBSETS
        mv = over_tasks(m, per_task[m], variant, extractor=ex.id, provenance=prov, extra=extra)
        only = list(stds[m].values())
        if len(only) == 1 and only[0] is not None and mv.status == "ok":
            mv.std = only[0]
        out.append(mv)
    return out


@family("fid", (Metric("fid", False, "FID"),))
def fid_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    def run(ex: Extractor) -> list[Value]:
        formula = fid_formula(ctx, ex)

        def score(f: torch.Tensor, r: torch.Tensor) -> tuple[Scored]:
            return ((FID_FORMULAS[formula](f, r), None, None),)

        out = _two_sample(ctx, group, variant, ("fid",), ex, score)
        for mv in out:
            mv.provenance["fid_formula"] = formula
        return out

    return per_extractor(ctx, ["fid"], variant, run)


@family("kid", (Metric("kid", False, "KID"),))
def kid_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    return per_extractor(
        ctx,
        ["kid"],
        variant,
        lambda ex: _two_sample(ctx, group, variant, ("kid",), ex, lambda f, r: (kid(f, r),)),
    )


@family("prc", (Metric("prc_precision", True, "Precision"), Metric("prc_recall", True, "Recall")))
def prc_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    names = ("prc_precision", "prc_recall")

    def score(f: torch.Tensor, r: torch.Tensor) -> tuple[Scored, Scored]:
        precision, recall = prc(f, r)  # one computation for both numbers
        return (precision, None, None), (recall, None, None)

    def run(ex: Extractor) -> list[Value]:
        out = _two_sample(ctx, group, variant, names, ex, score)
        for mv in out:
            mv.provenance["prc_neighborhood"] = PRC_NEIGHBORHOOD
        return out

    return per_extractor(ctx, list(names), variant, run)


@family("is", (Metric("is", True, "IS"),))
def is_family(ctx: MetricContext, group: list[TaskSamples], variant: str):
    splits = int(ctx.protocol.param("isc_splits", 10))

    def run(ex: Extractor) -> list[Value]:
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
        # FUNIT's IS-test: the same over the target classes' logits only (see accuracy.py)
        cls = target_columns(ctx) if ex is ctx.protocol_extractor else []
        per_task, stds, used, restricted = {}, {}, {}, {}
        for s in group:
            logits = ctx.store.get(ex, s.flat_outputs(), "fake", f"{s.task} outputs")[layer]
            per_task[s.task], stds[s.task], used[s.task] = inception_score(logits, splits)
            if cls:
                restricted[s.task] = inception_score(logits[:, cls], splits)[0]
        prov = {
            **ex.provenance(),
            "layer": layer,
            "isc_splits": used,
            "n_fake": {s.task: s.num_inputs * s.outputs_per_input for s in group},
        }
        extra = {"target_classes_only": restricted} if restricted else {}
        mv = over_tasks("is", per_task, variant, extractor=ex.id, provenance=prov, extra=extra)
        if len(group) == 1 and mv.status == "ok":
            mv.std = stds[group[0].task]
        return [mv]

    return per_extractor(ctx, ["is"], variant, run)
