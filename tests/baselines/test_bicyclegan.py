"""BicycleGAN: the released edges2shoes G/E pair loads strictly, and ``translate`` is the
authors' test(): eval mode, z at every encoder level, grayscale edges, the mean of E(reference);
checked against hand-written functional forwards of G_Unet_add_all and E_ResNet."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import baselines
from baselines.base import TaskSpec
from tests.baselines.fixtures import make_batch, manifest, random_state, task_for

G_MANIFEST = manifest("bicyclegan_edges2shoes_G")
E_MANIFEST = manifest("bicyclegan_edges2shoes_E")
LEGACY = "legacy_pre_torch0.4_instancenorm_keys_popped_by_loader"
NUM_DOWNS, E_BLOCKS, NZ = 8, 5, 8


def _release(ref: dict, seed: int) -> dict:
    """Manifest keys with random values plus the InstanceNorm running stats old torch saved."""
    gen = torch.Generator().manual_seed(seed)
    sd = random_state(ref["state_dict"], gen)
    sd.update(random_state(ref[LEGACY], gen))
    return sd


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bicyclegan")
    g, e = _release(G_MANIFEST, 0), _release(E_MANIFEST, 1)
    torch.save(g, folder / "edges2shoes_net_G.pth")
    torch.save(e, folder / "edges2shoes_net_E.pth")
    model = baselines.build(
        "bicyclegan", config="paper", checkpoint=folder / "edges2shoes_net_G.pth"
    )
    return g, e, model


def test_paper_state_dicts_match_the_authors_keys_and_shapes(released):
    *_, model = released
    for net, ref in ((model.netG, G_MANIFEST), (model.netE, E_MANIFEST)):
        got = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert got == ref["state_dict"]
        assert sum(p.numel() for p in net.parameters()) == ref["params"]


def test_g_and_its_sibling_e_load_exactly(released):
    g, e, model = released
    for net, sd, ref in ((model.netG, g, G_MANIFEST), (model.netE, e, E_MANIFEST)):
        state = net.state_dict()
        assert set(state) == set(ref["state_dict"])  # the legacy keys were dropped
        for key in ref["state_dict"]:
            assert torch.equal(state[key], sd[key]), key


def test_g_alone_samples_but_refuses_references(tmp_path):
    torch.save(_release(G_MANIFEST, 0), tmp_path / "latest_net_G.pth")
    model = baselines.build("bicyclegan", config="paper", checkpoint=tmp_path / "latest_net_G.pth")
    x = make_batch(task_for("paired", 256), n=1)["x"]
    assert model.translate(x).shape == x.shape
    with pytest.raises(ValueError, match="net_E"):
        model.translate(x, reference=x)


def _tile(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return z[:, :, None, None].expand(-1, -1, *x.shape[2:])


def reference_g(x, z, sd, prefix="model.", depth=0):
    """G_Unet_add_all / UnetBlock_with_z forward in eval mode (dropout off): z is tiled onto every
    level's input, a level returns cat([up, x])."""

    def conv(h, k, transpose=False):
        op = F.conv_transpose2d if transpose else F.conv2d
        return op(h, sd[f"{prefix}{k}.weight"], sd[f"{prefix}{k}.bias"], stride=2, padding=1)

    xz = torch.cat([x, _tile(z, x)], 1)
    if depth == 0:
        h = reference_g(conv(xz, "down.0"), z, sd, prefix + "submodule.", 1)
        return torch.tanh(conv(F.relu(h), "up.1", transpose=True))
    h = conv(F.leaky_relu(xz, 0.2), "down.1")
    if depth < NUM_DOWNS - 1:
        h = reference_g(F.instance_norm(h), z, sd, prefix + "submodule.", depth + 1)
    h = F.instance_norm(conv(F.relu(h), "up.1", transpose=True))
    return torch.cat([h, x], 1)


def reference_e_mean(img, sd):
    """E_ResNet (resnet_256, instance norm, leaky ReLU 0.2): the ``fc`` head, i.e. mu."""

    def conv(h, k, pad):
        return F.conv2d(h, sd[f"{k}.weight"], sd[f"{k}.bias"], padding=pad)

    def act(h):
        return F.leaky_relu(F.instance_norm(h), 0.2)

    h = F.conv2d(img, sd["conv.0.weight"], sd["conv.0.bias"], stride=2, padding=1)
    for i in range(1, E_BLOCKS):
        p = f"conv.{i}."
        r = conv(act(h), p + "conv.2", 1)
        r = F.avg_pool2d(conv(act(r), p + "conv.5.0", 1), 2)
        h = r + conv(F.avg_pool2d(h, 2), p + "shortcut.1", 0)
    h = F.avg_pool2d(F.leaky_relu(h, 0.2), 8).flatten(1)
    return F.linear(h, sd["fc.0.weight"], sd["fc.0.bias"])


def test_translate_is_the_authors_test_forward(released):
    g, e, model = released
    model.train()  # test.py calls model.eval(); translate must not depend on the caller's mode
    batch = make_batch(task_for("paired", 256), n=2)
    x, ref_img = batch["x"], batch["x2"]
    gray = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]
    z = torch.randn(2, NZ, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want_latent = reference_g(gray, z, g)
        mu = reference_e_mean(ref_img, e)
        want_ref = reference_g(gray, mu, g)
        out = model.translate(x, latent=z)
        out_ref = model.translate(x, reference=ref_img)
    torch.testing.assert_close(out, want_latent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_ref, want_ref, atol=1e-5, rtol=1e-4)
    # the code matters: another z or another reference is another output
    assert (out - reference_g(gray, -z, g)).abs().max() > 1e-2
    assert (out_ref - out).abs().max() > 1e-2
    assert all(m.training for m in model.modules())  # the caller's mode is restored


def test_latent_is_sampled_from_the_global_rng(released):
    *_, model = released
    x = make_batch(task_for("paired", 256), n=1)["x"]
    with torch.no_grad():
        torch.manual_seed(0)
        a = model.translate(x)
        torch.manual_seed(0)
        b = model.translate(x)
        torch.manual_seed(1)
        c = model.translate(x)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_training_objective_pieces_and_sizes():
    task = task_for("paired", 64)
    model = baselines.build("bicyclegan", config="tiny", task=task)
    assert model.gray_input and model.netG.model.down[0].in_channels == 1 + NZ
    losses = model.train_step(make_batch(task, n=4))
    assert set(losses) == {"G_GAN", "G_GAN2", "G_L1", "z_L1", "kl", "D", "D2"}
    assert isinstance(model.netD(torch.zeros(1, 3, 64, 64)), list)  # two scales
    rgb = baselines.build(
        "bicyclegan",
        config="tiny",
        task=TaskSpec(kind="paired", image_size=32, domain_names=("A", "B")),
    )
    assert not rgb.gray_input and rgb.netG.model.down[0].in_channels == 3 + NZ
    with pytest.raises(ValueError, match="A->B only"):
        rgb.translate(torch.zeros(1, 3, 32, 32), target=0)
