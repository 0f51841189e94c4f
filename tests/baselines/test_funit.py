"""FUNIT: the released file's keys, strict loading of both generators, the test path (EMA copy
``gen_test``, class code averaged over the K shots) against a functional re-derivation, and
the training pieces that differ from the shared components (EMA, calc_grad2)."""

from __future__ import annotations

import pytest
import torch

import baselines
from baselines.components.losses import r1_penalty
from tests.baselines import liu_reference as ref
from tests.baselines.fixtures import make_batch, manifest, random_state, task_for

MAN = manifest("funit_animalfaces_gen")
# manifest notes: GPPatchMcResDis(nf 64, n_res_blks 10, num_classes 119) has 54252599 params
DIS_PARAMS = 54252599


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The paper model loaded from a file shaped and wrapped like animal149_gen.pt, with
    different tensors for ``gen`` and ``gen_test``."""
    g = torch.Generator().manual_seed(0)
    gen, gen_test = random_state(MAN["state_dict"], g), random_state(MAN["state_dict"], g)
    path = tmp_path_factory.mktemp("funit") / "animal149_gen.pt"
    torch.save({"gen": gen, "gen_test": gen_test}, path)
    model = baselines.build("funit", config="paper", checkpoint=path)
    model.eval()
    return model, gen, gen_test


def _images(*shape, seed=1):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _expected(sd, x, shots):
    n, k = shots.shape[:2]
    codes = ref.style_encoder(sd, "enc_class_model", shots.reshape(n * k, *shots.shape[2:]), 4)
    code = codes.reshape(n, k, -1).mean(1)
    content = ref.content_encoder(sd, "enc_content", x, 3, 2)
    return ref.decoder(sd, "dec", content, 3, 2, "in", adain_params=ref.mlp(sd, "mlp", code, 3))


def test_paper_nets_have_the_release_keys_and_shapes(released):
    model = released[0]
    for gen in (model.gen, model.gen_test):
        shapes = {k: list(v.shape) for k, v in gen.state_dict().items()}
        assert shapes == MAN["state_dict"]
        assert sum(p.numel() for p in gen.parameters()) == MAN["params"]
    assert model.task.num_domains == 119
    assert sum(p.numel() for p in model.dis.parameters()) == DIS_PARAMS


def test_official_file_loads_both_generators_exactly(released):
    model, gen, gen_test = released
    for net, want in ((model.gen, gen), (model.gen_test, gen_test)):
        got = net.state_dict()
        assert set(got) == set(want)
        for k, v in want.items():
            assert torch.equal(got[k], v), k


def test_translate_uses_gen_test_and_the_mean_class_code(released):
    model, gen, gen_test = released
    x, shots = _images(2, 3, 32, 32), _images(2, 3, 3, 32, 32, seed=2)
    want = _expected(gen_test, x, shots)
    assert want.std() > 0.05
    with torch.no_grad():
        out = model.translate(x, reference=shots)
        torch.testing.assert_close(out, want, atol=1e-4, rtol=1e-4)
        assert (out - _expected(gen, x, shots)).abs().mean() > 1e-3  # not the training copy
        # the shots' order does not matter; one shot may come as (N, 3, S, S)
        torch.testing.assert_close(
            model.translate(x, reference=shots.flip(1)), out, atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(
            model.translate(x, reference=shots[:, 0]), model.translate(x, reference=shots[:, :1])
        )


def test_ema_copy_follows_update_average():
    model = baselines.build("funit", config="tiny", task=task_for("few_shot"))
    before = {k: v.clone() for k, v in model.gen_test.named_parameters()}
    model.train_step(make_batch(model.task))
    beta = model.ema_beta
    for k, p in model.gen_test.named_parameters():
        want = beta * before[k] + (1 - beta) * dict(model.gen.named_parameters())[k]
        torch.testing.assert_close(p, want, msg=k)


def test_gradient_penalty_equals_calc_grad2():
    """FUNIT's calc_grad2: sum over the batch of |d mean(D(x)) / dx|^2, divided by N."""
    model = baselines.build("funit", config="tiny", task=task_for("few_shot"))
    batch = make_batch(model.task)
    x = batch["x2"].clone().requires_grad_()
    resp, _ = model.dis(x, batch["y2"])
    (grad,) = torch.autograd.grad(resp.mean(), x, retain_graph=True)
    want = grad.pow(2).sum() / x.shape[0]
    got = 2.0 * r1_penalty(resp / resp.numel(), x)
    torch.testing.assert_close(got, want)


def test_discriminator_answers_for_the_given_class():
    model = baselines.build("funit", config="tiny", task=task_for("few_shot"))
    x, y = _images(3, 3, 32, 32), torch.tensor([0, 5, 2])
    with torch.no_grad():
        out, feat = model.dis(x, y)
        full = model.dis.cnn_c(feat)
    for i in range(3):
        assert torch.equal(out[i], full[i, y[i]])
