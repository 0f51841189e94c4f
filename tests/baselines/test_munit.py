"""MUNIT: the released file's keys, strict official loading (PyTorch-0.3 keys dropped), and the
test-script inference path (content of the source, style sampled / given / encoded by the
target domain, AdaIN parameters from the MLP) against a functional re-derivation."""

from __future__ import annotations

import pytest
import torch

import baselines
from baselines.base import TaskSpec
from tests.baselines import liu_reference as ref
from tests.baselines.fixtures import manifest

MAN = manifest("munit_edges2shoes_gen")
STYLE_DIM = MAN["config"]["gen"]["style_dim"]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The paper model loaded from a file shaped and wrapped like edges2shoes.pt."""
    path = tmp_path_factory.mktemp("munit") / "edges2shoes.pt"
    a, b = ref.write_ab_release(MAN, path)
    model = baselines.build("munit", config="paper", checkpoint=path)
    model.eval()
    return model, a, b


def _images(n=2, size=32, seed=1):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _expected(src, dst, x, style):
    content = ref.content_encoder(src, "enc_content", x, 2, 4)
    return ref.decoder(dst, "dec", content, 2, 4, "ln", adain_params=ref.mlp(dst, "mlp", style, 3))


def test_paper_generators_have_the_release_keys_and_shapes(released):
    model = released[0]
    for gen in (model.gen_a, model.gen_b):
        shapes = {k: list(v.shape) for k, v in gen.state_dict().items()}
        assert shapes == MAN["state_dict"]
        assert sum(p.numel() for p in gen.parameters()) == MAN["params"]


def test_official_file_loads_exactly(released):
    model, a, b = released
    for gen, want in ((model.gen_a, a), (model.gen_b, b)):
        got = gen.state_dict()
        assert set(got) == set(want)
        for k, v in want.items():
            assert torch.equal(got[k], v), k


def test_given_style_goes_through_the_mlp_into_adain(released):
    model, a, b = released
    x = _images()
    style = torch.randn(2, STYLE_DIM, 1, 1, generator=torch.Generator().manual_seed(2))
    want_ab, want_ba = _expected(a, b, x, style), _expected(b, a, x, style)
    assert want_ab.std() > 0.05
    with torch.no_grad():
        torch.testing.assert_close(model.translate(x, latent=style), want_ab, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(
            model.translate(x, latent=style.flatten(1), target="shoes"),
            want_ab,
            atol=1e-4,
            rtol=1e-4,
        )
        torch.testing.assert_close(
            model.translate(x, target=0, latent=style), want_ba, atol=1e-4, rtol=1e-4
        )


def test_reference_style_comes_from_the_target_domain_encoder(released):
    model, a, b = released
    x, refs = _images(), _images(seed=3)
    want = _expected(a, b, x, ref.style_encoder(b, "enc_style", refs, 4))
    with torch.no_grad():
        torch.testing.assert_close(model.translate(x, reference=refs), want, atol=1e-4, rtol=1e-4)


def test_sampled_styles_follow_the_global_seed_and_differ(released):
    model = released[0]
    x = _images()
    with torch.no_grad():
        torch.manual_seed(7)
        sampled = model.translate(x)
        torch.manual_seed(7)
        style = torch.randn(2, STYLE_DIM, 1, 1)
        torch.testing.assert_close(sampled, model.translate(x, latent=style))
        other = model.translate(x)
    assert (sampled - other).abs().mean() > 1e-3  # multimodal: a new code, a new image


def test_train_mode_is_the_same_function_and_adain_buffers_stay_dummy(released):
    model = released[0]
    x, style = _images(), torch.randn(2, STYLE_DIM)
    buffers = {k: v.clone() for k, v in model.gen_b.state_dict().items() if "running" in k}
    with torch.no_grad():
        evaluated = model.translate(x, latent=style)
        model.train()
        trained = model.translate(x, latent=style)
        model.eval()
    torch.testing.assert_close(trained, evaluated)
    for k, v in model.gen_b.state_dict().items():
        if "running" in k:
            assert torch.equal(v, buffers[k]), k


def test_tiny_runs_at_64_px():
    model = baselines.build("munit", config="tiny", task=TaskSpec(kind="paired", image_size=64))
    x = _images(size=64)
    losses = model.train_step({"x": x, "x2": x.flip(0)})
    assert set(losses) >= {"recon_x", "recon_s", "recon_c", "adv", "dis"}
    with torch.no_grad():
        assert model.translate(x, reference=x).shape == x.shape
