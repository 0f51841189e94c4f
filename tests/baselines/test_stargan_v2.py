"""StarGAN v2: the AFHQ release's nets_ema keys and shapes, loading it into the EMA nets, the
official test path (metrics/eval.py: EMA nets, style from the mapping network or the style
encoder, AdaIN parameters from the style code) by an independent functional forward, and
solver.py's training rules (EMA lerp, lambda_ds decay, optimizer settings)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import baselines
from baselines.base import TaskSpec
from baselines.stargan_v2 import CONFIGS, EMA_NETS, Generator
from benchmark.errors import UserError
from tests.baselines.fixtures import make_batch, manifest, task_for

MANIFEST = manifest("starganv2_afhq")
# manifest notes: "Discriminator(256,3) (not released) has 20852803 params"
PAPER_D_PARAMS = 20852803


def _release() -> dict[str, dict[str, torch.Tensor]]:
    """A file shaped like 100000_nets_ema.ckpt: random tensors, He-like scales."""
    g = torch.Generator().manual_seed(0)
    out: dict[str, dict[str, torch.Tensor]] = {n: {} for n in EMA_NETS}
    for key, shape in MANIFEST["state_dict"].items():
        net, sub = key.split(".", 1)
        if len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=g)
            out[net][sub] = t + 1 if ".norm" in sub and sub.endswith("weight") else t
        else:
            out[net][sub] = torch.randn(shape, generator=g) * (2 / np.prod(shape[1:])) ** 0.5
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    path = tmp_path_factory.mktemp("starganv2_release") / "100000_nets_ema.ckpt"
    state = _release()
    torch.save(state, path)
    return state, path


@pytest.fixture(scope="module")
def model(release):
    return baselines.build("stargan_v2", config="paper", checkpoint=release[1])


def test_paper_config_matches_released_keys_and_shapes(model):
    ours = {
        f"{n}.{k}": list(v.shape)
        for n in EMA_NETS
        for k, v in model.nets_ema[n].state_dict().items()
    }
    assert ours == MANIFEST["state_dict"]
    for name, info in MANIFEST["components"].items():
        assert sum(p.numel() for p in model.nets_ema[name].parameters()) == info["params"]
        assert sum(p.numel() for p in model.nets[name].parameters()) == info["params"]
    assert sum(p.numel() for p in model.nets.discriminator.parameters()) == PAPER_D_PARAMS


def test_release_loads_exactly_into_the_ema_nets(model, release, tmp_path):
    state, _ = release
    for name in EMA_NETS:
        for key, value in model.nets_ema[name].state_dict().items():
            assert torch.equal(value, state[name][key]), f"{name}.{key}"
    # the online nets keep their own (He-init) weights: only nets_ema is released
    online = model.nets.generator.state_dict()
    assert not torch.equal(online["from_rgb.weight"], state["generator"]["from_rgb.weight"])
    # wrong files: a missing net, or keys saved with DataParallel's 'module.' prefix
    wrong = [
        {k: state[k] for k in ("generator", "mapping_network")},
        {n: {f"module.{k}": v for k, v in state[n].items()} for n in EMA_NETS},
    ]
    for i, obj in enumerate(wrong):
        path = tmp_path / f"wrong{i}.ckpt"
        torch.save(obj, path)
        with pytest.raises(UserError, match="does not match stargan_v2"):
            baselines.build("stargan_v2", config="paper", checkpoint=path)


# --- an independent functional forward of core/model.py ------------------------------------
def _lrelu(x):
    return F.leaky_relu(x, 0.2)


def _resblk(x, sd, p, normalize, downsample):
    def inorm(h, name):
        return F.instance_norm(h, weight=sd[f"{p}.{name}.weight"], bias=sd[f"{p}.{name}.bias"])

    sc = F.conv2d(x, sd[f"{p}.conv1x1.weight"]) if f"{p}.conv1x1.weight" in sd else x
    sc = F.avg_pool2d(sc, 2) if downsample else sc
    h = inorm(x, "norm1") if normalize else x
    h = F.conv2d(_lrelu(h), sd[f"{p}.conv1.weight"], sd[f"{p}.conv1.bias"], padding=1)
    h = F.avg_pool2d(h, 2) if downsample else h
    h = inorm(h, "norm2") if normalize else h
    h = F.conv2d(_lrelu(h), sd[f"{p}.conv2.weight"], sd[f"{p}.conv2.bias"], padding=1)
    return (sc + h) / math.sqrt(2)


def _adain(x, s, sd, p):
    """AdaIN: gamma, beta from the style code through fc; (1 + gamma) * IN(x) + beta."""
    gamma, beta = F.linear(s, sd[f"{p}.fc.weight"], sd[f"{p}.fc.bias"]).chunk(2, dim=1)
    return (1 + gamma[:, :, None, None]) * F.instance_norm(x) + beta[:, :, None, None]


def _adain_resblk(x, s, sd, p, upsample):
    def up(t):
        return F.interpolate(t, scale_factor=2, mode="nearest") if upsample else t

    h = up(_lrelu(_adain(x, s, sd, f"{p}.norm1")))
    h = F.conv2d(h, sd[f"{p}.conv1.weight"], sd[f"{p}.conv1.bias"], padding=1)
    h = _lrelu(_adain(h, s, sd, f"{p}.norm2"))
    h = F.conv2d(h, sd[f"{p}.conv2.weight"], sd[f"{p}.conv2.bias"], padding=1)
    sc = up(x)
    sc = F.conv2d(sc, sd[f"{p}.conv1x1.weight"]) if f"{p}.conv1x1.weight" in sd else sc
    return (h + sc) / math.sqrt(2)


def _generator(sd, x, s, n_down=4):
    h = F.conv2d(x, sd["from_rgb.weight"], sd["from_rgb.bias"], padding=1)
    for i in range(n_down + 2):
        h = _resblk(h, sd, f"encode.{i}", normalize=True, downsample=i < n_down)
    for i in range(n_down + 2):
        h = _adain_resblk(h, s, sd, f"decode.{i}", upsample=i >= 2)
    h = _lrelu(F.instance_norm(h, weight=sd["to_rgb.0.weight"], bias=sd["to_rgb.0.bias"]))
    return F.conv2d(h, sd["to_rgb.2.weight"], sd["to_rgb.2.bias"])


def _mapping(sd, z, y):
    h = z
    for i in (0, 2, 4, 6):
        h = F.relu(F.linear(h, sd[f"shared.{i}.weight"], sd[f"shared.{i}.bias"]))
    out = []
    for n, d in enumerate(y.tolist()):
        t = h[n]
        for i in (0, 2, 4, 6):
            t = F.linear(t, sd[f"unshared.{d}.{i}.weight"], sd[f"unshared.{d}.{i}.bias"])
            t = F.relu(t) if i < 6 else t
        out.append(t)
    return torch.stack(out)


def _style_encoder(sd, x, y):
    h = F.conv2d(x, sd["shared.0.weight"], sd["shared.0.bias"], padding=1)
    for i in range(1, 7):
        h = _resblk(h, sd, f"shared.{i}", normalize=False, downsample=True)
    h = _lrelu(F.conv2d(_lrelu(h), sd["shared.8.weight"], sd["shared.8.bias"])).flatten(1)
    return torch.stack(
        [
            F.linear(h[n], sd[f"unshared.{d}.weight"], sd[f"unshared.{d}.bias"])
            for n, d in enumerate(y.tolist())
        ]
    )


def test_latent_guided_translation_is_the_official_path(model, release):
    state, _ = release
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = torch.tensor([2, 0])
    z = torch.randn(2, 16)
    with torch.no_grad():
        out = model.translate(x, target=y, latent=z)
        expected = _generator(state["generator"], x, _mapping(state["mapping_network"], z, y))
        torch.testing.assert_close(out, expected.clamp(-1, 1), atol=1e-4, rtol=1e-4)
        assert (expected.abs() < 1).float().mean() > 0.2  # not a test of clamping alone
        # z omitted: z ~ N(0, I_16) from the global CPU RNG, as metrics/eval.py draws it
        torch.manual_seed(7)
        z7 = torch.randn(2, 16)
        torch.manual_seed(7)
        torch.testing.assert_close(
            model.translate(x, target=y), model.translate(x, target=y, latent=z7)
        )
        # the EMA nets translate, not the online (training) nets
        s = model.nets.mapping_network(z, y)
        assert (model.nets.generator(x, s).clamp(-1, 1) - out).abs().mean() > 1e-2
        # a name works as a target; one domain for the whole batch
        by_name = model.translate(x, target="wild", latent=z)
        torch.testing.assert_close(by_name[0], out[0])


def test_reference_guided_translation_is_the_official_path(model, release):
    state, _ = release
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ref = torch.rand(2, 3, 256, 256) * 2 - 1  # the style encoder's trunk needs 256 px
    y = torch.tensor([1, 1])
    with torch.no_grad():
        out = model.translate(x, target=1, reference=ref)
        s = _style_encoder(state["style_encoder"], ref, y)
        torch.testing.assert_close(
            out, _generator(state["generator"], x, s).clamp(-1, 1), atol=1e-4, rtol=1e-4
        )
        other = model.translate(x, target=1, reference=ref.flip(0))
    assert (other[0] - out[0]).abs().mean() > 1e-3  # the style comes from the reference


def test_paper_config_other_sizes():
    """Channels and depth follow img_size (dim_in = 2**14 // img_size); others are refused."""
    g = Generator(128, 64, 512, 2**14 // 128)
    assert g.from_rgb.out_channels == 128 and len(g.encode) == (7 - 4) + 2
    with pytest.raises(ValueError, match="power-of-two"):
        baselines.get("stargan_v2")(
            TaskSpec(kind="multi_domain", image_size=100, num_domains=3), "paper"
        )


def test_training_rules_follow_solver():
    paper = CONFIGS["paper"]
    assert (paper.lr, paper.f_lr, paper.betas, paper.weight_decay) == (
        1e-4,
        1e-6,
        (0.0, 0.99),
        1e-4,
    )
    assert (paper.latent_dim, paper.style_dim, paper.ema_beta, paper.ds_iter) == (
        16,
        64,
        0.999,
        100_000,
    )
    task = task_for("multi_domain")
    torch.manual_seed(0)
    m = baselines.build("stargan_v2", config="tiny", task=task)
    assert m.optims["mapping_network"].defaults["lr"] == m.cfg.f_lr
    assert m.optims["generator"].defaults["weight_decay"] == m.cfg.weight_decay
    # lambda_ds decays linearly to 0 over ds_iter iterations
    for step, want in ((0, 1.0), (m.cfg.ds_iter // 4, 0.75), (m.cfg.ds_iter, 0.0), (10**6, 0.0)):
        m.step = step
        assert m.lambda_ds() == pytest.approx(want)
    m.step = 0
    # EMA: after a step, ema = lerp(online, ema_before, beta) for G, F and E
    ema_before = {n: [p.clone() for p in m.nets_ema[n].parameters()] for n in EMA_NETS}
    logs = m.train_step(make_batch(task))
    assert {"D/latent_reg", "D/ref_adv", "G/latent_ds", "G/ref_cyc"} <= set(logs)
    for n in EMA_NETS:
        for p, p_ema, before in zip(
            m.nets[n].parameters(), m.nets_ema[n].parameters(), ema_before[n]
        ):
            want = m.cfg.ema_beta * before + (1 - m.cfg.ema_beta) * p
            torch.testing.assert_close(p_ema, want, atol=1e-6, rtol=1e-5)
