"""Fader Networks: the paper architecture (C16..C512-C512 to a 512x2x2 code at 256 px), the
authors' pickled-module release format loads exactly, translate() is interpolate.py's eval-mode
decode with the [1 - a, a] code (checked by a functional forward), and the losses are the
authors' (checked against numpy)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import baselines
from baselines.fader import attribute_loss
from benchmark.errors import UserError
from tests.baselines.fixtures import make_batch, task_for


def _legacy_release(ae: nn.Module, **attrs) -> nn.Module:
    """A module as Trainer.save_model pickles it from 2017 PyTorch: hyper-parameters as
    attributes, BatchNorm without ``num_batches_tracked``, random trained-looking statistics."""
    ae = copy.deepcopy(ae)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in ae.modules():
            if isinstance(m, nn.BatchNorm2d):
                del m._buffers["num_batches_tracked"]
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        for p in ae.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.01)
    defaults = dict(
        img_sz=256,
        img_fm=3,
        n_layers=7,
        init_fm=16,
        max_fm=512,
        n_attr=2,
        n_skip=0,
        instance_norm=False,
        deconv_method="convtranspose",
        attr=[("Male", 2)],
    )
    for k, v in {**defaults, **attrs}.items():
        setattr(ae, k, v)
    return ae


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    torch.manual_seed(0)
    release = _legacy_release(baselines.build("fader", config="paper").ae)
    path = tmp_path_factory.mktemp("fader") / "male.pth"
    torch.save(release, path)
    return baselines.build("fader", config="paper", checkpoint=path), release


# --- architecture -------------------------------------------------------------------------
def test_paper_architecture_is_the_papers(released):
    model, _ = released
    assert model.task == baselines.get("fader").paper_task
    sd = model.ae.state_dict()
    widths = [sd[f"enc_layers.{i}.0.weight"].shape[0] for i in range(7)]
    assert widths == [16, 32, 64, 128, 256, 512, 512]
    assert "enc_layers.0.1.running_mean" not in sd  # no BatchNorm on the first layer
    assert all(f"enc_layers.{i}.1.running_mean" in sd for i in range(1, 7))
    # decoder: ConvTranspose without bias on [features, 2-entry code]; last layer has no BN
    assert sd["dec_layers.0.0.weight"].shape == (512 + 2, 512, 4, 4)
    assert sd["dec_layers.6.0.weight"].shape == (16 + 2, 3, 4, 4)
    assert "dec_layers.0.0.bias" not in sd and "dec_layers.6.1.running_mean" not in sd
    lat = model.lat_dis.state_dict()
    assert lat["conv_layers.0.0.weight"].shape == (512, 512, 4, 4)
    assert lat["proj_layers.0.weight"].shape == (512, 512)
    assert lat["proj_layers.2.weight"].shape == (2, 512)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.3 for m in model.lat_dis.modules())
    with torch.no_grad():
        code = copy.deepcopy(model.ae).eval().encode(torch.zeros(1, 3, 256, 256))
    assert code.shape == (1, 512, 2, 2)
    opt = model.optimizers()["ae"].param_groups[0]
    assert opt["lr"] == 2e-3 and opt["betas"] == (0.5, 0.999)


def test_paper_config_follows_the_image_size():
    task = task_for("attributes", size=128)
    model = baselines.build("fader", config="paper", task=task)
    assert model.n_layers == 6
    with torch.no_grad():
        assert model.ae.encode(torch.zeros(1, 3, 128, 128)).shape == (1, 512, 2, 2)
    with pytest.raises(ValueError, match="power-of-two"):
        baselines.build("fader", config="paper", task=task_for("attributes", size=96))


# --- the release format -------------------------------------------------------------------
def test_pickled_release_loads_exactly(released):
    model, release = released
    want = release.state_dict()
    got = model.ae.state_dict()
    assert set(got) - set(want) == {k for k in got if k.endswith("num_batches_tracked")}
    for k, v in want.items():
        assert torch.equal(got[k], v), k


def test_release_with_other_hyper_parameters_is_refused_by_name(tmp_path):
    model = baselines.build("fader", config="tiny", task=task_for("attributes"))
    for attrs, needle in (({"n_layers": 6}, "n_layers=6"), ({"init_fm": 32}, "init_fm=32")):
        path = tmp_path / "other.pth"
        tiny = dict(img_sz=32, n_layers=4, init_fm=8, max_fm=64, n_attr=10, attr=[])
        torch.save(_legacy_release(model.ae, **{**tiny, **attrs}), path)
        with pytest.raises(UserError, match=needle) as err:
            model.load(path)
        assert "\n" not in str(err.value)
    path = tmp_path / "not_fader.pth"
    torch.save({"gen": {}}, path)
    with pytest.raises(UserError, match="enc_layers"):
        model.load(path)


# --- the authors' inference function ---------------------------------------------------
def _bn_eval(x, sd, p):
    return F.batch_norm(
        x,
        sd[f"{p}.running_mean"],
        sd[f"{p}.running_var"],
        sd[f"{p}.weight"],
        sd[f"{p}.bias"],
        training=False,
        eps=1e-5,
    )


def _fader_forward(x, code, sd, n_layers=7):
    h = x
    for i in range(n_layers):
        h = F.conv2d(h, sd[f"enc_layers.{i}.0.weight"], sd[f"enc_layers.{i}.0.bias"], 2, 1)
        if i > 0:
            h = _bn_eval(h, sd, f"enc_layers.{i}.1")
        h = F.leaky_relu(h, 0.2)
    for j in range(n_layers):
        h = torch.cat([h, code[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)
        h = F.conv_transpose2d(h, sd[f"dec_layers.{j}.0.weight"], stride=2, padding=1)
        h = torch.relu(_bn_eval(h, sd, f"dec_layers.{j}.1")) if j < n_layers - 1 else torch.tanh(h)
    return h


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_translate_is_eval_mode_decode_with_the_slid_code(released, alpha):
    model, release = released
    sd = {k: v.detach() for k, v in release.state_dict().items()}
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    target = torch.full((1, 1), alpha)
    code = torch.tensor([[1 - alpha, alpha]])  # interpolate.py: [1 - alpha, alpha]
    model.train()  # translate must use BatchNorm's running statistics (ae.eval()) itself
    with torch.no_grad():
        out = model.translate(x, target=target)
        want = _fader_forward(x, code, sd)
        swapped = _fader_forward(x, code.flip(1), sd)
    assert torch.allclose(out, want, atol=1e-4), (out - want).abs().max()
    assert not torch.allclose(out, swapped, atol=1e-3)
    train_mode = copy.deepcopy(model.ae).train()  # BatchNorm on batch statistics
    with torch.no_grad():
        batch_stats = train_mode.decode(train_mode.encode(x), code)
    assert not torch.allclose(batch_stats, want, atol=1e-3)


def test_translate_needs_the_target_attributes():
    model = baselines.build("fader", config="tiny", task=task_for("attributes"))
    x = torch.zeros(2, 3, 32, 32)
    with pytest.raises(ValueError, match="target"):
        model.translate(x)
    with pytest.raises(ValueError, match="attributes"):
        model.translate(x, target=torch.ones(2, 3))


# --- training -----------------------------------------------------------------------------
def test_attribute_loss_is_the_sum_over_attributes_of_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits, a = torch.randn(6, 10, generator=g), torch.randint(2, (6, 5), generator=g).float()
    lg, av = logits.numpy().reshape(6, 5, 2), a.numpy().astype(int)
    logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, av[..., None], -1)[..., 0].mean(0).sum()
    assert attribute_loss(logits, a).item() == pytest.approx(want, rel=1e-5)


def test_lambda_grows_linearly_to_its_value():
    model = baselines.build("fader", config="tiny", task=task_for("attributes"))
    assert model.lambda_lat_dis() == 0.0
    model.step = 250
    assert model.lambda_lat_dis() == pytest.approx(0.5e-4)
    model.step = 10_000
    assert model.lambda_lat_dis() == pytest.approx(1e-4)
    paper = baselines.get("fader")(task_for("attributes"), "paper")
    paper.step = 250_000
    assert paper.lambda_lat_dis() == pytest.approx(0.5e-4)


def test_latent_discriminator_learns_the_attributes_on_a_fixed_batch():
    torch.manual_seed(0)
    task = task_for("attributes")
    model = baselines.build("fader", config="tiny", task=task)
    batch = make_batch(task)
    first = model.train_step(batch)["lat_dis"]
    for _ in range(5):
        last = model.train_step(batch)["lat_dis"]
    assert last < first


def test_tiny_runs_at_64px():
    task = task_for("attributes", size=64)
    model = baselines.build("fader", config="tiny", task=task)
    model.train_step(make_batch(task, n=2))
    with torch.no_grad():
        out = model.translate(torch.zeros(2, 3, 64, 64), target=torch.ones(2, 5))
    assert out.shape == (2, 3, 64, 64)
