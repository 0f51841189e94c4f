"""Sanity oracles that bracket every metric: they prove the grid end to end and give each metric
its floor and ceiling. ``identity`` copies the input (perfect content, no translation),
``random_real`` returns a real target-domain image (perfect realism, no content), and
``ground_truth`` returns the paired target (the best any method can do on a paired protocol).
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from baselines import register
from baselines.base import Translator


def image_key(x: torch.Tensor) -> str:
    """Content key of one image tensor, to find an input's paired target."""
    return hashlib.sha1(x.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()


class _Oracle(Translator):
    trainable = False
    oracle = True
    configs = ("paper", "tiny")

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {}


@register
class Identity(_Oracle):
    name = "identity"
    display_name = "Identity"
    supports = frozenset({"paired", "unpaired", "multi_domain", "few_shot", "attributes"})

    def translate(self, x, *, target=None, latent=None, reference=None):
        return x.clone()


@register
class RandomReal(_Oracle):
    """A random real image of the target domain / class / attribute setting (test split)."""

    name = "random_real"
    display_name = "Random real"
    supports = frozenset({"paired", "unpaired", "multi_domain", "few_shot", "attributes"})
    multimodal = True

    def prepare(self, data: Any) -> None:
        test = data.test
        self._pool: dict[int, torch.Tensor] = {}
        for d in sorted({it.domain for it in test.items}):
            self._pool[d] = data.images([test.items[i] for i in test.indices(d)])
        self._attrs = None
        if self.task.kind == "attributes":
            self._all = data.images(test.items)
            self._attrs = torch.tensor([it.attrs for it in test.items], dtype=torch.float32)

    def _pick(self, pool: torch.Tensor, n: int) -> torch.Tensor:
        idx = torch.randint(len(pool), (n,))
        return pool[idx]

    def translate(self, x, *, target=None, latent=None, reference=None):
        n = x.shape[0]
        kind = self.task.kind
        if kind == "few_shot":
            k = reference.shape[1]
            pick = torch.randint(k, (n,))
            return reference[torch.arange(n), pick].to(x.device).clone()
        if kind == "attributes":
            want = torch.as_tensor(target, dtype=torch.float32).cpu().reshape(n, -1)
            # nearest real attribute vector (Hamming), ties broken at random
            dist = torch.cdist(want, self._attrs, p=1) + torch.rand(n, len(self._attrs)) * 0.5
            return self._all[dist.argmin(dim=1)].to(x.device)
        if target is None:
            target = 1
        target = self.task.domain_index(target)
        t = torch.as_tensor(target).reshape(-1).expand(n) if torch.is_tensor(target) else None
        if t is None:
            return self._pick(self._pool[int(target)], n).to(x.device)
        return torch.stack([self._pick(self._pool[int(d)], 1)[0] for d in t]).to(x.device)


@register
class GroundTruth(_Oracle):
    """The paired target of each test input (paired protocols only)."""

    name = "ground_truth"
    display_name = "Ground truth"
    supports = frozenset({"paired"})

    def prepare(self, data: Any) -> None:
        self._targets: dict[str, torch.Tensor] = {}
        items = data.test.items
        for item in items:
            if item.pair is not None:
                self._targets[image_key(data.image(item))] = data.image(items[item.pair])

    def translate(self, x, *, target=None, latent=None, reference=None):
        out = []
        for img in x:
            key = image_key(img)
            if key not in self._targets:
                raise ValueError("ground_truth oracle got an input that is not in the dataset")
            out.append(self._targets[key])
        return torch.stack(out).to(x.device)
