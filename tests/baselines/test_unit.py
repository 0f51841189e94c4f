"""UNIT: the released file's keys, strict official loading (PyTorch-0.3 keys dropped), and the
test-script inference path (mean latent, no noise) against a functional re-derivation."""

from __future__ import annotations

import pytest
import torch

import baselines
from baselines.base import TaskSpec
from benchmark.errors import UserError
from tests.baselines import liu_reference as ref
from tests.baselines.fixtures import manifest

MAN = manifest("unit_gen")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The paper model loaded from a file shaped and wrapped like unit_gta2city.pt."""
    path = tmp_path_factory.mktemp("unit") / "unit_gta2city.pt"
    a, b = ref.write_ab_release(MAN, path)
    model = baselines.build("unit", config="paper", checkpoint=path)
    return model, a, b, path


def _inputs(n=2, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_paper_generators_have_the_release_keys_and_shapes(released):
    model = released[0]
    for gen in (model.gen_a, model.gen_b):
        shapes = {k: list(v.shape) for k, v in gen.state_dict().items()}
        assert shapes == MAN["state_dict"]
        assert sum(p.numel() for p in gen.parameters()) == MAN["params"]


def test_official_file_loads_exactly(released):
    model, a, b, _ = released
    for gen, want in ((model.gen_a, a), (model.gen_b, b)):
        got = gen.state_dict()
        assert set(got) == set(want)
        for k, v in want.items():
            assert torch.equal(got[k], v), k


def test_translate_decodes_the_mean_latent_like_test_py(released):
    model, a, b, _ = released
    x = _inputs()
    ab = ref.decoder(b, "dec", ref.content_encoder(a, "enc", x, 2, 4), 2, 4, "ln")
    ba = ref.decoder(a, "dec", ref.content_encoder(b, "enc", x, 2, 4), 2, 4, "ln")
    assert ab.std() > 0.05  # not a saturated or constant image
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.translate(x), ab, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(
            model.translate(x, target="cityscapes"), ab, atol=1e-4, rtol=1e-4
        )
        torch.testing.assert_close(model.translate(x, target=0), ba, atol=1e-4, rtol=1e-4)
        # no sampling noise at test time, and train mode changes nothing (no running stats)
        model.train()
        torch.manual_seed(5)
        again = model.translate(x)
        model.eval()
    torch.testing.assert_close(again, ab, atol=1e-4, rtol=1e-4)


def test_wrong_files_are_one_line_user_errors(released, tmp_path):
    path = released[3]
    tiny = baselines.build("unit", config="tiny", task=TaskSpec(image_size=32))
    with pytest.raises(UserError) as err:
        tiny.load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    half = tmp_path / "half.pt"
    torch.save({"a": released[1]}, half)
    with pytest.raises(UserError, match="'a'"):
        tiny.load(half)


def test_sizes_that_do_not_fit_raise_value_error():
    with pytest.raises(ValueError, match="image size 30"):
        baselines.build("unit", config="tiny", task=TaskSpec(image_size=30))
    with pytest.raises(ValueError, match="at least 64"):
        baselines.build("unit", config="paper", task=TaskSpec(image_size=32))


def test_tiny_runs_at_64_px():
    model = baselines.build("unit", config="tiny", task=TaskSpec(image_size=64))
    x = _inputs(size=64)
    model.train_step({"x": x, "x2": x.flip(0)})
    with torch.no_grad():
        assert model.translate(x, target=0).shape == x.shape
