"""DRIT: the paper configs match the authors' state_dict layout, the released checkpoint format
loads exactly, and translate() computes test.py / test_transfer.py's inference function
(checked against a hand-written functional forward built from the loaded tensors)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import baselines
from benchmark.errors import UserError
from tests.baselines.fixtures import make_batch, task_for
from tests.baselines.fixtures import manifest as load_manifest

RELEASED = ("enc_c", "enc_a", "gen")


def _random_release(manifest: dict, gen: torch.Generator) -> dict:
    """A file laid out as model.DRIT.save writes it, with random tensors of the manifest."""
    obj: dict = {k: {} for k in RELEASED}
    for key, shape in manifest["state_dict"].items():
        net, sub = key.split(".", 1)
        obj[net][sub] = torch.randn(shape, generator=gen) * 0.05
    return obj


@pytest.fixture(scope="module")
def concat0():
    torch.manual_seed(0)
    return baselines.build("drit", config="paper_concat0")


@pytest.fixture(scope="module")
def released(tmp_path_factory, concat0):
    """The paper model built from a released-format file (random weights), and that file."""
    gen = torch.Generator().manual_seed(0)
    obj = _random_release(load_manifest("drit_gen"), gen)
    for name in ("disA", "disA2", "disB", "disB2", "disContent"):  # same nets in both variants
        obj[name] = {k: v + 1.0 for k, v in getattr(concat0, name).state_dict().items()}
        obj[f"{name}_opt"] = {}
    obj.update(enc_c_opt={}, enc_a_opt={}, gen_opt={}, ep=1199, total_it=500000)
    path = tmp_path_factory.mktemp("drit") / "example.pth"
    torch.save(obj, path)
    model = baselines.build("drit", config="paper", checkpoint=path)
    return model, obj


# --- (1) official key compatibility ------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "manifest"), [("paper", "drit_gen"), ("paper_concat0", "drit_gen_concat0")]
)
def test_paper_state_dict_matches_manifest(config, manifest, released, concat0):
    model = released[0] if config == "paper" else concat0
    ref = load_manifest(manifest)
    ours = {k: list(v.shape) for k, v in model.state_dict().items() if k.split(".")[0] in RELEASED}
    assert ours == ref["state_dict"]
    # the discriminators the release also carries have the authors' sizes
    for name, info in ref["other_modules_in_checkpoint_not_dumped"].items():
        assert sum(p.numel() for p in getattr(model, name).parameters()) == info["params"], name
    assert model.config == config and model.task == baselines.get("drit").paper_task


# --- (2) the released file loads exactly ----------------------------------------------------
def test_released_file_loads_generators_exactly_and_skips_discriminators(released):
    model, obj = released
    for net in RELEASED:
        loaded = getattr(model, net).state_dict()
        assert loaded.keys() == obj[net].keys()
        for k, v in obj[net].items():
            assert torch.equal(loaded[k], v), f"{net}.{k}"
    # resume(train=False) does not touch the discriminators
    for k, v in model.disA.state_dict().items():
        assert not torch.equal(v, obj["disA"][k]), k


def test_wrong_files_raise_one_line_user_errors(tmp_path):
    model = baselines.build("drit", config="tiny", task=task_for("unpaired"))
    concat0_file = {"enc_c": {}, "gen": {}, "enc_a": {"model_a.1.weight": torch.zeros(1)}}
    for obj, needle in (
        ({"gen": {}}, "enc_c"),
        (concat0_file, "paper_concat0"),
        ({"enc_c": {}, "enc_a": {}, "gen": {}}, "drit"),
    ):
        path = tmp_path / "bad.pth"
        torch.save(obj, path)
        with pytest.raises(UserError, match=needle) as err:
            model.load(path)
        assert "\n" not in str(err.value)


# --- (3) the authors' inference function ---------------------------------------------------
def _conv(x, sd, key, stride=1, pad=0):
    if pad:
        x = F.pad(x, (pad,) * 4, mode="reflect")
    return F.conv2d(x, sd[f"{key}.weight"], sd[f"{key}.bias"], stride)


def _inorm(x):
    mean = x.mean((2, 3), keepdim=True)
    var = x.var((2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def _res(x, sd, p):
    h = torch.relu(_inorm(_conv(x, sd, f"{p}.model.1", pad=1)))
    return x + _inorm(_conv(h, sd, f"{p}.model.5", pad=1))


def _content(x, sd, dom):
    """E_content.forward_a/b in eval mode (GaussianNoiseLayer is the identity)."""
    h = F.leaky_relu(_conv(x, sd, f"conv{dom}.0.model.1", pad=3), 0.01)
    for i in (1, 2):
        h = torch.relu(_inorm(_conv(h, sd, f"conv{dom}.{i}.model.1", stride=2, pad=1)))
    for i in (3, 4, 5):
        h = _res(h, sd, f"conv{dom}.{i}")
    return _res(h, sd, "conv_share.0")


def _up(x, sd, p):
    h = F.conv_transpose2d(
        x, sd[f"{p}.model.0.weight"], sd[f"{p}.model.0.bias"], stride=2, padding=1, output_padding=1
    )
    mean = h.mean((1, 2, 3), keepdim=True)  # DRIT's LayerNorm: per sample over C, H, W
    var = h.var((1, 2, 3), unbiased=False, keepdim=True)
    h = (h - mean) / torch.sqrt(var + 1e-5) * sd[f"{p}.model.1.weight"] + sd[f"{p}.model.1.bias"]
    return torch.relu(h)


def _gen_concat(c, z, sd, dom):
    def tile(h):
        return torch.cat([h, z[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)

    h = tile(_res(c, sd, "dec_share.0"))
    for i in range(3):
        h = _res(h, sd, f"dec{dom}1.{i}")
    h = _up(tile(_up(tile(h), sd, f"dec{dom}2.0")), sd, f"dec{dom}3.0")
    return torch.tanh(
        F.conv_transpose2d(tile(h), sd[f"dec{dom}4.0.weight"], sd[f"dec{dom}4.0.bias"])
    )


def _attr_concat(r, sd, dom):
    """E_attr_concat.forward_a/b -> (mu, logvar)."""
    h = F.conv2d(
        F.pad(r, (1,) * 4, mode="reflect"), sd[f"conv_{dom}.1.weight"], sd[f"conv_{dom}.1.bias"], 2
    )
    for i in (2, 3, 4):
        p = f"conv_{dom}.{i}"
        c = _conv(F.leaky_relu(h, 0.2), sd, f"{p}.conv.2", pad=1)
        c = F.avg_pool2d(_conv(F.leaky_relu(c, 0.2), sd, f"{p}.conv.4.1", pad=1), 2)
        h = c + _conv(F.avg_pool2d(h, 2), sd, f"{p}.shortcut.1")
    h = F.leaky_relu(h, 0.2).mean((2, 3))
    return (
        F.linear(h, sd[f"fc_{dom}.0.weight"], sd[f"fc_{dom}.0.bias"]),
        F.linear(h, sd[f"fcVar_{dom}.0.weight"], sd[f"fcVar_{dom}.0.bias"]),
    )


@pytest.mark.parametrize(
    ("target", "src", "dst"), [(1, "A", "B"), ("winter", "A", "B"), (0, "B", "A")]
)
def test_latent_guided_translation_is_test_forward(released, target, src, dst):
    model, obj = released
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    z = torch.randn(2, 8, generator=g)
    model.train()  # translate must switch the content noise off itself (test.py: model.eval())
    with torch.no_grad():
        out = model.translate(x, target=target, latent=z)
        content = _content(x, obj["enc_c"], src)
        want = _gen_concat(content, z, obj["gen"], dst)
        model.enc_c.train()  # in train mode the shared layer adds N(0, 1) noise
        noisy = model.enc_c.forward_a(x) if src == "A" else model.enc_c.forward_b(x)
    assert torch.allclose(out, want, atol=1e-4), (out - want).abs().max()
    assert (noisy - content).abs().mean() > 0.5


def test_latent_is_sampled_from_the_standard_normal_prior(released):
    model, _ = released
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(7)
        sampled = model.translate(x, target=1)
        again = model.translate(x, target=1)
        torch.manual_seed(7)
        explicit = model.translate(x, target=1, latent=torch.randn(3, 8))
    assert torch.allclose(sampled, explicit, atol=1e-6)
    assert not torch.allclose(sampled, again, atol=1e-3)  # multimodal


def test_reference_guided_translation_is_test_forward_transfer(released):
    """The attribute of a target-domain reference, z = mu + eps * std (E_attr_concat)."""
    model, obj = released
    g = torch.Generator().manual_seed(2)
    x, ref = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        torch.manual_seed(3)
        out = model.translate(x, target=1, reference=ref)
        mu, logvar = _attr_concat(ref, obj["enc_a"], "B")
        torch.manual_seed(3)
        z = mu + torch.randn(2, 8) * torch.exp(0.5 * logvar)
        want = _gen_concat(_content(x, obj["enc_c"], "A"), z, obj["gen"], "B")
    assert torch.allclose(out, want, atol=1e-4), (out - want).abs().max()


def _mis_block(x, zs, sd, p):
    def mix(h, key):
        h = torch.relu(F.conv2d(h, sd[f"{key}.0.weight"], sd[f"{key}.0.bias"]))
        return torch.relu(F.conv2d(h, sd[f"{key}.2.weight"], sd[f"{key}.2.bias"]))

    zt = zs[:, :, None, None].expand(-1, -1, *x.shape[2:])
    o2 = mix(torch.cat([_inorm(_conv(x, sd, f"{p}.conv1.0.1", pad=1)), zt], 1), f"{p}.blk1")
    return x + mix(torch.cat([_inorm(_conv(o2, sd, f"{p}.conv2.0.1", pad=1)), zt], 1), f"{p}.blk2")


def test_concat0_generator_injects_the_mlp_code_into_each_block(concat0):
    sd = {k: v.detach() for k, v in concat0.gen.state_dict().items()}
    g = torch.Generator().manual_seed(4)
    c, z = torch.randn(2, 256, 4, 4, generator=g), torch.randn(2, 8, generator=g)
    h = torch.relu(F.linear(z, sd["mlpB.0.weight"], sd["mlpB.0.bias"]))
    h = torch.relu(F.linear(h, sd["mlpB.2.weight"], sd["mlpB.2.bias"]))
    zs = F.linear(h, sd["mlpB.4.weight"], sd["mlpB.4.bias"]).split(256, dim=1)
    want = c
    for i in range(4):
        want = _mis_block(want, zs[i], sd, f"decB{i + 1}")
    want = _up(_up(want, sd, "decB5.0"), sd, "decB5.1")
    want = torch.tanh(F.conv_transpose2d(want, sd["decB5.2.weight"], sd["decB5.2.bias"]))
    with torch.no_grad():
        out = concat0.gen.forward_b(c, z)
    assert torch.allclose(out, want, atol=1e-5), (out - want).abs().max()


def test_concat0_reference_code_is_deterministic(concat0):
    x, ref = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        a = concat0.translate(x, target=0, reference=ref)
        b = concat0.translate(x, target=0, reference=ref)
        z = concat0.enc_a.forward_a(ref)
        want = concat0.gen.forward_a(concat0.enc_c.forward_b(x), z)
    assert z.shape == (2, 8)
    assert torch.equal(a, b) and torch.allclose(a, want, atol=1e-6)


# --- sizes -------------------------------------------------------------------------------------
def test_paper_config_refuses_images_its_content_discriminator_cannot_see():
    with pytest.raises(ValueError, match="content discriminator"):
        baselines.build("drit", config="paper", task=task_for("unpaired", size=64))
    with pytest.raises(ValueError, match="divisible by 4"):
        baselines.build("drit", config="tiny", task=task_for("unpaired", size=34))


def test_tiny_trains_and_translates_at_64px():
    torch.manual_seed(0)
    task = task_for("paired", size=64)
    model = baselines.build("drit", config="tiny", task=task)
    losses = model.train_step(make_batch(task, n=2))
    assert {"l1_self", "l1_cc", "l1_latent", "kl_za", "d_content"} <= losses.keys()
    with torch.no_grad():
        out = model.translate(torch.rand(2, 3, 64, 64) * 2 - 1, target=torch.tensor([0, 1]))
    assert out.shape == (2, 3, 64, 64)
