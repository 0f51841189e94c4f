"""The task-kind strategies of ``benchmark.plan``: each kind's TaskSpec, epoch size, training
batches and evaluation tasks, found by name, with the RNG draws in their fixed order (a grid's
numbers depend on them, so the order is pinned here by replaying it).

Samplers run on hand-made splits whose ``images`` returns each item's index, so a batch shows
exactly which items were drawn; evaluation tasks run on the synthetic twins.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import numpy as np
import pytest
import torch

import protocols
from baselines.base import TaskSpec, Translator
from benchmark import plan
from benchmark.plan import KINDS, kind_of
from protocols.base import KINDS as PROTOCOL_KINDS
from protocols.base import Item, Protocol, ProtocolData, Split

ALL_KINDS = ("paired", "unpaired", "multi_domain", "few_shot", "attributes")


# --- hand-made data: an item's image is its index ---------------------------------------------
def _data(items: list[Item], protocol: str = "edges2shoes", test: list[Item] | None = None):
    data = ProtocolData(
        protocol=protocols.get(protocol).spec(image_size=8),
        root=Path("."),
        train=Split("train", items),
        test=Split("test", test or []),
        class_names=[f"class{i}" for i in range(8)],
        fingerprint="",
        synthetic=True,
        loader=None,  # never called: images is replaced
    )
    data.images = lambda chosen: torch.tensor([int(it.path) for it in chosen])
    return data


def _paired_data() -> ProtocolData:
    """Three aligned pairs: A_i at i, B_i at 3 + i."""
    a = [Item(str(i), 0, pair=3 + i) for i in range(3)]
    b = [Item(str(3 + i), 1, pair=i) for i in range(3)]
    return _data(a + b)


def _three_domains() -> ProtocolData:
    """Domain 0 has items 0-2, domain 1 items 3-7, domain 2 items 8-9."""
    sizes = {0: 3, 1: 5, 2: 2}
    domains = [d for d, n in sizes.items() for _ in range(n)]
    return _data([Item(str(i), d) for i, d in enumerate(domains)])


def _labelled(attrs: bool = False) -> ProtocolData:
    """Classes 0, 2 and 5 (not 0..n-1: labels are their positions), with attribute vectors."""
    classes = [0, 0, 2, 2, 2, 5]
    return _data(
        [Item(str(i), c, attrs=(i % 2, c % 2) if attrs else None) for i, c in enumerate(classes)],
        protocol="celeba_attributes" if attrs else "afhq",
    )


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- lookup and flags ----------------------------------------------------------------------
def test_every_kind_is_found_by_its_name():
    assert tuple(KINDS) == ALL_KINDS
    for name in ALL_KINDS:
        assert kind_of(name).name == name
    assert set(PROTOCOL_KINDS) < set(KINDS)  # unpaired: a training kind only


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown task kind 'nope'; known: paired, unpaired"):
        kind_of("nope")
    with pytest.raises(ValueError, match="unknown task kind"):
        plan.epoch_size(_paired_data(), "nope")


def test_flags_belong_to_their_kinds():
    assert [k for k in ALL_KINDS if kind_of(k).multi_label] == ["attributes"]
    assert [k for k in ALL_KINDS if kind_of(k).references_are_shots] == ["few_shot"]
    assert [k for k in ALL_KINDS if kind_of(k).tasks_are_variants] == ["few_shot"]


# --- TaskSpecs -----------------------------------------------------------------------------
def _protocol(name: str) -> Protocol:
    return protocols.get(name).spec(image_size=32)


def test_two_domain_and_multi_domain_specs():
    p = _protocol("edges2shoes")
    assert plan.task_spec_for(p) == TaskSpec("paired", 32, domain_names=("edges", "shoes"))
    a = _protocol("afhq")
    assert plan.task_spec_for(a) == TaskSpec(
        "multi_domain", 32, num_domains=3, domain_names=("cat", "dog", "wild")
    )
    # unpaired: the two-domain model of the first pair, as a pairwise run builds it
    assert kind_of("unpaired").spec(a) == plan.pair_spec(a, "unpaired", (0, 1))
    assert plan.pair_spec(a, "unpaired", (1, 2)) == TaskSpec(
        "unpaired", 32, domain_names=("dog", "wild")
    )
    assert plan.domain_pairs(a) == [(0, 1), (0, 2), (1, 2)]


def test_attribute_spec_is_one_face_domain_with_the_protocols_attributes():
    p = _protocol("celeba_stargan")
    assert plan.task_spec_for(p) == TaskSpec(
        "attributes", 32, num_domains=1, domain_names=("face",), attributes=p.attributes
    )


def test_few_shot_spec_names_the_source_classes_and_needs_the_data():
    p = _protocol("animal_faces")
    with pytest.raises(ValueError, match="need the data"):
        plan.task_spec_for(p)
    data = _data([Item("0", 4), Item("1", 1), Item("2", 4)], protocol="animal_faces")
    spec = plan.task_spec_for(p, data)
    assert spec == TaskSpec(
        "few_shot", 32, num_domains=2, domain_names=("class1", "class4"), attributes=()
    )
    # without the data (the profile CLI): the target classes, which set the same shapes
    assert kind_of("few_shot").spec_without_data(p) == TaskSpec(
        "few_shot", 32, num_domains=len(p.domains), domain_names=p.domains
    )
    afhq = _protocol("afhq")
    assert kind_of("multi_domain").spec_without_data(afhq) == plan.task_spec_for(afhq)


# --- epoch sizes ---------------------------------------------------------------------------
def test_epoch_sizes_count_as_the_authors_loaders_do():
    assert plan.epoch_size(_paired_data(), "paired") == 3  # aligned pairs
    three = _three_domains()
    assert plan.epoch_size(three, "unpaired") == 5  # max(|A|, |B|) of the default pair (0, 1)
    assert plan.epoch_size(three, "unpaired", (0, 2)) == 3
    assert plan.epoch_size(three, "multi_domain") == 10  # every training image
    assert plan.epoch_size(_labelled(), "few_shot") == 6
    assert plan.epoch_size(_labelled(True), "attributes") == 6


# --- samplers: keys, contents and the draw order --------------------------------------------
def test_paired_batches_hold_aligned_pairs_in_the_draw_order():
    batch = plan.make_sampler(_paired_data(), "paired")(_g(3), 5)
    assert set(batch) == {"x", "x2", "y", "y2"}
    pick = torch.randint(3, (5,), generator=_g(3))  # sources are items 0-2
    assert batch["x"].tolist() == pick.tolist()
    assert batch["x2"].tolist() == (pick + 3).tolist()  # each A's own B
    assert batch["y"].tolist() == [0] * 5 and batch["y2"].tolist() == [1] * 5
    assert batch["y"].dtype == batch["y2"].dtype == torch.long


def test_unpaired_batches_draw_a_then_b_from_the_pairs_domains():
    batch = plan.make_sampler(_three_domains(), "unpaired", (1, 2))(_g(4), 6)
    assert set(batch) == {"x", "x2", "y", "y2"}
    g = _g(4)
    a = torch.randint(5, (6,), generator=g) + 3  # domain 1: items 3-7
    b = torch.randint(2, (6,), generator=g) + 8  # then domain 2: items 8-9
    assert batch["x"].tolist() == a.tolist() and batch["x2"].tolist() == b.tolist()
    assert batch["y"].tolist() == [0] * 6 and batch["y2"].tolist() == [1] * 6


@pytest.mark.parametrize("kind", ["multi_domain", "few_shot", "attributes"])
def test_labelled_batches_draw_x_x2_then_a_same_class_x3(kind):
    attrs = kind == "attributes"
    data = _labelled(attrs)
    batch = plan.make_sampler(data, kind)(_g(5), 7)
    keys = {"x", "y", "x2", "y2", "x3"}
    assert set(batch) == (keys | {"a", "a2"} if attrs else keys)
    classes = [it.domain for it in data.train.items]
    by_class = {0: [0, 1], 2: [2, 3, 4], 5: [5]}
    g = _g(5)
    p1 = torch.randint(6, (7,), generator=g).tolist()
    p2 = torch.randint(6, (7,), generator=g).tolist()
    p3 = []
    for i in p2:
        same = by_class[classes[i]]
        p3.append(same[int(torch.randint(len(same), (1,), generator=g))])
    label = {0: 0, 2: 1, 5: 2}  # position among the training classes
    assert batch["x"].tolist() == p1 and batch["x2"].tolist() == p2 and batch["x3"].tolist() == p3
    assert batch["y"].tolist() == [label[classes[i]] for i in p1]
    assert batch["y2"].tolist() == [label[classes[i]] for i in p2]
    if attrs:
        assert batch["a"].dtype == torch.float32
        assert batch["a"].tolist() == [[i % 2, classes[i] % 2] for i in p1]
        assert batch["a2"].tolist() == [[i % 2, classes[i] % 2] for i in p2]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_samplers_are_deterministic_per_seed(kind):
    data = {
        "paired": _paired_data,
        "unpaired": _three_domains,
        "attributes": lambda: _labelled(True),
    }.get(kind, _labelled)()
    sampler = plan.make_sampler(data, kind)
    first, again, other = sampler(_g(11), 16), sampler(_g(11), 16), sampler(_g(12), 16)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["x"], other["x"])


# --- evaluation tasks on the twins ---------------------------------------------------------
@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, ProtocolData]:
    root = tmp_path_factory.mktemp("twins")
    out = {}
    for name in protocols.names():
        pdef = protocols.get(name)
        twin = pdef.synthesize(root / name, size=32, seed=0)
        out[name] = pdef.load(twin, pdef.spec(image_size=32, synthetic=True, preset="smoke"))
    return out


def _paths(tasks: list[plan.EvalTask]) -> list:
    return [
        (
            t.task,
            t.mode,
            [it.path for it in t.inputs],
            None
            if t.references is None
            else [[[r.path for r in rs] for rs in o] for o in t.references],
        )
        for t in tasks
    ]


@pytest.mark.parametrize("name", protocols.names())
def test_eval_tasks_are_the_same_for_a_seed(twins, name):
    data = twins[name]
    tasks = plan.eval_tasks(data.protocol, data, seed=3)
    assert tasks and _paths(tasks) == _paths(plan.eval_tasks(data.protocol, data, seed=3))


def test_multi_domain_tasks_are_every_ordered_pair_with_reshuffled_references(twins):
    data = twins["afhq"]
    p = data.protocol
    assert "reference" in p.modes
    tasks = plan.eval_tasks(p, data, seed=2)
    pairs = list(permutations(range(len(p.domains)), 2))
    assert [(t.task, t.mode) for t in tasks] == [
        (f"{p.domains[s]}2{p.domains[t]}", m) for s, t in pairs for m in p.modes
    ]
    rng = np.random.default_rng(2)  # replay: one permutation per output round, in task order
    for task in tasks:
        if task.mode != "reference":
            assert task.references is None
            continue
        pool = data.test.indices(task.target_domain)
        for got in task.references:
            order = rng.permutation(len(pool))
            want = [[data.test.items[pool[order[j % len(pool)]]]] for j in range(len(task.inputs))]
            assert got == want


def test_paired_tasks_score_a_to_b_against_the_ground_truth(twins):
    data = twins["edges2shoes"]
    (task,) = plan.eval_tasks(data.protocol, data, seed=0)
    assert (task.task, task.mode, task.target) == ("edges2shoes", "latent", 1)
    assert all(it.domain == 0 for it in task.inputs)
    assert task.ground_truth == [data.test.items[it.pair] for it in task.inputs]


def test_attribute_tasks_are_one_latent_edit_per_attribute(twins):
    data = twins["celeba_stargan"]
    p = data.protocol
    tasks = plan.eval_tasks(p, data, seed=0)
    assert [(t.task, t.mode) for t in tasks] == [(a, "latent") for a in p.tasks]
    for t in tasks:
        assert t.edited_attr == p.attributes.index(t.task)
        assert torch.equal(t.target_class, t.target_attrs[:, t.edited_attr].long())


def test_unpaired_is_no_protocol_kind_to_evaluate(twins):
    data = twins["edges2shoes"]
    with pytest.raises(ValueError, match="not a protocol kind"):
        kind_of("unpaired").eval_tasks(data.protocol, data, np.random.default_rng(0))


# --- how a method runs a kind, and its columns ----------------------------------------------
class _TwoDomainOnly(Translator):
    name = "plan_test_two_domain"
    supports = frozenset({"unpaired"})


class _Direct(Translator):
    name = "plan_test_direct"
    supports = frozenset({"paired", "multi_domain", "few_shot", "attributes"})


def test_how_to_run_falls_back_to_two_domain_models_where_they_fit():
    assert [plan.how_to_run(_TwoDomainOnly, k) for k in ALL_KINDS] == [
        "unpaired",
        "direct",
        "pairwise",
        None,
        None,
    ]
    assert [plan.how_to_run(_Direct, k) for k in ALL_KINDS] == [
        "direct",
        None,
        "direct",
        "direct",
        "direct",
    ]
    with pytest.raises(ValueError, match="unknown task kind"):
        plan.how_to_run(_Direct, "nope")


def test_few_shot_scores_every_mode_and_makes_each_k_a_column(twins):
    few = twins["animal_faces"].protocol
    assert plan.scored_modes(few, _Direct) == few.modes
    task = plan.eval_tasks(few, twins["animal_faces"], seed=0)[1]
    assert plan.variant_of(few, task) == "k=5"
    afhq = twins["afhq"].protocol
    assert plan.scored_modes(afhq, _Direct) == ("latent",)  # not reference-guided
    assert plan.variant_of(afhq, plan.eval_tasks(afhq, twins["afhq"], seed=0)[1]) == "reference"
