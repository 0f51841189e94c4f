"""A method in your own package, evaluated by the suite without editing it (README, "Evaluate
your method"): a domain-conditioned residual network, trained to reconstruct its input with
the target code of the input's own domain. Weak on purpose; the point is the interface.

    PYTHONPATH=examples python run_all.py --baselines identity my_method:TinyTranslator
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from baselines import TaskSpec, Translator


class TinyTranslator(Translator):
    name = "tiny_translator"
    supports = frozenset({"multi_domain", "unpaired"})
    monitor_loss = "recon"

    def __init__(self, task: TaskSpec, config: str = "paper") -> None:
        super().__init__(task, config)
        width = 32 if config == "paper" else 8
        self.codes = task.num_domains
        self.net = nn.Sequential(
            nn.Conv2d(task.channels + self.codes, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, task.channels, 3, padding=1),
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def _run(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        code = nn.functional.one_hot(target, self.codes).float()
        code = code[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return (x + self.net(torch.cat([x, code], 1))).clamp(-1, 1)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        x, y = batch["x"], batch["y"]
        loss = (self._run(x, y) - x).abs().mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"recon": float(loss)}

    @torch.no_grad()
    def translate(self, x: torch.Tensor, *, target: Any = None, **_: Any) -> torch.Tensor:
        if not torch.is_tensor(target):
            target = torch.full((x.shape[0],), int(target))
        return self._run(x, target.to(x.device).long())
