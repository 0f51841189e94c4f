"""StarGAN: released-weight compatibility (yunjey/stargan 200000-G.ckpt / -D.ckpt), the official
test path (instance statistics: solver.test never calls G.eval()), and solver.py's training rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import baselines
from baselines.base import TaskSpec
from baselines.stargan import CONFIGS
from benchmark.errors import UserError
from tests.baselines.fixtures import make_batch, manifest, task_for

G_MANIFEST = manifest("stargan_celeba_G")
D_MANIFEST = manifest("stargan_celeba_D")
NBT = "num_batches_tracked"


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state.items()}


def _random_state(manifest: dict, seed: int, with_nbt: bool) -> dict[str, torch.Tensor]:
    """Tensors of the manifest's keys and shapes, with IN running stats far from (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in manifest["state_dict"].items():
        if key.endswith(NBT):
            if with_nbt:
                state[key] = torch.tensor(200000)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) * 4 + 2
        elif key.endswith("running_mean"):
            state[key] = torch.randn(shape, generator=g) * 3
        elif len(shape) == 1:  # IN affine weight / bias, conv bias
            state[key] = 1 + 0.2 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=g) / fan_in**0.5
    return state


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """Released-format files: G as an old torch wrote it (no num_batches_tracked), and D."""
    root = tmp_path_factory.mktemp("stargan_release")
    files = {
        "G_old": _random_state(G_MANIFEST, 0, with_nbt=False),
        "G_new": _random_state(G_MANIFEST, 1, with_nbt=True),
        "D": _random_state(D_MANIFEST, 2, with_nbt=False),
    }
    paths = {}
    for name, state in files.items():
        paths[name] = root / f"200000-{name}.ckpt"
        torch.save(state, paths[name])
    return files, paths


@pytest.fixture(scope="module")
def model(official):
    files, paths = official
    m = baselines.build("stargan", config="paper", checkpoint=paths["G_old"])
    m.load(paths["D"])
    return m


def test_paper_config_matches_released_keys_and_shapes(model):
    assert _shapes(model.G.state_dict()) == G_MANIFEST["state_dict"]
    assert _shapes(model.D.state_dict()) == D_MANIFEST["state_dict"]
    assert sum(p.numel() for p in model.G.parameters()) == G_MANIFEST["params"]
    assert sum(p.numel() for p in model.D.parameters()) == D_MANIFEST["params"]
    assert model.task.image_size == D_MANIFEST["config"]["image_size"]
    assert model.c_dim == G_MANIFEST["config"]["c_dim"]


def test_released_files_load_exactly(model, official, tmp_path):
    files, paths = official
    for key, value in model.G.state_dict().items():
        if key.endswith(NBT):  # absent from the old file: the module's own counter stays
            assert int(value) == 0, key
        else:
            assert torch.equal(value, files["G_old"][key]), key
    for key, value in model.D.state_dict().items():
        assert torch.equal(value, files["D"][key]), key
    # a file from torch >= 0.4.1 carries the counters and loads them too
    newer = baselines.build("stargan", config="paper", checkpoint=paths["G_new"])
    for key, value in newer.G.state_dict().items():
        assert torch.equal(value, files["G_new"][key]), key


def test_wrong_files_are_user_errors(official, tmp_path):
    files, _ = official
    bad_shape = dict(files["D"], **{"conv2.weight": torch.zeros(5, 2048, 4, 4)})  # 256 px D
    missing = {k: v for k, v in files["G_new"].items() if k != "main.0.weight"}
    for i, bad in enumerate([bad_shape, missing, [1, 2, 3]]):
        path = tmp_path / f"bad{i}.ckpt"
        torch.save(bad, path)
        with pytest.raises(UserError, match="does not match stargan"):
            baselines.build("stargan", config="paper", checkpoint=path)


def _functional_generator(state: dict, x: torch.Tensor, c: torch.Tensor, running: bool):
    """model.py's Generator written with torch.nn.functional; ``running`` normalises with the
    stored running statistics (what G.eval() would do) instead of each image's own."""

    def norm(h, prefix):
        mean = state[prefix + ".running_mean"] if running else None
        var = state[prefix + ".running_var"] if running else None
        w, b = state[prefix + ".weight"], state[prefix + ".bias"]
        return F.instance_norm(h, mean, var, w, b, use_input_stats=not running, eps=1e-5)

    h = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
    h = F.relu(norm(F.conv2d(h, state["main.0.weight"], padding=3), "main.1"))
    for conv, nrm in (("main.3", "main.4"), ("main.6", "main.7")):
        h = F.relu(norm(F.conv2d(h, state[conv + ".weight"], stride=2, padding=1), nrm))
    for i in range(9, 15):
        p = f"main.{i}.main"
        r = F.relu(norm(F.conv2d(h, state[p + ".0.weight"], padding=1), p + ".1"))
        h = h + norm(F.conv2d(r, state[p + ".3.weight"], padding=1), p + ".4")
    for conv, nrm in (("main.15", "main.16"), ("main.18", "main.19")):
        up = F.conv_transpose2d(h, state[conv + ".weight"], stride=2, padding=1)
        h = F.relu(norm(up, nrm))
    return torch.tanh(F.conv2d(h, state["main.21.weight"], padding=3))


