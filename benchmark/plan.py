"""What a protocol asks of a baseline, as concrete work: training batches and evaluation tasks.

This is where a protocol's counts become items: which test inputs, which references, which real
set a task is scored against. Everything is seeded, so every baseline sees the same inputs and
references for a given seed, and a rerun sees them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np
import torch

from baselines.base import TaskSpec, Translator
from benchmark.samples import TaskSamples
from protocols.base import Item, Protocol, ProtocolData

Sampler = Callable[[torch.Generator, int], dict[str, torch.Tensor]]


def task_spec_for(protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
    """The TaskSpec a baseline is built with for a protocol (direct, not pairwise)."""
    common = {"image_size": protocol.image_size}
    if protocol.kind == "paired":
        return TaskSpec(kind="paired", domain_names=tuple(protocol.domains), **common)
    if protocol.kind == "multi_domain":
        return TaskSpec(
            kind="multi_domain",
            num_domains=len(protocol.domains),
            domain_names=tuple(protocol.domains),
            **common,
        )
    if protocol.kind == "few_shot":
        if data is None:
            raise ValueError("few-shot task specs need the data (the source classes)")
        sources = sorted({it.domain for it in data.train.items})
        names = tuple(data.class_names[i] for i in sources)
        return TaskSpec(kind="few_shot", num_domains=len(names), domain_names=names, **common)
    return TaskSpec(
        kind="attributes",
        num_domains=1,
        domain_names=("face",),
        attributes=tuple(protocol.attributes),
        **common,
    )


def pair_spec(protocol: Protocol, kind: str, pair: tuple[int, int]) -> TaskSpec:
    """TaskSpec of a two-domain model trained on one pair of a protocol's domains."""
    names = (protocol.domains[pair[0]], protocol.domains[pair[1]])
    return TaskSpec(kind=kind, image_size=protocol.image_size, domain_names=names)


def domain_pairs(protocol: Protocol) -> list[tuple[int, int]]:
    n = len(protocol.domains)
    return [(a, b) for a in range(n) for b in range(a + 1, n)]


def _stack(data: ProtocolData, items: list[Item]) -> torch.Tensor:
    return data.images(items)


def epoch_size(data: ProtocolData, kind: str, pair: tuple[int, int] | None = None) -> int:
    """Training examples in one epoch, as the authors' loaders count them: aligned pairs;
    unaligned sets the larger domain (pytorch-CycleGAN-and-pix2pix ``UnalignedDataset`` and
    DRIT ``dataset_unpair``: max(A_size, B_size)); otherwise every training image."""
    if kind == "paired":
        return len(data.train.indices(0))
    if kind == "unpaired":
        a, b = pair or (0, 1)
        return max(len(data.train.indices(a)), len(data.train.indices(b)))
    return len(data.train.items)


