"""What a protocol asks of a baseline, as concrete work: training batches and evaluation tasks.

This is where a protocol's counts become items: which test inputs, which references, which real
set a task is scored against. Everything is seeded, so every baseline sees the same inputs and
references for a given seed, and a rerun sees them again.

Each task kind (``paired``, ``unpaired``, ``multi_domain``, ``few_shot``, ``attributes``) is one
``TaskKind`` object in ``KINDS``, so what differs between kinds lives in one place per kind
instead of in a switch per question; ``kind_of(name)`` finds it. The module-level functions are
the stable entry points the rest of the harness calls; they delegate to the kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.base import TaskSpec, Translator
from benchmark.samples import TaskSamples
from protocols.base import Item, Protocol, ProtocolData

Sampler = Callable[[torch.Generator, int], dict[str, torch.Tensor]]
# random images on the profiling device: ``images(*lead)`` -> (*lead, C, S, S) in [-1, 1]
Images = Callable[..., torch.Tensor]


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


# --- the kinds ------------------------------------------------------------------------------
class TaskKind(ABC):
    """What one task kind means for building, training, evaluating and profiling a baseline.

    Subclasses are stateless; one instance of each lives in ``KINDS``. The defaults are those of
    the kinds whose training images are independent labelled draws (multi-domain, few-shot,
    attributes); the two-domain kinds override them.
    """

    name: ClassVar[str]
    # labels are 0/1 attribute vectors, not one class per image (classifier: multi-label)
    multi_label: ClassVar[bool] = False
    # a reference is the target class's K shots, the method's own input, not an optional style
    references_are_shots: ClassVar[bool] = False
    # each task is its own column (few-shot K values), never averaged with the others
    tasks_are_variants: ClassVar[bool] = False
    # the target classes were never seen in training (scored over their own classifier columns)
    unseen_targets: ClassVar[bool] = False
    # how a method that supports only ``unpaired`` runs this kind (see ``how_to_run``)
    via_unpaired: ClassVar[str | None] = None

    @abstractmethod
    def spec(self, protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
        """The TaskSpec a baseline is built with for ``protocol`` (direct, not pairwise)."""

    def spec_without_data(self, protocol: Protocol) -> TaskSpec:
        """A spec with the shapes ``translate``'s cost depends on, for when the data is not
        loaded (the ``profile`` CLI); the same as ``spec`` unless it needs the data."""
        return self.spec(protocol)

    def epoch_size(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> int:
        """Training examples in one epoch, as the authors' loaders count them: every image."""
        return len(data.train.items)

    def sampler(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> Sampler:
        """Training batches in the format of ``baselines.base``."""
        return _labelled_sampler(data, with_attrs=False)

    @abstractmethod
    def eval_tasks(
        self, protocol: Protocol, data: ProtocolData, rng: np.random.Generator
    ) -> list[EvalTask]:
        """Every (task, mode) ``protocol`` scores; draws from ``rng`` in a fixed order."""

    @abstractmethod
    def random_kwargs(
        self,
        task: TaskSpec,
        n: int,
        images: Images,
        g: torch.Generator,
        device: torch.device,
        shots: int = 1,
    ) -> dict[str, Any]:
        """The ``translate`` keywords of a random batch of ``n`` (profiling: cost depends on
        shapes only); ``images`` and ``g`` draw in the order they are called."""


class TwoDomain(TaskKind):
    """Two domains, A -> B: ``translate`` needs only the output domain."""

    def random_kwargs(
        self,
        task: TaskSpec,
        n: int,
        images: Images,
        g: torch.Generator,
        device: torch.device,
        shots: int = 1,
    ) -> dict[str, Any]:
        return {"target": 1}


class Paired(TwoDomain):
    """Aligned A/B pairs (pix2pix, edges2shoes): A -> B against the ground truth."""

    name = "paired"
    via_unpaired = "unpaired"  # a two-domain unpaired method trains on the pairs unaligned

    def spec(self, protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
        return TaskSpec(
            kind=self.name, image_size=protocol.image_size, domain_names=tuple(protocol.domains)
        )

    def epoch_size(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> int:
        """Aligned pairs: one per source image."""
        return len(data.train.indices(0))

    def sampler(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> Sampler:
        items = data.train.items
        sources = data.train.indices(0)

        def paired(g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
            pick = [sources[i] for i in torch.randint(len(sources), (n,), generator=g)]
            return {
                "x": data.images([items[i] for i in pick]),
                "x2": data.images([items[items[i].pair] for i in pick]),
                "y": torch.zeros(n, dtype=torch.long),
                "y2": torch.ones(n, dtype=torch.long),
            }

        return paired

    def eval_tasks(
        self, protocol: Protocol, data: ProtocolData, rng: np.random.Generator
    ) -> list[EvalTask]:
        test = data.test.items
        src = _take(data.test.indices(0), protocol.num_test_inputs)
        real = [test[i] for i in data.test.indices(1)]
        tasks = []
        for mode in protocol.modes:
            refs = None
            if mode == "reference":
                pool = data.test.indices(1)
                refs = [
                    [[test[int(rng.choice(pool))]] for _ in src]
                    for _ in range(protocol.outputs_per_input)
                ]
            tasks.append(
                EvalTask(
                    task=protocol.tasks[0],
                    mode=mode,
                    inputs=[test[i] for i in src],
                    target=1,
                    target_class=torch.ones(len(src), dtype=torch.long),
                    real=real,
                    real_name=f"{protocol.name}:{protocol.test_split}:{protocol.domains[1]}",
                    source_domain=0,
                    target_domain=1,
                    references=refs,
                    ground_truth=[test[test[i].pair] for i in src],
                )
            )
        return tasks


class Unpaired(TwoDomain):
    """Two unaligned domains: how a two-domain model trains (CycleGAN, MUNIT, DRIT), never a
    protocol's own kind, so it has no evaluation tasks of its own."""

    name = "unpaired"

    def spec(self, protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
        return pair_spec(protocol, self.name, (0, 1))

    def epoch_size(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> int:
        """The larger domain (pytorch-CycleGAN-and-pix2pix ``UnalignedDataset`` and DRIT
        ``dataset_unpair``: max(A_size, B_size))."""
        a, b = pair or (0, 1)
        return max(len(data.train.indices(a)), len(data.train.indices(b)))

    def sampler(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> Sampler:
        items = data.train.items
        a, b = pair or (0, 1)
        ia, ib = data.train.indices(a), data.train.indices(b)

        def unpaired(g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
            pa = [ia[i] for i in torch.randint(len(ia), (n,), generator=g)]
            pb = [ib[i] for i in torch.randint(len(ib), (n,), generator=g)]
            return {
                "x": data.images([items[i] for i in pa]),
                "x2": data.images([items[i] for i in pb]),
                "y": torch.zeros(n, dtype=torch.long),
                "y2": torch.ones(n, dtype=torch.long),
            }

        return unpaired

    def eval_tasks(
        self, protocol: Protocol, data: ProtocolData, rng: np.random.Generator
    ) -> list[EvalTask]:
        raise ValueError(
            f"protocol {protocol.name}: unpaired is how two-domain models train, not a protocol "
            "kind; no protocol scores it"
        )


class MultiDomain(TaskKind):
    """Several domains, every ordered pair a task (StarGAN v2's AFHQ)."""

    name = "multi_domain"
    via_unpaired = "pairwise"  # one two-domain model per pair of domains

    def spec(self, protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
        return TaskSpec(
            kind=self.name,
            image_size=protocol.image_size,
            num_domains=len(protocol.domains),
            domain_names=tuple(protocol.domains),
        )

    def eval_tasks(
        self, protocol: Protocol, data: ProtocolData, rng: np.random.Generator
    ) -> list[EvalTask]:
        test = data.test.items
        real_split = data.train if protocol.param("fid_real") == "train" else data.test
        tasks = []
        for s, t in permutations(range(len(protocol.domains)), 2):
            src = _take(data.test.indices(s), protocol.num_test_inputs)
            real = [real_split.items[i] for i in real_split.indices(t)]
            for mode in protocol.modes:
                refs = None
                if mode == "reference":
                    pool = data.test.indices(t)
                    refs = []
                    for _ in range(protocol.outputs_per_input):  # a new shuffled batch each round
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
                        real_name=f"{protocol.name}:{real_split.name}:{protocol.domains[t]}",
                        source_domain=s,
                        target_domain=t,
                        references=refs,
                    )
                )
        return tasks

    def random_kwargs(
        self,
        task: TaskSpec,
        n: int,
        images: Images,
        g: torch.Generator,
        device: torch.device,
        shots: int = 1,
    ) -> dict[str, Any]:
        return {"target": (torch.arange(n) % task.num_domains).to(device)}


class FewShot(TaskKind):
    """Unseen target classes shown by K images each (FUNIT's Animal Faces)."""

    name = "few_shot"
    references_are_shots = True
    tasks_are_variants = True
    unseen_targets = True

    def spec(self, protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
        """Named by the source classes, which only the data knows."""
        if data is None:
            raise ValueError("few-shot task specs need the data (the source classes)")
        sources = sorted({it.domain for it in data.train.items})
        return self._spec(protocol, tuple(data.class_names[i] for i in sources))

    def spec_without_data(self, protocol: Protocol) -> TaskSpec:
        """Named by the protocol's target classes instead: ``translate``'s cost does not depend
        on the source classes (only the discriminator's class heads do, and translate never
        runs those), so the data need not be loaded."""
        return self._spec(protocol, tuple(protocol.domains))

    def _spec(self, protocol: Protocol, names: tuple[str, ...]) -> TaskSpec:
        return TaskSpec(
            kind=self.name,
            image_size=protocol.image_size,
            num_domains=len(names),
            domain_names=names,
        )

    def eval_tasks(
        self, protocol: Protocol, data: ProtocolData, rng: np.random.Generator
    ) -> list[EvalTask]:
        # FUNIT (PROTOCOLS.md 2.3): content images sampled from the source classes, each
        # translated into every target class; per class one draw of K images, the same for
        # every content image (and every method: the draw depends on the seed alone)
        test, train = data.test.items, data.train.items
        targets = sorted({it.domain for it in test})
        by_class = {c: data.test.indices(c) for c in targets}
        n = protocol.num_test_inputs or len(train)
        content = [int(i) for i in rng.choice(len(train), size=min(n, len(train)), replace=False)]
        # content-major: the first inputs show one content image in several classes (the
        # sample grid's view); metrics group by class, so the order changes no number
        cls = [c for _ in content for c in targets]
        real = [test[i] for c in targets for i in by_class[c]]
        tasks = []
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
                    real_name=f"{protocol.name}:test:target_classes",
                    references=[[shown[c] for c in cls] for _ in range(protocol.outputs_per_input)],
                )
            )
        return tasks

    def random_kwargs(
        self,
        task: TaskSpec,
        n: int,
        images: Images,
        g: torch.Generator,
        device: torch.device,
        shots: int = 1,
    ) -> dict[str, Any]:
        return {"reference": images(n, shots)}


class Attributes(TaskKind):
    """Face attribute edits (StarGAN, Fader, AttGAN on CelebA): one task per edited attribute."""

    name = "attributes"
    multi_label = True

    def spec(self, protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
        return TaskSpec(
            kind=self.name,
            image_size=protocol.image_size,
            num_domains=1,
            domain_names=("face",),
            attributes=tuple(protocol.attributes),
        )

    def sampler(self, data: ProtocolData, pair: tuple[int, int] | None = None) -> Sampler:
        """Labelled draws, plus the attribute vectors ``a``/``a2`` of ``x``/``x2``."""
        return _labelled_sampler(data, with_attrs=True)

    def eval_tasks(
        self, protocol: Protocol, data: ProtocolData, rng: np.random.Generator
    ) -> list[EvalTask]:
        test = data.test.items
        inputs = [test[i] for i in _take(list(range(len(test))), protocol.num_test_inputs)]
        have = np.array([it.attrs for it in inputs], dtype=np.float32)
        names = tuple(protocol.attributes)
        if data.edit_target is None:
            raise ValueError(f"protocol {protocol.name}: its data defines no attribute edit rule")
        tasks = []
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
                    real_name=f"{protocol.name}:test:all",
                    target_attrs=torch.from_numpy(want),
                    edited_attr=j,
                )
            )
        return tasks

    def random_kwargs(
        self,
        task: TaskSpec,
        n: int,
        images: Images,
        g: torch.Generator,
        device: torch.device,
        shots: int = 1,
    ) -> dict[str, Any]:
        wanted = torch.randint(2, (n, len(task.attributes)), generator=g).float()
        return {"target": wanted.to(device)}


def _labelled_sampler(data: ProtocolData, *, with_attrs: bool) -> Sampler:
    """Independent draws with their labels: ``x``, ``x2`` anywhere, ``x3`` from ``x2``'s
    domain (reference pairs, StarGAN v2 / FUNIT)."""
    items = data.train.items
    by_domain: dict[int, list[int]] = {}
    for i, it in enumerate(items):
        by_domain.setdefault(it.domain, []).append(i)
    # few-shot training labels are the source-class positions (0..n_source-1)
    relabel = {d: k for k, d in enumerate(sorted(by_domain))}

    def labelled(g: torch.Generator, n: int) -> dict[str, torch.Tensor]:
        p1 = torch.randint(len(items), (n,), generator=g).tolist()
        p2 = torch.randint(len(items), (n,), generator=g).tolist()
        p3 = []
        for i in p2:
            same = by_domain[items[i].domain]
            p3.append(same[int(torch.randint(len(same), (1,), generator=g))])
        batch = {
            "x": data.images([items[i] for i in p1]),
            "y": torch.tensor([relabel[items[i].domain] for i in p1]),
            "x2": data.images([items[i] for i in p2]),
            "y2": torch.tensor([relabel[items[i].domain] for i in p2]),
            "x3": data.images([items[i] for i in p3]),
        }
        if with_attrs:
            batch["a"] = torch.tensor([items[i].attrs for i in p1], dtype=torch.float32)
            batch["a2"] = torch.tensor([items[i].attrs for i in p2], dtype=torch.float32)
        return batch

    return labelled


KINDS: dict[str, TaskKind] = {
    k.name: k for k in (Paired(), Unpaired(), MultiDomain(), FewShot(), Attributes())
}


def kind_of(name: str) -> TaskKind:
    """The strategy of a task kind by name; an unknown name is a ValueError naming the known."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown task kind {name!r}; known: {', '.join(KINDS)}") from None


# --- the entry points the harness calls -----------------------------------------------------
def task_spec_for(protocol: Protocol, data: ProtocolData | None = None) -> TaskSpec:
    """The TaskSpec a baseline is built with for a protocol (direct, not pairwise)."""
    return kind_of(protocol.kind).spec(protocol, data)


def pair_spec(protocol: Protocol, kind: str, pair: tuple[int, int]) -> TaskSpec:
    """TaskSpec of a two-domain model trained on one pair of a protocol's domains."""
    names = (protocol.domains[pair[0]], protocol.domains[pair[1]])
    return TaskSpec(kind=kind, image_size=protocol.image_size, domain_names=names)


def domain_pairs(protocol: Protocol) -> list[tuple[int, int]]:
    n = len(protocol.domains)
    return [(a, b) for a in range(n) for b in range(a + 1, n)]


def epoch_size(data: ProtocolData, kind: str, pair: tuple[int, int] | None = None) -> int:
    """Training examples in one epoch of ``kind`` (see each kind's ``epoch_size``)."""
    return kind_of(kind).epoch_size(data, pair)


def make_sampler(data: ProtocolData, kind: str, pair: tuple[int, int] | None = None) -> Sampler:
    """Training batches in the format of ``baselines.base`` for a task kind."""
    return kind_of(kind).sampler(data, pair)


def scored_modes(protocol: Protocol, method: type[Translator]) -> tuple[str, ...]:
    """The protocol's synthesis modes a baseline is scored in. Reference-guided synthesis only
    for methods that take a style reference (StarGAN v2's AFHQ table lists MUNIT, DRIT, MSGAN
    and StarGAN v2 there, never a method that would ignore the image) and for the oracles, which
    anchor every column. Few-shot references are the target class's K shots, which every
    few-shot method takes."""
    if (
        kind_of(protocol.kind).references_are_shots
        or method.reference_guided
        or not method.trainable
    ):
        return protocol.modes
    return tuple(m for m in protocol.modes if m != "reference")


def eval_tasks(protocol: Protocol, data: ProtocolData, seed: int) -> list[EvalTask]:
    """Every (task, mode) a protocol scores, with seeded inputs and references."""
    return kind_of(protocol.kind).eval_tasks(protocol, data, np.random.default_rng(seed))


def how_to_run(cls: type[Translator], kind: str) -> str | None:
    """'direct', 'unpaired' (a two-domain unpaired method on a paired protocol), 'pairwise'
    (one on a multi-domain protocol), or None."""
    way = kind_of(kind)
    if kind in cls.supports:
        return "direct"
    if "unpaired" in cls.supports:
        return way.via_unpaired
    return None


def variant_of(protocol: Protocol, s: TaskSamples | EvalTask) -> str:
    """Modes are separate columns when a protocol has several; few-shot K values always are."""
    parts = []
    if len(protocol.modes) > 1:
        parts.append(s.mode)
    if kind_of(protocol.kind).tasks_are_variants:
        parts.append(s.task)
    return "/".join(parts)
