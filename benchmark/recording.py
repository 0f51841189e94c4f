"""From values to records: the cell's provenance on every number, the skipped values that say why
a column is empty, whether a cell already holds a complete set of records of the method as it is
now, and the replacement of a stale cell's records."""

from __future__ import annotations

import json
import os
import shutil
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
REPLACED = ".replaced"  # a stale cell's records while it is computed again (hidden: a dot)
TRAINED_BY = ".method.json"  # in a cell's checkpoint folder: the fingerprint that trained them


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


def finished(
    status_path: Path,
    cfg: RunConfig,
    *,
    fingerprint: dict[str, Any] | None = None,
    quiet: bool = False,
) -> str | None:
    """ "ok" when the cell's status record and every record it lists exist and parse; "failed"
    for an unretried failure; None when the cell must run (again): a deleted or truncated
    record of a finished cell is computed again, never left as a hole in the leaderboard.

    ``fingerprint`` is the method as it is now (``benchmark.fingerprint.method_fingerprint``):
    a cell, finished or failed, whose records carry another one is computed again (the code or
    checkpoint its numbers came from is gone); one written before fingerprints existed counts as
    unchanged, so a finished grid is not thrown away. ``quiet``: decide without saying why (a
    first look before the cell's claim, which says it)."""
    say = (lambda msg: None) if quiet else log.info
    if not status_path.is_file():
        return None
    try:
        status = rec.read(status_path)
    except UserError:
        if not quiet:
            log.warning(f"{status_path} is unreadable; computing its cell again")
        return None
    change = _change(status, fingerprint)
    if change:
        say(change)
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
        say(
            f"{status_path.parent}: {len(lost)} of its records are missing or unreadable "
            f"({', '.join(lost[:3])}{', ...' if len(lost) > 3 else ''}); computing the cell again"
        )
        return None
    return "ok"


def _change(status: rec.Record, now: dict[str, Any] | None) -> str | None:
    """Why the cell's records no longer describe the method ``now``, in a user's words; None
    when they do, or when they carry no fingerprint (written before fingerprints existed)."""
    then = status.provenance.get("method")
    if not now or not isinstance(then, dict) or not then.get("fingerprint"):
        return None
    if then["fingerprint"] == now["fingerprint"]:
        return None
    what = [
        part
        for part, keys in (
            ("code", ("class", "source_sha256")),
            ("checkpoint", ("checkpoint_sha256",)),
        )
        if any(then.get(k) != now.get(k) for k in keys)
    ]
    b = status.baseline
    return (
        f"{status.protocol}/{b}/seed{status.seed}: {b}'s {' and '.join(what) or 'code'} changed "
        f"since its records (fingerprint {then['fingerprint']} -> {now['fingerprint']}); "
        "computing the cell again"
    )


def make_room(
    cell: Path, checkpoints: Path, fingerprint: dict[str, Any], *, trains: bool, label: str
) -> None:
    """Before a cell is computed, inside its claim: old records are replaced, never mixed with
    new ones, and training never resumes weights of other code.

    A stale cell's records (``finished`` said why) move to ``cell/.replaced/``, hidden from
    every reader (``records.record_files``), the status record first, so an interruption at
    any point leaves a cell that runs again; while that folder exists, whatever is visible is an
    interrupted attempt's and joins it. ``drop_replaced`` removes it once the new cell record
    is written. The cell's checkpoints go when the cell is stale or they were trained by another
    fingerprint (``TRAINED_BY``); a cell that trains marks its folder before the first step."""
    stale = False
    status_path = cell / f"{rec.CELL}.json"
    if status_path.is_file():
        try:
            stale = _change(rec.read(status_path), fingerprint) is not None
        except UserError:
            pass  # an unreadable status: the cell runs again and its records are overwritten
    hidden = cell / REPLACED
    if stale or hidden.is_dir():
        hidden.mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in cell.glob("*.json") if not p.name.startswith("."))
        for name in sorted(names, key=lambda n: n != status_path.name):
            os.replace(cell / name, hidden / name)
    mark = checkpoints / TRAINED_BY
    try:
        trained_by = json.loads(mark.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        trained_by = None  # none yet, or written before fingerprints: counted as this code's
    if checkpoints.is_dir() and (stale or trained_by not in (None, fingerprint["fingerprint"])):
        shutil.rmtree(checkpoints)
        log.info(f"{label}: removed checkpoints trained by other code ({checkpoints})")
    if trains:
        mark.parent.mkdir(parents=True, exist_ok=True)
        rec.atomic_write_text(
            mark, json.dumps({k: fingerprint[k] for k in ("class", "fingerprint")}) + "\n"
        )


def drop_replaced(cell: Path) -> None:
    """The new cell record is written: the records it replaced go for good."""
    shutil.rmtree(cell / REPLACED, ignore_errors=True)


def skipped_modes(values: list[Value], scored: str, modes: list[str], reason: str) -> list[Value]:
    """For each mode in ``modes``, every metric the ``scored`` variant has a number for,
    recorded as skipped with ``reason``: the table then says why the cell is empty instead of
    showing a number the method never earned (a metric not computed at all stays so)."""
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
        if v.variant == scored and v.status == "ok"
    ]


def not_applicable(values: list[Value], modes: list[str], name: str) -> list[Value]:
    """The modes a baseline is not scored in (``scored_modes``), skipped as not applying."""
    reason = f"{name} takes no style reference; reference-guided synthesis does not apply"
    return skipped_modes(values, "latent", modes, reason)
