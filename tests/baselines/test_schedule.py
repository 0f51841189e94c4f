"""Training schedules against the authors' loops run with torch's own schedulers (or, for
StarGAN, solver.py's arithmetic replayed step by step), and every baseline's paper schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR, StepLR

import baselines
from baselines.schedule import Schedule, constant, set_lr


def _opt(lr: float = 2e-4) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_junyanz_linear_matches_lambdalr_stepped_after_each_epoch():
    """BicycleGAN train.py: LambdaLR(lambda_rule) with epoch_count 1, ``update_learning_rate``
    after every epoch of ceil(N / batch) iterations; niter 30, niter_decay 30."""
    niter, niter_decay, n, bs = 30, 30, 7, 2
    opt = _opt()
    sched = LambdaLR(opt, lambda e: 1.0 - max(0, e + 1 - niter) / float(niter_decay + 1))
    ours = Schedule(60, batch_size=bs, unit="epochs", decay="linear", decay_start=30, offset=1)
    per_epoch = math.ceil(n / bs)
    assert ours.total_steps(n) == (niter + niter_decay) * per_epoch
    step = 0
    for _epoch in range(niter + niter_decay):
        for _ in range(per_epoch):
            assert ours.lr_factor(step, n) * 2e-4 == pytest.approx(opt.param_groups[0]["lr"])
            step += 1
        opt.step()  # no gradients: a no-op, in the authors' order
        sched.step()
    assert ours.lr_factor(step - 1, n) == pytest.approx(1 / 31)  # never exactly 0


def test_drit_linear_counts_full_updates_and_stops_at_max_it():
    """DRIT: lambda rule over n_ep epochs from n_ep_decay; an epoch is ceil(N / 2) loader
    batches, a third of them full updates (d_iter 3); training stops at max_it updates."""
    n_ep, n_ep_decay, n = 12, 6, 30
    opt = _opt(1e-4)
    sched = LambdaLR(opt, lambda ep: 1.0 - max(0, ep - n_ep_decay) / float(n_ep - n_ep_decay + 1))
    ours = Schedule(
        n_ep, 2, unit="epochs", decay="linear", decay_start=n_ep_decay, batches_per_step=3
    )
    full_updates, step = [], 0
    for _ep in range(n_ep):
        for it in range(math.ceil(n / 2)):
            if (it + 1) % 3 == 0:  # update_D + update_EG
                full_updates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert ours.total_steps(n) == len(full_updates) == n_ep * 5
    for step, lr in enumerate(full_updates):
        assert ours.lr_factor(step, n) * 1e-4 == pytest.approx(lr)
    capped = Schedule(n_ep, 2, unit="epochs", batches_per_step=3, max_steps=17)
    assert capped.total_steps(n) == 17


def test_munit_step_decay_matches_steplr_stepped_before_each_iteration():
    """MUNIT train.py: ``trainer.update_learning_rate()`` (StepLR.step) before the updates."""
    opt = _opt(1e-4)
    sched = StepLR(opt, step_size=10, gamma=0.5)
    ours = Schedule(100, batch_size=1, decay="step", every=10, gamma=0.5, offset=1)
    opt.step()
    for it in range(100):
        sched.step()
        assert ours.lr_factor(it) * 1e-4 == pytest.approx(opt.param_groups[0]["lr"])
    assert ours.lr_factor(8) == 1.0 and ours.lr_factor(9) == 0.5  # iteration 10 (1-based)


def test_stargan_decay_replays_solver_py():
    """solver.train, as written: after iteration i+1 with (i+1) % 1000 == 0 and i+1 > 100000,
    g_lr -= g_lr0 / num_iters_decay (so the rate ends 0.1% lower, not at 0)."""
    sched = baselines.get("stargan").paper_schedule
    lr0 = g_lr = 1e-4
    for i in range(sched.length):
        assert sched.lr_factor(i) * lr0 == pytest.approx(g_lr, rel=1e-12), i
        if (i + 1) % 1000 == 0 and (i + 1) > (200_000 - 100_000):
            g_lr -= lr0 / float(100_000)
    assert sched.lr_factor(sched.length - 1) == pytest.approx(1 - 99 / 100_000)


def test_set_lr_keeps_each_groups_initial_rate_through_a_checkpoint():
    g = torch.nn.Parameter(torch.zeros(1))
    f = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([{"params": [g]}, {"params": [f], "lr": 1e-6}], lr=1e-4)
    set_lr({"G": opt}, 0.5)
    assert [grp["lr"] for grp in opt.param_groups] == [5e-5, 5e-7]
    fresh = torch.optim.Adam([{"params": [g]}, {"params": [f], "lr": 1e-6}], lr=1e-4)
    fresh.load_state_dict(opt.state_dict())
    set_lr({"G": fresh}, 0.25)
    assert [grp["lr"] for grp in fresh.param_groups] == [2.5e-5, 2.5e-7]


def test_constant_schedule_and_bad_schedules():
    c = constant(60, 8, "preset quick")
    assert c.total_steps() == 60 and {c.lr_factor(s) for s in range(60)} == {1.0}
    with pytest.raises(ValueError, match="training set size"):
        Schedule(3, 1, unit="epochs").total_steps(0)
    with pytest.raises(ValueError):
        Schedule(3, 1, decay="cosine")
    with pytest.raises(ValueError):
        Schedule(0, 1)


@pytest.mark.parametrize("name", baselines.names())
def test_every_trainable_baseline_has_a_cited_paper_schedule(name):
    cls = baselines.get(name)
    if not cls.trainable:
        assert cls.paper_schedule is None
        return
    s = cls.paper_schedule
    assert s is not None and s.source, f"{name} needs a paper_schedule with its source"
    assert s.total_steps(50_000) >= 10_000  # a paper-length run, not a CPU budget
