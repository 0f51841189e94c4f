"""The one value type every measurement of a cell produces, before it becomes a record.

A metric family, the speed profiler and the cell itself all hand back ``Value``s; the runner
turns each into a ``benchmark.records.Record`` with the cell's provenance. ``kind`` says which
part of the suite made it: ``metric`` (model quality, gated), ``profile`` (machine-dependent
speed and cost, shown apart, never gated) or ``cell`` (the cell's status).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["metric", "profile", "cell"]


@dataclass
class Value:
    """One number with how it was made; ``value`` None with ``status`` failed/skipped and a
    ``reason`` when there is no number."""

    metric: str
    value: float | None
    std: float | None = None
    variant: str = ""  # synthesis mode and/or task ("latent", "reference", "k=5"), or "bs=8"
    extractor: str | None = None  # feature extractor id; None for pixel and speed numbers
    direction: str = "lower"  # which way is better
    status: str = "ok"  # ok | failed | skipped
    reason: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "metric"

    def __post_init__(self) -> None:
        """A NaN/Inf never passes as a number: it becomes a failure with its reason."""
        if self.status == "ok" and (self.value is None or not math.isfinite(self.value)):
            self.reason = self.reason or f"non-finite value ({self.value})"
            self.value, self.status = None, "failed"
