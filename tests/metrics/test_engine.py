"""prepare/evaluate end to end on a tiny in-memory protocol: registry, one pass, caching,
torch-fidelity equality, skipped standard weights, bad inputs."""

from __future__ import annotations

import re

import pytest
import torch
import torch_fidelity

import benchmark.features as features
from benchmark import metrics
from benchmark.features import INCEPTION_COMPAT, images_to_uint8
from tests.metrics.fixtures import prepare, samples, tiny_data, tiny_protocol

ALL = ("fid", "kid", "is", "cis", "prc", "lpips_diversity", "accuracy", "content")


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """No standard weights anywhere: the torch hub cache is an empty temp folder."""
    mp = pytest.MonkeyPatch()
    hub = tmp_path_factory.mktemp("hub")
    mp.setattr(features, "hub_checkpoints", lambda: hub)
    yield hub
    mp.undo()


@pytest.fixture(scope="module")
def setup(offline, tmp_path_factory):
    protocol = tiny_protocol(ALL, extractors=(INCEPTION_COMPAT,))
    data = tiny_data(protocol)
    cache = tmp_path_factory.mktemp("cache")
    ctx = prepare(protocol, data, torch.device("cpu"), cache)
    return protocol, data, cache, ctx


def _by(values, metric, extractor=None):
    return [
        v for v in values if v.metric == metric and (extractor is None or v.extractor == extractor)
    ]


def test_classifier_is_cached_by_content_and_reports_heldout_accuracy(setup, monkeypatch):
    protocol, data, cache, ctx = setup
    assert re.fullmatch(r"protocol:tiny@[0-9a-f]{12}", ctx.classifier.id)
    rep = ctx.classifier_report()
    assert rep[0].metric == "classifier_accuracy" and 0.0 <= rep[0].value <= 1.0
    assert rep[0].provenance["test_images"] == len(data.test) and rep[0].direction == "higher"
    import benchmark.classifier as clf

    monkeypatch.setattr(clf, "_train", lambda *a, **k: pytest.fail("retrained a cached model"))
    again = prepare(protocol, data, torch.device("cpu"), cache)
    assert again.classifier.id == ctx.classifier.id
    changed = tiny_data(protocol)
    changed.fingerprint = "tiny-fp-2"  # other data -> other key -> trains again
    with pytest.raises(pytest.fail.Exception):
        prepare(protocol, changed, torch.device("cpu"), cache)


def test_evaluate_one_pass_per_set_and_reference_features_cached_on_disk(setup):
    protocol, data, cache, _ = setup
    ctx = prepare(protocol, data, torch.device("cpu"), cache)
    ex = ctx.protocol_extractor
    s = samples(data, seed=0)
    values = metrics.evaluate(s, ctx)
    n_real = sum(len(t.real_target) for t in s)
    n_fake = sum(t.num_inputs * t.outputs_per_input for t in s)
    n_inputs = s[0].num_inputs  # both tasks share the same inputs: one forward
    assert ex.forward_images == n_real + n_fake + n_inputs
    assert ex.forward_calls == 2 + 2 + 1
    ok = {v.metric for v in values if v.status == "ok"}
    assert {
        "fid",
        "kid",
        "is",
        "cis",
        "prc_precision",
        "prc_recall",
        "feature_diversity",
        "accuracy_top1",
        "content",
        "content_pose",
    } <= ok
    # a second baseline against the same reference sets: no reference forward at all
    ctx2 = prepare(protocol, data, torch.device("cpu"), cache)
    metrics.evaluate(samples(data, seed=1), ctx2)
    assert ctx2.protocol_extractor.forward_images == n_fake + n_inputs
    assert ctx2.store.disk_hits == 2


def test_values_equal_torch_fidelity_with_the_registered_protocol_extractor(setup):
    protocol, data, cache, ctx = setup
    s = samples(data, seed=0, tasks=(("r2g", 1),))
    values = metrics.evaluate(s, ctx)
    fid = _by(values, "fid", ctx.classifier.id)[0]
    kid = _by(values, "kid", ctx.classifier.id)[0]
    isc = _by(values, "is", ctx.classifier.id)[0]

    class Images(torch.utils.data.Dataset):
        def __init__(self, x):
            self.x = images_to_uint8(x)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i]

    ref = torch_fidelity.calculate_metrics(
        input1=Images(s[0].flat_outputs()),
        input2=Images(s[0].real_target),
        feature_extractor=ctx.classifier.id,
        fid=True,
        kid=True,
        isc=True,
        cuda=False,
        kid_subset_size=kid.provenance["kid_subset_size"],
        verbose=False,
        cache=False,
        save_cpu_ram=True,
    )
    assert fid.value == pytest.approx(ref["frechet_inception_distance"], rel=1e-5)
    assert kid.value == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert isc.value == pytest.approx(ref["inception_score_mean"], rel=1e-5)


def test_missing_standard_weights_are_skipped_with_the_file_named(setup):
    _, data, _, ctx = setup
    values = metrics.evaluate(samples(data), ctx)
    fid = _by(values, "fid", INCEPTION_COMPAT)
    assert fid and fid[0].status == "skipped"
    assert "weights-inception-2015-12-05-6726825d.pth" in fid[0].reason
    lp = _by(values, "lpips_diversity")[0]
    assert lp.status == "skipped" and "alexnet-owt-7be5be79.pth" in lp.reason


def test_diverged_generator_fails_with_reason_and_unimodal_diversity_is_zero(setup):
    _, data, _, ctx = setup
    bad = samples(data)
    bad[1].outputs[0, 0, 0, 0, 0] = float("nan")
    values = metrics.evaluate(bad, ctx)
    assert values and all(v.status == "failed" for v in values)
    assert all("NaN" in v.reason and "r2b" in v.reason for v in values)
    det = samples(data, k=1)
    for t in det:
        t.multimodal = False
    div = {v.metric: v for v in metrics.evaluate(det, ctx) if "diversity" in v.metric}
    assert div["lpips_diversity"].value == 0.0 and div["feature_diversity"].value == 0.0


def test_metrics_rank_the_oracles(setup):
    """Realistic outputs beat noise on FID, accuracy and content."""
    _, data, _, ctx = setup
    good = metrics.evaluate(samples(data, noise=0.02), ctx)
    bad = samples(data, noise=0.02)
    for t in bad:
        t.outputs = torch.rand_like(t.outputs) * 2 - 1
    bad = metrics.evaluate(bad, ctx)
    pid = ctx.classifier.id
    assert _by(good, "fid", pid)[0].value < _by(bad, "fid", pid)[0].value
    assert _by(good, "content")[0].value < _by(bad, "content")[0].value
    assert _by(good, "accuracy_top1")[0].value >= _by(bad, "accuracy_top1")[0].value
