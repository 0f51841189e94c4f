"""Paired quality where a ground truth exists (pix2pix/BicycleGAN edges2shoes): L1, PSNR, SSIM
on [0, 1] pixels, and LPIPS to the target. Every output of an input is compared with its target
and the values are averaged over outputs, inputs, then tasks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.metrics import Metric, MetricContext, family, not_ok, over_tasks

PSNR_CAP = 100.0  # dB for identical images (MSE 0), so a perfect copy stays a finite number


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image, [0, 1] pixels (data range 1)."""
    mse = ((a.double() - b.double()) ** 2).flatten(1).mean(dim=1)
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-PSNR_CAP / 10)))).float()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per image SSIM (Wang et al. 2004): 11x11 gaussian window, sigma 1.5, K1=0.01, K2=0.03,
    data range 1, population statistics, 'valid' filtering, mean over channels and positions."""
    a, b = a.double(), b.double()
    c = a.shape[1]
    w = gaussian_window(size, sigma).expand(c, 1, size, size).contiguous()

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return s.flatten(1).mean(dim=1).float()


@family(
    "paired",
    (
        Metric("l1", False, "L1"),
        Metric("psnr", True, "PSNR"),
        Metric("ssim", True, "SSIM"),
        Metric("lpips_paired", False, "LPIPS to target"),
    ),
)
def paired_family(ctx: MetricContext, group, variant: str):
    names = ("l1", "psnr", "ssim", "lpips_paired")
    missing = [s.task for s in group if s.ground_truth is None]
    if missing:
        why = f"no ground truth for task(s) {', '.join(missing)} (paired protocols only)"
        return [not_ok(m, "skipped", why, variant=variant) for m in names]
    size = min(s.outputs.shape[-1] for s in group)
    if size < 11:
        return [
            not_ok(m, "failed", f"images are {size}px; SSIM needs at least 11px", variant=variant)
            for m in names
        ]
    model, reason = ctx.lpips()
    per = {m: {} for m in names}
    for s in group:
        k = s.outputs_per_input
        out = s.flat_outputs().float()
        gt = s.ground_truth.float().repeat_interleave(k, dim=0)
        o01, g01 = (out.clamp(-1, 1) + 1) / 2, (gt.clamp(-1, 1) + 1) / 2
        per["l1"][s.task] = float((o01 - g01).abs().mean())
        per["psnr"][s.task] = float(psnr(o01, g01).mean())
        per["ssim"][s.task] = float(ssim(o01, g01).mean())
        if model is not None:
            per["lpips_paired"][s.task] = float(model.distance(out.clamp(-1, 1), gt).mean())
    prov = {
        "pixels": "[0, 1] (outputs clamped)",
        "ssim": "gaussian 11/1.5, K1 .01, K2 .03",
        "psnr_cap_db": PSNR_CAP,
        "n_pairs": {s.task: s.num_inputs * s.outputs_per_input for s in group},
    }
    out = [over_tasks(m, per[m], variant, provenance=prov) for m in ("l1", "psnr", "ssim")]
    if model is None:
        out.append(not_ok("lpips_paired", "skipped", reason, variant=variant))
    else:
        out.append(
            over_tasks(
                "lpips_paired",
                per["lpips_paired"],
                variant,
                provenance={**prov, **model.provenance()},
            )
        )
    return out
