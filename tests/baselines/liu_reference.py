"""Hand-written functional forwards of the UNIT / MUNIT / FUNIT generators, straight from a
``state_dict`` with torch.nn.functional: an independent re-derivation of the authors' inference
path (networks.py / blocks.py) that shares no code with baselines/components/liu.py.

Also the checkpoint-file builder the official-loading tests use (manifest keys, random values).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.baselines.fixtures import random_state

EPS = 1e-5


def _conv(sd, key, x, stride=1, pad=0):
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), stride)


def _inorm(x):
    mean = x.mean((2, 3), keepdim=True)
    var = x.var((2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


def _adain(x, bias, weight):
    """Instance-normalise, then per-sample, per-channel scale ``weight`` and shift ``bias``."""
    return _inorm(x) * weight[:, :, None, None] + bias[:, :, None, None]


def _munit_layer_norm(x, gamma, beta):
    flat = x.reshape(x.shape[0], -1)
    mean = flat.mean(1)[:, None, None, None]
    std = flat.std(1, unbiased=True)[:, None, None, None]
    return (x - mean) / (std + EPS) * gamma[None, :, None, None] + beta[None, :, None, None]


def content_encoder(sd, prefix, x, n_down, n_res):
    h = F.relu(_inorm(_conv(sd, f"{prefix}.model.0.conv", x, 1, 3)))
    for i in range(1, n_down + 1):
        h = F.relu(_inorm(_conv(sd, f"{prefix}.model.{i}.conv", h, 2, 1)))
    for r in range(n_res):
        key = f"{prefix}.model.{n_down + 1}.model.{r}.model"
        y = F.relu(_inorm(_conv(sd, f"{key}.0.conv", h, 1, 1)))
        h = h + _inorm(_conv(sd, f"{key}.1.conv", y, 1, 1))
    return h


def style_encoder(sd, prefix, x, n_down):
    h = F.relu(_conv(sd, f"{prefix}.model.0.conv", x, 1, 3))
    for i in range(1, n_down + 1):
        h = F.relu(_conv(sd, f"{prefix}.model.{i}.conv", h, 2, 1))
    h = h.mean((2, 3), keepdim=True)
    return _conv(sd, f"{prefix}.model.{n_down + 2}", h)


def mlp(sd, prefix, z, n_blk):
    h = z.reshape(z.shape[0], -1)
    for i in range(n_blk):
        h = F.linear(h, sd[f"{prefix}.model.{i}.fc.weight"], sd[f"{prefix}.model.{i}.fc.bias"])
        if i < n_blk - 1:
            h = F.relu(h)
    return h


def decoder(sd, prefix, h, n_up, n_res, up_norm, adain_params=None):
    """``adain_params`` (N, P): res blocks use AdaIN with [bias, weight] slices in layer order;
    None: InstanceNorm res blocks (UNIT). ``up_norm``: "ln" (MUNIT/UNIT) or "in" (FUNIT)."""
    dim = h.shape[1]
    offset = 0

    def norm(t):
        nonlocal offset
        if adain_params is None:
            return _inorm(t)
        bias = adain_params[:, offset : offset + dim]
        weight = adain_params[:, offset + dim : offset + 2 * dim]
        offset += 2 * dim
        return _adain(t, bias, weight)

    for r in range(n_res):
        key = f"{prefix}.model.0.model.{r}.model"
        y = F.relu(norm(_conv(sd, f"{key}.0.conv", h, 1, 1)))
        h = h + norm(_conv(sd, f"{key}.1.conv", y, 1, 1))
    if adain_params is not None:
        assert offset == adain_params.shape[1], "AdaIN parameter count mismatch"
    for u in range(n_up):
        key = f"{prefix}.model.{2 + 2 * u}"
        h = _conv(sd, f"{key}.conv", F.interpolate(h, scale_factor=2, mode="nearest"), 1, 2)
        if up_norm == "ln":
            h = _munit_layer_norm(h, sd[f"{key}.norm.gamma"], sd[f"{key}.norm.beta"])
        else:
            h = _inorm(h)
        h = F.relu(h)
    return torch.tanh(_conv(sd, f"{prefix}.model.{1 + 2 * n_up}.conv", h, 1, 3))


def write_ab_release(man: dict, path) -> tuple[dict, dict]:
    """A UNIT/MUNIT-style release at ``path``: {'a': gen_a, 'b': gen_b}, random tensors of the
    manifest's shapes plus the PyTorch 0.3 InstanceNorm keys the authors' loader drops."""
    g = torch.Generator().manual_seed(0)
    a, b = random_state(man["state_dict"], g), random_state(man["state_dict"], g)
    legacy = random_state(man["legacy_pre_torch0.4_keys"], g)
    torch.save({"a": {**a, **legacy}, "b": {**b, **legacy}}, path)
    return a, b