def test_translate_is_the_official_test_path(model, official):
    """solver.test: G(x, c_trg) in train mode -> instance statistics, stored stats unused."""
    state = official[0]["G_old"]
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.tensor([[0.0, 1, 0, 1, 0], [1, 0, 0, 0, 1]])
    buffers = {k: v.clone() for k, v in model.G.named_buffers()}
    for mode in (False, True):  # the runner's eval mode, and train mode mid-training
        model.train(mode)
        with torch.no_grad():
            out = model.translate(x, target=c)
        assert model.G.training is mode
        expected = _functional_generator(state, x, c, running=False)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    for k, v in model.G.named_buffers():
        assert torch.equal(v, buffers[k]), f"translate changed buffer {k}"
    # the claim matters: running statistics (G.eval() in plain torch) give another image
    eval_like = _functional_generator(state, x, c, running=True)
    assert (eval_like - expected).abs().mean() > 0.05
    # the label is part of the input: another target, another image
    other = model.translate(x, target=1 - c)
    assert (other - out).abs().mean() > 1e-3


def test_paper_config_other_sizes():
    cls = baselines.get("stargan")
    m = cls(TaskSpec(kind="attributes", image_size=256, attributes=("Male",)), "paper")
    assert list(m.D.conv2.weight.shape) == [1, 2048, 4, 4]  # the 256 px release's classifier
    with pytest.raises(ValueError, match="divisible by 2"):
        cls(TaskSpec(kind="attributes", image_size=96, attributes=("Male",)), "paper")


def _bce_sum_over_n(logit: np.ndarray, label: np.ndarray) -> float:
    p = 1 / (1 + np.exp(-logit))
    return float(-(label * np.log(p) + (1 - label) * np.log(1 - p)).sum() / len(logit))


def test_classification_losses_follow_solver():
    """CelebA: BCE summed over attributes / N; domains (RaFD/AFHQ): softmax cross entropy."""
    torch.manual_seed(0)
    logit = torch.randn(4, 5, dtype=torch.float64)
    attrs = torch.randint(2, (4, 5)).double()
    m = baselines.build("stargan", config="tiny", task=task_for("attributes"))
    assert m._cls_loss(logit, attrs).item() == pytest.approx(
        _bce_sum_over_n(logit.numpy(), attrs.numpy()), rel=1e-9
    )
    m = baselines.build("stargan", config="tiny", task=task_for("multi_domain"))
    logit3, y = logit[:, :3], torch.tensor([0, 2, 1, 2])
    z = logit3.numpy()
    ce = -(z[np.arange(4), y.numpy()] - np.log(np.exp(z).sum(1))).mean()
    assert m._cls_loss(logit3, y).item() == pytest.approx(float(ce), rel=1e-9)
    onehot = m._target_vector(torch.tensor([2, 0, 1, 1]), 4)
    assert onehot.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert m._target_vector("dog", 2).tolist() == [[0, 1, 0], [0, 1, 0]]


def test_paper_n_critic():
    """n_critic 5: G moves only on every 5th iteration, on the tiny nets (the rule does not
    depend on their width). The lr decay lives in paper_schedule (tests/baselines/
    test_schedule.py replays solver.py's)."""
    paper = CONFIGS["paper"]
    assert (paper.n_critic, paper.lambda_cls, paper.lambda_rec, paper.lambda_gp) == (5, 1, 10, 10)
    assert (paper.lr, paper.betas) == (1e-4, (0.5, 0.999))
    task = task_for("multi_domain")
    torch.manual_seed(0)
    m = baselines.build("stargan", config="tiny", task=task)
    m.cfg = dataclasses.replace(CONFIGS["tiny"], n_critic=5)
    batch = make_batch(task, n=2)
    g0 = [p.detach().clone() for p in m.G.parameters()]
    for i in range(5):
        losses = m.train_step(batch)
        g_moved = any(not torch.equal(a, b) for a, b in zip(g0, m.G.parameters()))
        assert ("G/loss_rec" in losses) is (i == 4) and g_moved is (i == 4)
        assert "D/loss_gp" in losses and np.isfinite(list(losses.values())).all()


def test_training_targets_are_a_permutation_of_batch_labels(monkeypatch):
    """solver.py draws target labels as label_org[randperm(N)]."""
    task = task_for("attributes")
    m = baselines.build("stargan", config="tiny", task=task)
    batch = make_batch(task, n=4)
    seen = []
    real_g = m.G.forward
    monkeypatch.setattr(m.G, "forward", lambda x, c: (seen.append(c.clone()), real_g(x, c))[1])
    torch.manual_seed(3)
    perm = torch.randperm(4)
    torch.manual_seed(3)
    m.train_step(batch)
    assert torch.equal(seen[0], batch["a"][perm])  # D step: G(x, c_trg)
    assert torch.equal(seen[-1], batch["a"])  # G step: reconstruction G(x_fake, c_org)
