"""Every registered baseline, tiny config, on every task kind it supports: the Translator
contract (shapes, range, learning on a fixed batch, checkpoint round trip and resume)."""

from __future__ import annotations

import pytest
import torch

import baselines
from tests.baselines.fixtures import make_batch, task_for, translate_kwargs


def _cases(chosen: list[str], trainable_only: bool) -> list[tuple[str, str]]:
    """(baseline, task kind) pairs: every registered baseline, or those named by --baseline."""
    names = dict.fromkeys(baselines.get(n).name for n in chosen or baselines.names())
    return [
        (name, kind)
        for name in names
        for kind in sorted(baselines.get(name).supports)
        if baselines.get(name).trainable or not trainable_only
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"name", "kind"} <= set(metafunc.fixturenames):
        trainable = getattr(metafunc.function, "trainable_only", False)
        chosen = metafunc.config.getoption("baseline")
        metafunc.parametrize(("name", "kind"), _cases(chosen, trainable))


def trainable_only(test):
    """The test needs a method that trains (oracles are skipped)."""
    test.trainable_only = True
    return test


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_translate_shape_and_range(name, kind):
    task = task_for(kind)
    model = baselines.build(name, config="tiny", task=task)
    batch = make_batch(task)
    model.prepare(_FakeData(task, batch)) if not model.trainable else None
    model.eval()
    with torch.no_grad():
        out = model.translate(batch["x"], **translate_kwargs(task, batch["x"]))
    assert out.shape == batch["x"].shape
    assert torch.isfinite(out).all()
    assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5


@trainable_only
def test_training_changes_weights_and_lowers_monitored_loss(name, kind):
    task = task_for(kind)
    model = baselines.build(name, config="tiny", task=task)
    assert model.monitor_loss, f"{name} must name the loss that falls on a fixed batch"
    batch = make_batch(task)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    first = model.train_step(batch)
    assert model.monitor_loss in first
    assert all(isinstance(v, float) for v in first.values())
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "one training step changed no weight"
    for _ in range(15):
        last = model.train_step(batch)
    assert last[model.monitor_loss] < first[model.monitor_loss]
    assert model.step == 16


@trainable_only
def test_checkpoint_round_trip_and_resume(name, kind, tmp_path):
    task = task_for(kind)
    batch = make_batch(task)
    model = baselines.build(name, config="tiny", task=task)
    model.train()
    model.train_step(batch)
    path = tmp_path / "ckpt.pt"
    model.save(path)
    clone = baselines.build(name, config="tiny", task=task, checkpoint=path)
    assert clone.step == model.step
    for (k, a), b in zip(model.state_dict().items(), clone.state_dict().values()):
        assert torch.equal(a, b), k
    # resume: the same next step from both gives the same weights (optimizer state restored)
    torch.manual_seed(1)
    model.train_step(batch)
    torch.manual_seed(1)
    clone.train()
    clone.train_step(batch)
    for (k, a), b in zip(model.state_dict().items(), clone.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), k


class _FakeData:
    """Just enough of ProtocolData for oracles' prepare()."""

    def __init__(self, task, batch):
        from protocols.base import Item, Split

        n = batch["x"].shape[0]
        imgs = torch.cat([batch["x"], batch["x2"]])
        items = []
        for i in range(2 * n):
            dom = (
                int(i >= n) if task.kind in ("paired", "unpaired") else i % max(task.num_domains, 1)
            )
            attrs = tuple(int(v) for v in torch.randint(2, (len(task.attributes),))) or None
            pair = i + n if (task.kind == "paired" and i < n) else None
            items.append(Item(path=f"{i}.png", domain=dom, attrs=attrs, pair=pair))
        self.train = self.test = Split("test", items)
        self._imgs = imgs

    def image(self, item):
        return self._imgs[int(item.path.split(".")[0])]

    def images(self, items):
        return torch.stack([self.image(it) for it in items])
