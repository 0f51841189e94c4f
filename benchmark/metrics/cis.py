"""CIS, MUNIT's conditional Inception score, with the protocol classifier.

CIS = E_x1[ E_{x1->2|x1}[ KL(p(y|x1->2) || p(y|x1)) ] ], p(y|x1) the mean prediction over one
input's outputs. The paper says a deterministic model scores 0, i.e. the mean KL ("mean_kl",
our default); NVlabs/MUNIT test_batch.py prints exp(mean KL) ("exp", 1 for a deterministic
model), with p(y|x1) the normalised sum of the softmax outputs (scipy.stats.entropy).
"""

from __future__ import annotations

import math

import torch

from benchmark.metrics import Metric, MetricContext, family, not_ok, over_tasks

CONVENTIONS = ("mean_kl", "exp")


def cis(logits: torch.Tensor, convention: str = "mean_kl") -> float:
    """``logits`` (N, K, C): K outputs of each of N inputs."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown CIS convention {convention!r}; use one of {CONVENTIONS}")
    logp = logits.double().log_softmax(dim=-1)
    p = logp.exp()
    log_marginal = p.mean(dim=1, keepdim=True).log()
    kl = (p * (logp - log_marginal)).sum(dim=-1)  # (N, K)
    mean_kl = max(0.0, float(kl.mean()))  # KL >= 0; only rounding makes it -1e-18
    return mean_kl if convention == "mean_kl" else math.exp(mean_kl)


@family("cis", (Metric("cis", True, "CIS"),))
def cis_family(ctx: MetricContext, group, variant: str):
    ex = ctx.protocol_extractor
    convention = ctx.protocol.param("cis_convention", "mean_kl")
    if ex is None or ctx.classifier.multi_label:
        return [
            not_ok(
                "cis",
                "skipped",
                "CIS needs the protocol's single-label classifier",
                variant=variant,
            )
        ]
    per_task = {}
    for s in group:
        if s.outputs_per_input < 2 and s.multimodal:
            return [
                not_ok(
                    "cis",
                    "skipped",
                    f"task {s.task}: CIS needs at least 2 outputs per input",
                    variant=variant,
                    extractor=ex.id,
                )
            ]
        logits = ctx.store.get(ex, s.flat_outputs(), "fake", f"{s.task} outputs")["logits"]
        per_task[s.task] = cis(logits.view(s.num_inputs, s.outputs_per_input, -1), convention)
    prov = {
        **ex.provenance(),
        "convention": convention,
        "layer": "logits",
        "n_inputs": {s.task: s.num_inputs for s in group},
        "outputs_per_input": {s.task: s.outputs_per_input for s in group},
    }
    return [over_tasks("cis", per_task, variant, extractor=ex.id, provenance=prov)]
