"""Diversity: mean pairwise LPIPS among one input's outputs (BicycleGAN, MUNIT, StarGAN v2), and
the same pairs in the protocol classifier's feature space, which needs no download.

Pairs follow ``protocol.param("diversity_pairs")``: ``consecutive`` (BicycleGAN: i, i+1) or
``all`` (StarGAN v2 metrics/lpips.py: all K(K-1)/2). Per input the mean over pairs, then the mean
over inputs (or, with ``lpips_batch`` B, StarGAN v2's eval.py L62-95: the mean over each batch of
B inputs, then the plain mean over batches, so a short last batch weighs as much as a full one),
then over tasks. ``lpips_outputs``: "clamped" to [-1, 1]; "raw" as the generator returned them
(StarGAN v2 scores its in-memory outputs); "tensor2im" as BicycleGAN's saved PNGs read back by
PerceptualSimilarity (``(x+1)/2*255`` truncated to uint8, then ``/127.5 - 1``). A deterministic
baseline scores 0 by definition.
"""

from __future__ import annotations

import itertools
import logging

import lpips
import torch

from benchmark.features import ALEXNET_FILE, find_weights, weights_sha256
from benchmark.metrics import Metric, MetricContext, family, not_ok, over_tasks, value

log = logging.getLogger("benchmark")


LPIPS_VERSIONS = ("0.1", "0.0")  # the lpips package's default, and its initial release


