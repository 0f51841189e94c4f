"""pix2pix: released-G compatibility and the authors' test-time inference (test.py without
--eval: per-image batch statistics, dropout on), checked against a hand-written functional
U-Net that shares no code with baselines/components/junyanz.py."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

import baselines
from baselines.base import TaskSpec
from benchmark.errors import UserError
from tests.baselines.fixtures import make_batch, manifest, random_state, task_for

G_MANIFEST = manifest("pix2pix_unet256_G")
D_MANIFEST = manifest("pix2pix_patchgan_D")
NUM_DOWNS = 8  # unet_256


def _release(shapes: dict, seed: int, with_counters: bool) -> OrderedDict:
    """A G file as the authors' old-torch release: bare state_dict, maybe without the
    BatchNorm ``num_batches_tracked`` counters (torch < 0.4.1 did not write them)."""
    sd = OrderedDict()
    values = random_state(shapes, torch.Generator().manual_seed(seed))
    for key, t in values.items():
        if key.endswith("num_batches_tracked"):
            if with_counters:
                sd[key] = torch.tensor(1234, dtype=torch.long)
            continue
        sd[key] = t
    return sd


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The paper model built once, loaded from a legacy (counter-less) release file."""
    sd = _release(G_MANIFEST["state_dict"], seed=0, with_counters=False)
    path = tmp_path_factory.mktemp("pix2pix") / "edges2shoes.pth"
    torch.save(sd, path)
    return sd, baselines.build("pix2pix", config="paper", checkpoint=path)


def test_paper_state_dicts_match_the_authors_keys_and_shapes(released):
    _, model = released
    for net, ref in ((model.netG, G_MANIFEST), (model.netD, D_MANIFEST)):
        got = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert got == ref["state_dict"]
        assert sum(p.numel() for p in net.parameters()) == ref["params"]


def test_release_loads_exactly_and_counters_are_filled(released):
    sd, model = released
    state = model.netG.state_dict()
    for key, t in sd.items():
        assert torch.equal(state[key], t), key
    missing = set(G_MANIFEST["optional_keys_num_batches_tracked"])
    assert missing and not missing & set(sd)
    assert all(int(state[k]) == 0 for k in missing)


def test_release_with_counters_loads_too(tmp_path):
    sd = _release(G_MANIFEST["state_dict"], seed=1, with_counters=True)
    torch.save(sd, tmp_path / "g.pth")
    model = baselines.build("pix2pix", config="paper", checkpoint=tmp_path / "g.pth")
    key = G_MANIFEST["optional_keys_num_batches_tracked"][0]
    assert int(model.netG.state_dict()[key]) == 1234


def test_wrong_file_is_a_one_line_user_error(tmp_path):
    torch.save(
        random_state(D_MANIFEST["state_dict"], torch.Generator().manual_seed(0)), tmp_path / "d.pth"
    )
    with pytest.raises(UserError) as err:
        baselines.build("pix2pix", config="paper", checkpoint=tmp_path / "d.pth")
    assert "\n" not in str(err.value) and "d.pth" in str(err.value)


def _bn(h: torch.Tensor, sd: dict, key: str) -> torch.Tensor:
    """BatchNorm in train mode on a one-image batch: that image's own statistics."""
    return F.batch_norm(h, None, None, sd[f"{key}.weight"], sd[f"{key}.bias"], training=True)


def reference_unet(x: torch.Tensor, sd: dict, prefix: str = "model.model.", depth: int = 0):
    """UnetGenerator forward of networks.py, level by level from the state_dict keys."""

    def w(k: str) -> torch.Tensor:
        return sd[prefix + k]

    if depth == 0:
        h = F.conv2d(x, w("0.weight"), stride=2, padding=1)
        h = reference_unet(h, sd, prefix + "1.model.", 1)
        return torch.tanh(F.conv_transpose2d(F.relu(h), w("3.weight"), w("3.bias"), 2, 1))
    skip, x = x, F.leaky_relu(x, 0.2)
    if depth == NUM_DOWNS - 1:
        h = F.conv_transpose2d(
            F.relu(F.conv2d(x, w("1.weight"), stride=2, padding=1)),
            w("3.weight"),
            stride=2,
            padding=1,
        )
        h = _bn(h, sd, prefix + "4")
    else:
        h = _bn(F.conv2d(x, w("1.weight"), stride=2, padding=1), sd, prefix + "2")
        h = reference_unet(h, sd, prefix + "3.model.", depth + 1)
        h = _bn(F.conv_transpose2d(F.relu(h), w("5.weight"), stride=2, padding=1), sd, prefix + "6")
        if depth >= 4:  # the num_downs - 5 innermost 8*ngf levels carry Dropout(0.5)
            h = F.dropout(h, 0.5, training=True)
    return torch.cat([skip, h], 1)


def test_translate_is_the_authors_test_forward(released):
    sd, model = released
    model.eval()  # whatever mode the runner leaves, test.py's mode is used
    x = make_batch(task_for("paired", 256), n=2)["x"]
    before = {k: v.clone() for k, v in model.netG.state_dict().items()}
    torch.manual_seed(5)
    out = model.translate(x)
    torch.manual_seed(5)
    with torch.no_grad():
        ref = torch.cat([reference_unet(img[None], sd) for img in x])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
    # dropout is live at test time: another seed gives another output
    torch.manual_seed(6)
    assert (model.translate(x) - out).abs().max() > 1e-3
    # eval-mode batch norm (running statistics) would be a different function
    with torch.no_grad():
        assert (model.netG(x) - out).abs().max() > 1e-2
    # sampling changes no buffer and restores the caller's mode
    for k, v in model.netG.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not any(m.training for m in model.modules())


def test_other_sizes_and_wrong_direction():
    model = baselines.build("pix2pix", config="tiny", task=task_for("paired", 64))
    batch = make_batch(task_for("paired", 64), n=2)
    assert set(model.train_step(batch)) == {"G_GAN", "G_L1", "D"}
    assert model.translate(batch["x"]).shape == batch["x"].shape
    with pytest.raises(ValueError, match="A->B only"):
        model.translate(batch["x"], target=0)
    with pytest.raises(ValueError, match="power-of-two"):
        baselines.build("pix2pix", config="tiny", task=TaskSpec(kind="paired", image_size=48))
    paper128 = baselines.build(
        "pix2pix", config="paper", task=TaskSpec(kind="paired", image_size=128)
    )
    blocks = [k for k in paper128.netG.state_dict() if k.endswith("model.1.weight")]
    assert len(blocks) == 6  # unet_128: 7 downs, every level but the outermost has model.1
