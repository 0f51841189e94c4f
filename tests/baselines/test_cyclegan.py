"""CycleGAN: released one-direction G files (with the legacy InstanceNorm keys old torch wrote)
load strictly into G_A, ``translate`` is the ResNet generator's forward (checked against a
hand-written functional one), the image pool behaves as util/image_pool.py; and the noise-injected
CycleGAN* variant."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import baselines
from baselines.base import TaskSpec
from baselines.cyclegan import ImagePool
from benchmark.errors import UserError
from tests.baselines.fixtures import make_batch, manifest, random_state, task_for

G_MANIFEST = manifest("cyclegan_resnet9_G")
LEGACY = (
    "legacy_pre_torch0.4_instancenorm_keys",
    "extra_keys_if_saved_with_IN_track_running_stats",
)


def _release(legacy: str, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    sd = random_state(G_MANIFEST["state_dict"], gen)
    for key, shape in G_MANIFEST[legacy].items():
        sd[key] = torch.tensor(7) if key.endswith("num_batches_tracked") else torch.rand(shape)
    return sd


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    sd = _release(LEGACY[0], 0)
    path = tmp_path_factory.mktemp("cyclegan") / "horse2zebra.pth"
    torch.save(sd, path)
    return sd, baselines.build("cyclegan", config="paper", checkpoint=path)


def test_paper_generators_match_the_authors_keys_and_shapes(released):
    _, model = released
    for net in (model.netG_A, model.netG_B):
        assert {k: list(v.shape) for k, v in net.state_dict().items()} == G_MANIFEST["state_dict"]
        assert sum(p.numel() for p in net.parameters()) == G_MANIFEST["params"]


@pytest.mark.parametrize("legacy", LEGACY)
def test_release_loads_exactly_into_g_a(legacy, tmp_path):
    sd = _release(legacy, 1)
    torch.save(sd, tmp_path / "g.pth")
    fresh = baselines.build("cyclegan", config="paper")
    g_b = {k: v.clone() for k, v in fresh.netG_B.state_dict().items()}
    fresh.load(tmp_path / "g.pth")
    state = fresh.netG_A.state_dict()
    assert set(state) == set(G_MANIFEST["state_dict"])
    for key in state:
        assert torch.equal(state[key], sd[key]), key
    assert all(torch.equal(v, g_b[k]) for k, v in fresh.netG_B.state_dict().items())


def reference_resnet_g(x: torch.Tensor, sd: dict, n_blocks: int = 9) -> torch.Tensor:
    """ResnetGenerator (instance norm, reflect padding) from the state_dict keys."""

    def conv(h, i, stride=1, pad=0):
        return F.conv2d(h, sd[f"{i}.weight"], sd[f"{i}.bias"], stride=stride, padding=pad)

    def block(h, p):
        r = F.pad(h, (1, 1, 1, 1), mode="reflect")
        r = F.relu(F.instance_norm(conv(r, p + "conv_block.1")))
        r = F.pad(r, (1, 1, 1, 1), mode="reflect")
        return h + F.instance_norm(conv(r, p + "conv_block.5"))

    h = F.relu(F.instance_norm(conv(F.pad(x, (3, 3, 3, 3), mode="reflect"), "model.1")))
    h = F.relu(F.instance_norm(conv(h, "model.4", 2, 1)))
    h = F.relu(F.instance_norm(conv(h, "model.7", 2, 1)))
    for i in range(n_blocks):
        h = block(h, f"model.{10 + i}.")
    for i in (19, 22):
        h = F.conv_transpose2d(
            h, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], stride=2, padding=1, output_padding=1
        )
        h = F.relu(F.instance_norm(h))
    return torch.tanh(conv(F.pad(h, (3, 3, 3, 3), mode="reflect"), "model.26"))


def test_translate_is_the_resnet_generator_forward(released):
    sd, model = released
    x = make_batch(task_for("unpaired", 64), n=2)["x"]  # fully convolutional: small input
    with torch.no_grad():
        want = reference_resnet_g(x, sd)
        model.train()
        out_train = model.translate(x, target="zebra")
        model.eval()
        out_eval = model.translate(x, target=1)
    torch.testing.assert_close(out_eval, want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_train, want, atol=1e-5, rtol=1e-4)  # no stats, no dropout
    assert want.std() > 0.05  # not a saturated or constant output
    with pytest.raises(ValueError, match="only G_A"):
        model.translate(x, target=0)


def test_target_routes_each_input_to_its_generator():
    task = task_for("unpaired")
    model = baselines.build("cyclegan", config="tiny", task=task).eval()
    x = make_batch(task, n=4)["x"]
    with torch.no_grad():
        mixed = model.translate(x, target=torch.tensor([1, 0, 1, 0]))
        to_b, to_a = model.netG_A(x), model.netG_B(x)
        torch.testing.assert_close(model.translate(x, target="dog"), to_b)
        torch.testing.assert_close(model.translate(x, target=0), to_a)
    torch.testing.assert_close(mixed[0::2], to_b[0::2])
    torch.testing.assert_close(mixed[1::2], to_a[1::2])


def test_image_pool_follows_the_history_rule():
    torch.manual_seed(0)
    pool = ImagePool(3, (1, 1, 1))
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: every image comes straight back
    seen, from_history = set(range(3)), 0
    for v in range(3, 303):
        out = float(pool.query(torch.full((1, 1, 1, 1), float(v)))[0])
        assert out == v or out in seen
        from_history += out != v
        seen.add(v)
        assert len(set(pool.images.flatten().tolist())) == 3 and v in seen
    assert 100 < from_history < 200  # p = 0.5 of returning a stored image
    clone = ImagePool(3, (1, 1, 1))
    clone.load_state_dict(pool.state_dict())
    assert torch.equal(clone.images, pool.images) and int(clone.count) == 3


def test_paper_block_count_follows_image_size():
    def blocks(size):
        m = baselines.build("cyclegan", config="paper", task=TaskSpec(image_size=size))
        return sum(1 for k in m.netG_A.state_dict() if k.endswith("conv_block.1.weight"))

    assert blocks(128) == 6
    with pytest.raises(ValueError, match="divisible by 4"):
        baselines.build("cyclegan", config="tiny", task=TaskSpec(image_size=30))


def test_cyclegan_noise_uses_its_latent_and_test_time_dropout():
    task = task_for("unpaired", 64)  # 6 levels: one carries dropout (none at 32 px)
    model = baselines.build("cyclegan_noise", config="tiny", task=task).eval()
    nz = model.cfg.nz
    g = model.netG_A.model
    assert g.down[0].in_channels == 3 + nz  # noise at the input ...
    assert g.up[1].in_channels == 2 * g.down[0].out_channels + nz  # ... and in the decoder
    assert g.submodule.down[1].in_channels == g.down[0].out_channels  # not in the encoder
    x = make_batch(task, n=2)["x"]
    z1, z2 = torch.randn(2, nz), torch.randn(2, nz)
    with torch.no_grad():
        torch.manual_seed(0)
        a = model.translate(x, latent=z1)
        torch.manual_seed(0)
        b = model.translate(x, latent=z1)
        torch.manual_seed(0)
        c = model.translate(x, latent=z2)
        torch.manual_seed(1)
        d = model.translate(x, latent=z1)
        back = model.translate(x, target=0, latent=z1)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4  # the latent changes the output
    assert (a - d).abs().max() > 1e-4  # dropout stays on at test time (MUNIT's CycleGAN*)
    assert back.shape == x.shape and not model.training
    with pytest.raises(UserError, match="no released weights"):
        model.load_official({})


@pytest.mark.parametrize("name", ["cyclegan", "cyclegan_noise"])
def test_tiny_trains_at_64_px(name):
    task = task_for("unpaired", 64)
    model = baselines.build(name, config="tiny", task=task)
    losses = model.train_step(make_batch(task, n=2))
    assert {"cycle", "D_A", "D_B", "idt_A"} <= set(losses) and int(model.pool_A.count) == 2