class LPIPSModel:
    """lpips's AlexNet metric (v0.1 by default; v0.0, the initial release, for comparison with
    numbers published before v0.1; both linear heads ship with the package) with the
    torchvision AlexNet trunk loaded from the local file, so nothing is downloaded."""

    def __init__(
        self, module: lpips.LPIPS, sha256: str, device: torch.device, version: str = "0.1"
    ) -> None:
        self.module, self.sha256, self.device, self.version = module, sha256, device, version

    @torch.no_grad()
    def distance(self, a: torch.Tensor, b: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """LPIPS per image pair, inputs in [-1, 1]."""
        out = []
        for i in range(0, len(a), batch):
            d = self.module(a[i : i + batch].to(self.device), b[i : i + batch].to(self.device))
            out.append(d.flatten().cpu())
        return torch.cat(out) if out else torch.empty(0)

    def provenance(self) -> dict:
        return {"lpips": f"alex v{self.version} (lpips package)", "alexnet_sha256": self.sha256}


def build_lpips(weights_dir, device: torch.device, version: str = "0.1") -> LPIPSModel:
    if version not in LPIPS_VERSIONS:
        raise ValueError(f"unknown LPIPS version {version!r}; use one of {LPIPS_VERSIONS}")
    path = find_weights(ALEXNET_FILE, weights_dir, "AlexNet (LPIPS trunk, torchvision)")
    module = lpips.LPIPS(net="alex", version=version, pnet_rand=True, verbose=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    # lpips's alexnet slices hold torchvision's alexnet.features[i] as slice<k>.<i>
    trunk = {k: state[f"features.{k.split('.', 1)[1]}"] for k in module.net.state_dict()}
    module.net.load_state_dict(trunk)
    net = module.eval().requires_grad_(False).to(device)
    return LPIPSModel(net, weights_sha256(path), device, version)


def pair_indices(k: int, mode: str) -> list[tuple[int, int]]:
    if mode == "consecutive":
        return [(i, i + 1) for i in range(k - 1)]
    if mode == "all":
        return list(itertools.combinations(range(k), 2))
    raise ValueError(f"unknown diversity_pairs {mode!r}; use 'consecutive' or 'all'")


def per_input(n: int, k: int, pairs, dist) -> torch.Tensor:
    """Each input's mean over its pairs (float64); ``dist(ia, ib)`` takes flat output indices
    and returns one distance per pair."""
    ia = torch.tensor([i * k + a for i in range(n) for a, _ in pairs])
    ib = torch.tensor([i * k + b for i in range(n) for _, b in pairs])
    return dist(ia, ib).double().view(n, len(pairs)).mean(dim=1)


def pairwise_mean(n: int, k: int, pairs, dist, batch: int | None = None) -> float:
    """Mean over inputs of ``per_input``; with ``batch``, the mean of per-batch means over
    consecutive batches of that many inputs (StarGAN v2's aggregation)."""
    values = per_input(n, k, pairs, dist)
    if not batch:
        return float(values.mean())
    return float(torch.stack([b.mean() for b in values.split(batch)]).mean())


DIV_LAYERS = ("content", "final")  # the protocol classifier's last two conv stages


def unit_channels(x: torch.Tensor) -> torch.Tensor:
    """Feature maps scaled to unit length over channels at every position."""
    return x / (x.norm(dim=1, keepdim=True) + 1e-10)


def feature_distance(fa: dict, fb: dict, layers=DIV_LAYERS) -> torch.Tensor:
    """LPIPS-like distance without learned weights between ``unit_channels`` maps: squared
    difference summed over channels, averaged over space, then over layers. Maps are normalised
    once per output by the caller, not once per pair (an output is in K - 1 pairs)."""
    total = 0
    for name in layers:
        total = total + ((fa[name] - fb[name]) ** 2).sum(dim=1).mean(dim=(1, 2))
    return total / len(layers)


@family(
    "lpips_diversity",
    (
        Metric("lpips_diversity", True, "LPIPS diversity"),
        Metric("feature_diversity", True, "Feature diversity"),
    ),
)
def diversity_family(ctx: MetricContext, group, variant: str):
    mode = ctx.protocol.param("diversity_pairs", "all")
    prov = {
        "pairs": mode,
        "outputs_per_input": {s.task: s.outputs_per_input for s in group},
        "n_inputs": {s.task: s.num_inputs for s in group},
    }
    if not all(s.multimodal for s in group):
        note = "deterministic baseline: diversity is 0 by definition"
        ex = ctx.protocol_extractor
        return [
            value("lpips_diversity", 0.0, variant=variant, provenance={**prov, "note": note}),
            value(
                "feature_diversity",
                0.0,
                variant=variant,
                extractor=ex.id if ex else None,
                provenance={**prov, **(ex.provenance() if ex else {}), "note": note},
            ),
        ]
    short = [s.task for s in group if s.outputs_per_input < 2]
    if short:
        why = f"diversity needs at least 2 outputs per input (tasks {', '.join(short)})"
        return [
            not_ok("lpips_diversity", "skipped", why, variant=variant),
            not_ok("feature_diversity", "skipped", why, variant=variant),
        ]
    return [
        _lpips_diversity(ctx, group, variant, mode, prov),
        _feature_diversity(ctx, group, variant, mode, prov),
    ]


LPIPS_OUTPUTS = ("clamped", "raw", "tensor2im")


def as_scored(outputs: torch.Tensor, how: str) -> torch.Tensor:
    """Outputs as the protocol's authors fed them to LPIPS (see the module docstring)."""
    if how == "raw":
        return outputs
    if how == "clamped":
        return outputs.clamp(-1, 1)
    if how == "tensor2im":
        # BicycleGAN util/util.py tensor2im: (x+1)/2*255 then astype(uint8), a truncation; it
        # does not clamp (numpy's cast of out-of-range floats is undefined): clamped here
        # in float32 as numpy computes it on the float32 array
        u8 = ((outputs.float() + 1) / 2 * 255).clamp(0, 255).floor().double()
        return (u8 / 127.5 - 1).float()  # im2tensor: uint8 / 127.5 in float64, then float32
    raise ValueError(f"unknown lpips_outputs {how!r}; use one of {LPIPS_OUTPUTS}")


def _lpips_diversity(ctx, group, variant, mode, prov):
    model, reason = ctx.lpips()
    if model is None:
        return not_ok("lpips_diversity", "skipped", reason, variant=variant)
    outputs = ctx.protocol.param("lpips_outputs", "clamped")
    batch = ctx.protocol.param("lpips_batch")
    per_task = {}
    for s in group:
        flat = as_scored(s.flat_outputs(), outputs)
        per_task[s.task] = pairwise_mean(
            s.num_inputs,
            s.outputs_per_input,
            pair_indices(s.outputs_per_input, mode),
            lambda ia, ib, flat=flat: model.distance(flat[ia], flat[ib]),
            batch,
        )
    agg = f"mean over batches of {batch} inputs (in input order)" if batch else "mean over inputs"
    prov = {**prov, **model.provenance(), "outputs": outputs, "aggregate": agg}
    return over_tasks("lpips_diversity", per_task, variant, provenance=prov)


def _feature_diversity(ctx, group, variant, mode, prov):
    ex = ctx.protocol_extractor
    if ex is None:
        return not_ok("feature_diversity", "skipped", "no protocol classifier", variant=variant)
    per_task = {}
    for s in group:
        feats = ctx.store.get(ex, s.flat_outputs(), "fake", f"{s.task} outputs")
        unit = {k: unit_channels(feats[k]) for k in DIV_LAYERS}
        per_task[s.task] = pairwise_mean(
            s.num_inputs,
            s.outputs_per_input,
            pair_indices(s.outputs_per_input, mode),
            lambda ia, ib, u=unit: feature_distance(
                {k: u[k][ia] for k in DIV_LAYERS}, {k: u[k][ib] for k in DIV_LAYERS}
            ),
        )
    prov = {
        **prov,
        **ex.provenance(),
        "layers": list(DIV_LAYERS),
        "distance": "channel-normalised squared difference, spatial mean, layer mean",
    }
    return over_tasks("feature_diversity", per_task, variant, extractor=ex.id, provenance=prov)
