"""Content preservation: does the output keep what the input showed?

``content`` (every protocol): a DIPD-like distance (FUNIT, after MUNIT's compute_vgg_loss) in the
protocol classifier's trunk: the penultimate conv stage's maps of input and output, each
instance-normalised (per-channel mean and variance removed, as InstanceNorm2d(affine=False)),
then the RMS of their difference. ``content_pose`` (synthetic twins): the classifier's pose
head reads the shape's centre and size from the output, compared with the input's known
content factors (mean absolute error in image-width units); the head's own error on real
held-out images is its floor, recorded in the provenance.
"""

from __future__ import annotations

import torch

from benchmark.classifier import POSE_KEYS, SHAPES
from benchmark.metrics import Metric, MetricContext, family, not_ok, over_tasks


def instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)


def dipd(inp: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per pair RMS distance of instance-normalised feature maps."""
    return ((instance_norm(inp) - instance_norm(out)) ** 2).flatten(1).mean(dim=1).sqrt()


def pose_targets(factors: list[dict]) -> torch.Tensor | None:
    rows = []
    for f in factors:
        c = f.get("content", f) if isinstance(f, dict) else None
        if not c or any(k not in c for k in POSE_KEYS) or c.get("shape") not in SHAPES:
            return None
        rows.append([float(c[k]) for k in POSE_KEYS] + [SHAPES.index(c["shape"])])
    return torch.tensor(rows, dtype=torch.float32)


@family(
    "content",
    (Metric("content", False, "Content (DIPD-like)"), Metric("content_pose", False, "Pose error")),
)
def content_family(ctx: MetricContext, group, variant: str):
    ex = ctx.protocol_extractor
    if ex is None:
        return [not_ok("content", "skipped", "no protocol classifier", variant=variant)]
    per_task, per_pose, shape_acc = {}, {}, {}
    for s in group:
        k = s.outputs_per_input
        fake = ctx.store.get(ex, s.flat_outputs(), "fake", f"{s.task} outputs")
        inp = s.expand_inputs(ctx.store.get(ex, s.inputs, "input", f"{s.task} inputs")["content"])
        per_task[s.task] = float(dipd(inp.repeat_interleave(k, dim=0), fake["content"]).mean())
        target = pose_targets(s.input_factors) if s.input_factors else None
        if target is not None and "pose" in fake:
            target = target.repeat_interleave(k, dim=0)
            pred = fake["pose"]
            n = len(POSE_KEYS)
            per_pose[s.task] = float((pred[:, :n] - target[:, :n]).abs().mean())
            shape_acc[s.task] = float((pred[:, n:].argmax(1) == target[:, n].long()).float().mean())
    prov = {
        **ex.provenance(),
        "layer": "content (penultimate conv stage)",
        "distance": "RMS of instance-normalised maps",
    }
    out = [over_tasks("content", per_task, variant, extractor=ex.id, provenance=prov)]
    if per_pose and len(per_pose) == len(group):
        rep = ctx.classifier.report
        prov_pose = {
            **ex.provenance(),
            "factors": list(POSE_KEYS),
            "floor_heldout_mae": rep.get("pose_mae"),
        }
        mv = over_tasks("content_pose", per_pose, variant, extractor=ex.id, provenance=prov_pose)
        mv.extra["shape_accuracy"] = shape_acc
        out.append(mv)
    else:
        out.append(
            not_ok(
                "content_pose",
                "skipped",
                "needs synthetic content factors of the inputs (input_factors) and a pose head",
                variant=variant,
                extractor=ex.id,
            )
        )
    return out
