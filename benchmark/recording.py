"""From values to records: the cell's provenance on every number, the skipped values that say why
a column is empty, and whether a cell already holds a complete set of records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark import device as devices
from benchmark import provenance
from benchmark import records as rec
from benchmark.errors import UserError
from benchmark.progress import log
from benchmark.run_config import RunConfig
from benchmark.values import Value
from protocols.base import ProtocolData

CLASSIFIER_ROW = "protocol_classifier"  # pseudo-baseline holding each protocol's classifier scores


def base_provenance(cfg: RunConfig, data: ProtocolData) -> dict[str, Any]:
    return {
        "protocol": data.protocol.to_dict(),
        "dataset": data.describe(),
        "code_revision": provenance.code_revision(),
        "versions": provenance.library_versions(),
        "device": devices.describe(cfg.device),
    }


def to_record(value: Value, base: dict[str, Any], **ids: Any) -> rec.Record:
    prov = {**base, **(value.provenance or {})}
    return rec.Record(
        metric=value.metric,
        value=value.value,
        std=value.std,
        variant=value.variant,
        extractor=value.extractor,
        direction=value.direction,
        status=value.status,
        reason=value.reason,
        provenance=prov,
        extra=value.extra or {},
        **ids,
    )


def finished(status_path: Path, cfg: RunConfig) -> str | None:
    """ "ok" when the cell's status record and every record it lists exist and parse; "failed"
    for an unretried failure; None when the cell must run (again): a deleted or truncated
    record of a finished cell is computed again, never left as a hole in the leaderboard."""
    if not status_path.is_file():
        return None
    try:
        status = rec.read(status_path)
    except UserError:
        log.warning(f"{status_path} is unreadable; computing its cell again")
        return None
    if status.status != "ok":
        return None if cfg.retry_failed else "failed"
    lost = []
    for name in status.extra.get("records", []):
        try:
            rec.read(status_path.parent / name)
        except UserError:
            lost.append(name)
    if lost:
        log.info(
            f"{status_path.parent}: {len(lost)} of its records are missing or unreadable "
            f"({', '.join(lost[:3])}{', ...' if len(lost) > 3 else ''}); computing the cell again"
        )
        return None
    return "ok"


def not_applicable(values: list[Value], modes: list[str], name: str) -> list[Value]:
    """For each synthesis mode a baseline is not scored in (``scored_modes``), every metric its
    latent outputs were scored in, recorded as skipped with the reason: the table then says
    why the cell is empty instead of showing a number the method never earned."""
    reason = f"{name} takes no style reference; reference-guided synthesis does not apply"
    return [
        Value(
            v.metric,
            None,
            variant=mode,
            extractor=v.extractor,
            direction=v.direction,
            status="skipped",
            reason=reason,
        )
        for mode in modes
        for v in values
        if v.variant == "latent" and v.status == "ok"  # a metric not computed at all stays so
    ]