def make_sampler(data: ProtocolData, kind: str, pair: tuple[int, int] | None = None) -> Sampler:
    """Training batches in the format of ``baselines.base`` for a task kind."""
    items = data.train.items
    if kind == "paired":
        sources = data.train.indices(0)

        def paired(g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
            pick = [sources[i] for i in torch.randint(len(sources), (n,), generator=g)]
            return {
                "x": _stack(data, [items[i] for i in pick]),
                "x2": _stack(data, [items[items[i].pair] for i in pick]),
                "y": torch.zeros(n, dtype=torch.long),
                "y2": torch.ones(n, dtype=torch.long),
            }

        return paired
    if kind == "unpaired":
        a, b = pair or (0, 1)
        ia, ib = data.train.indices(a), data.train.indices(b)

        def unpaired(g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
            pa = [ia[i] for i in torch.randint(len(ia), (n,), generator=g)]
            pb = [ib[i] for i in torch.randint(len(ib), (n,), generator=g)]
            return {
                "x": _stack(data, [items[i] for i in pa]),
                "x2": _stack(data, [items[i] for i in pb]),
                "y": torch.zeros(n, dtype=torch.long),
                "y2": torch.ones(n, dtype=torch.long),
            }

        return unpaired

    # multi_domain / few_shot / attributes: independent draws with their labels
    by_domain: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        by_domain.setdefault(it.domain, []).append(i)
    # few-shot training labels are the source-class positions (0..n_source-1)
    relabel = {d: k for k, d in enumerate(sorted(by_domain))}

    def general(g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
        p1 = torch.randint(len(items), (n,), generator=g).tolist()
        p2 = torch.randint(len(items), (n,), generator=g).tolist()
        p3 = []
        for i in p2:
            same = by_domain[items[i].domain]
            p3.append(same[int(torch.randint(len(same), (1,), generator=g))])
        batch = {
            "x": _stack(data, [items[i] for i in p1]),
            "y": torch.tensor([relabel[items[i].domain] for i in p1]),
            "x2": _stack(data, [items[i] for i in p2]),
            "y2": torch.tensor([relabel[items[i].domain] for i in p2]),
            "x3": _stack(data, [items[i] for i in p3]),
        }
        if kind == "attributes":
            batch["a"] = torch.tensor([items[i].attrs for i in p1], dtype=torch.float32)
            batch["a2"] = torch.tensor([items[i].attrs for i in p2], dtype=torch.float32)
        return batch

    return general


@dataclass
class EvalTask:
    """One protocol task in one synthesis mode: inputs, what to ask for, what to compare with."""

    task: str
    mode: str
    inputs: list[Item]
    target: Any  # per-input translate target: int domain, or (N, A) attribute tensor
    target_class: torch.Tensor  # (N,) class index in data.class_names
    real: list[Item]
    real_name: str
    source_domain: int | None = None  # for routing two-domain models
    target_domain: int | None = None
    references: list[list[list[Item]]] | None = None  # [output k][input n] -> R items
    ground_truth: list[Item] | None = None
    target_attrs: torch.Tensor | None = None
    edited_attr: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _take(seq: list[int], n: int) -> list[int]:
    return seq if n == 0 else seq[:n]


def scored_modes(protocol: Protocol, method: type[Translator]) -> tuple[str, ...]:
    """The protocol's synthesis modes a baseline is scored in. Reference-guided synthesis only
    for methods that take a style reference (StarGAN v2's AFHQ table lists MUNIT, DRIT, MSGAN
    and StarGAN v2 there, never a method that would ignore the image) and for the oracles, which
    anchor every column. Few-shot references are the target class's K shots, which every
    few-shot method takes."""
    if protocol.kind == "few_shot" or method.reference_guided or not method.trainable:
        return protocol.modes
    return tuple(m for m in protocol.modes if m != "reference")


def eval_tasks(protocol: Protocol, data: ProtocolData, seed: int) -> list[EvalTask]:
    """Every (task, mode) a protocol scores, with seeded inputs and references."""
    rng = np.random.default_rng(seed)
    test, train = data.test.items, data.train.items
    n_in, k_out = protocol.num_test_inputs, protocol.outputs_per_input
    name = protocol.name
    tasks: list[EvalTask] = []

    if protocol.kind == "paired":
        src = _take(data.test.indices(0), n_in)
        real = [test[i] for i in data.test.indices(1)]
        for mode in protocol.modes:
            refs = None
            if mode == "reference":
                pool = data.test.indices(1)
                refs = [[[test[int(rng.choice(pool))]] for _ in src] for _ in range(k_out)]
            tasks.append(
                EvalTask(
                    task=protocol.tasks[0],
                    mode=mode,
                    inputs=[test[i] for i in src],
                    target=1,
                    target_class=torch.ones(len(src), dtype=torch.long),
                    real=real,
                    real_name=f"{name}:{protocol.test_split}:{protocol.domains[1]}",
                    source_domain=0,
                    target_domain=1,
                    references=refs,
                    ground_truth=[test[test[i].pair] for i in src],
                )
            )
        return tasks

    if protocol.kind == "multi_domain":
        real_split = data.train if protocol.param("fid_real") == "train" else data.test
        for s, t in permutations(range(len(protocol.domains)), 2):
            src = _take(data.test.indices(s), n_in)
            real = [real_split.items[i] for i in real_split.indices(t)]
            for mode in protocol.modes:
                refs = None
                if mode == "reference":
                    pool = data.test.indices(t)
                    refs = []
                    for _ in range(k_out):  # a new shuffled reference batch each round
                        order = rng.permutation(len(pool))
                        refs.append([[test[pool[order[j % len(pool)]]]] for j in range(len(src))])
                tasks.append(
                    EvalTask(
                        task=f"{protocol.domains[s]}2{protocol.domains[t]}",
                        mode=mode,
                        inputs=[test[i] for i in src],
                        target=t,
                        target_class=torch.full((len(src),), t, dtype=torch.long),
                        real=real,
                        real_name=f"{name}:{real_split.name}:{protocol.domains[t]}",
                        source_domain=s,
                        target_domain=t,
                        references=refs,
                    )
                )
        return tasks

    if protocol.kind == "few_shot":
        # FUNIT (PROTOCOLS.md 2.3): content images sampled from the source classes, each
        # translated into every target class; per class one draw of K images, the same for
        # every content image (and every method: the draw depends on the seed alone)
        targets = sorted({it.domain for it in test})
        by_class = {c: data.test.indices(c) for c in targets}
        n = n_in or len(train)
        content = [int(i) for i in rng.choice(len(train), size=min(n, len(train)), replace=False)]
        # content-major: the first inputs show one content image in several classes (the
        # sample grid's view); metrics group by class, so the order changes no number
        cls = [c for _ in content for c in targets]
        real = [test[i] for c in targets for i in by_class[c]]
        for shots in protocol.shots:
            shown = {}
            for c in targets:
                pool = by_class[c]
                pick = rng.choice(len(pool), size=shots, replace=shots > len(pool))
                shown[c] = [test[pool[int(p)]] for p in pick]
            tasks.append(
                EvalTask(
                    task=f"k={shots}",
                    mode="reference",
                    inputs=[train[i] for i in content for _ in targets],
                    target=None,
                    target_class=torch.tensor(cls),
                    real=real,
                    real_name=f"{name}:test:target_classes",
                    references=[[shown[c] for c in cls] for _ in range(k_out)],
                )
            )
        return tasks

    # attributes
    src = _take(list(range(len(test))), n_in)
    inputs = [test[i] for i in src]
    have = np.array([it.attrs for it in inputs], dtype=np.float32)
    names = tuple(protocol.attributes)
    if data.edit_target is None:
        raise ValueError(f"protocol {protocol.name}: its data defines no attribute edit rule")
    for attr in protocol.tasks:
        want = data.edit_target(have, names, attr)
        j = names.index(attr)
        tasks.append(
            EvalTask(
                task=attr,
                mode="latent",
                inputs=inputs,
                target=torch.from_numpy(want),
                target_class=torch.from_numpy(want[:, j]).long(),
                real=list(test),
                real_name=f"{name}:test:all",
                target_attrs=torch.from_numpy(want),
                edited_attr=j,
            )
        )
    return tasks


def how_to_run(cls: type[Translator], kind: str) -> str | None:
    """'direct', 'pairwise' (two-domain method on a multi-domain protocol), or None."""
    if kind in cls.supports:
        return "direct"
    if kind == "paired" and "unpaired" in cls.supports:
        return "unpaired"
    if kind == "multi_domain" and "unpaired" in cls.supports:
        return "pairwise"
    return None


def variant_of(protocol: Protocol, s: TaskSamples | EvalTask) -> str:
    """Modes are separate columns when a protocol has several; few-shot K values always are."""
    parts = []
    if len(protocol.modes) > 1:
        parts.append(s.mode)
    if protocol.kind == "few_shot":
        parts.append(s.task)
    return "/".join(parts)
