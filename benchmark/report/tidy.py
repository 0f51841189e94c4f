"""results.csv and profile.csv: the records as tidy tables, for anyone's own analysis (pandas, R,
a spreadsheet), with fixed columns in a fixed order.

``results.csv`` holds one observation per row: one method, seed, metric, synthesis mode, shot
count and task. ``display_name`` is the name the tables show (the records' display name, or the
report's ``--names``). A metric record holds the task mean in ``value`` and, when its protocol has
several tasks (AFHQ's six domain pairs, CelebA's edits), every task's own number in
``extra["per_task"]``: it becomes one row with task ``all`` (the number the leaderboard shows)
and one row per task. Seeds are rows (a cell's spread is computed from them; the records'
``std``, which meant the seeds' spread in one place and a metric's own subsets in another, is
left out). The record's ``variant`` is split into ``mode`` (``latent`` / ``reference``; a
protocol with one mode has an empty variant, filled here with that mode) and ``k`` (few-shot
shots; empty elsewhere). ``extractor`` is the feature extractor's id, ``none`` for metrics
without one (L1, PSNR, SSIM, LPIPS): no key column is ever empty, so a ``groupby`` or
``pivot_table`` drops no row. ``instrument`` says whether a protocol classifier was the pinned
one (``official``) or a local one (comparable only with numbers of the same weights). ``n_real`` / ``n_fake`` are the real and generated images behind
one task's number where the metric family records them (on an ``all`` row: the per-task count
when every task has the same, else empty). Method rows only: the protocol classifier's own
accuracy is an instrument's, said above each table of the leaderboard.

``profile.csv`` holds the speed profile (latency, throughput, memory, parameters, FLOPs, kernel
time), one row per record, with its unit and the device it was measured on: speed depends on
the machine, so it is kept apart from the quality numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from typing import Any

from benchmark.records import Record
from benchmark.report.model import CLASSIFIER_METRIC, Results

COLUMNS = (
    "protocol",
    "preset",
    "protocol_hash",
    "baseline",
    "display_name",
    "is_oracle",
    "is_external",
    "seed",
    "metric",
    "mode",
    "k",
    "task",
    "extractor",
    "instrument",
    "value",
    "n_real",
    "n_fake",
    "status",
    "reason",
)
PROFILE_COLUMNS = (
    "protocol",
    "preset",
    "protocol_hash",
    "baseline",
    "display_name",
    "seed",
    "metric",
    "batch_size",
    "mode",
    "value",
    "unit",
    "device",
    "status",
    "reason",
)
ALL_TASKS = "all"  # the task of a record's headline number (the mean over its tasks)
NO_EXTRACTOR = "none"  # not a pandas NA string, so a groupby on extractor keeps these rows
DEFAULT_MODE = "latent"  # a protocol's mode when its records predate provenance of modes
CLASSIFIER_ROW = "protocol_classifier"  # the runner's pseudo-baseline (benchmark.recording)
PROFILE_UNITS = {
    "latency_ms": "ms",  # one translate call of batch_size images
    "throughput": "images/s",
    "peak_memory_mb": "MB",
    "params": "parameters",
    "flops": "FLOPs/image",
    "kernels": "ms",  # self time of the kernels (CPU operators) of one call
}


def split_variant(variant: str, modes: Iterable[str] = ()) -> tuple[str, int | None]:
    """``"reference/k=5"`` -> ``("reference", 5)``; an empty mode is the protocol's first mode
    (``modes``: its provenance's ``protocol.modes``), ``latent`` when unknown."""
    mode, k = "", None
    for part in variant.split("/") if variant else ():
        if part.startswith("k=") and part[2:].isdigit():
            k = int(part[2:])
        else:
            mode = part
    if not mode:
        mode = next(iter(modes), DEFAULT_MODE)
    return mode, k


def _modes(r: Record) -> list[str]:
    protocol = r.provenance.get("protocol")
    modes = protocol.get("modes") if isinstance(protocol, dict) else None
    return [m for m in modes if isinstance(m, str) and m] if isinstance(modes, list) else []


def _count(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return int(v)


def _per_task_count(prov: dict[str, Any], key: str) -> dict[str, int | None] | int | None:
    """A provenance count: per task (a dict) or one number."""
    v = prov.get(key)
    if isinstance(v, dict):
        return {str(t): _count(n) for t, n in v.items()}
    return _count(v)


def _counts(prov: dict[str, Any]) -> tuple[Any, Any]:
    """(n_real, n_fake) as the metric families record them: ``n_real``/``n_fake`` (FID, KID,
    IS), ``n_outputs`` (accuracy), ``n_pairs`` (paired metrics), ``n_inputs`` x
    ``outputs_per_input`` (diversity, CIS); each per task or one number."""
    n_real = _per_task_count(prov, "n_real")
    for key in ("n_fake", "n_outputs", "n_pairs"):
        if key in prov:
            return n_real, _per_task_count(prov, key)
    inputs, per_input = (_per_task_count(prov, k) for k in ("n_inputs", "outputs_per_input"))
    if isinstance(inputs, dict) and isinstance(per_input, dict):
        n_fake = {
            t: n * per_input[t] if n is not None and per_input.get(t) is not None else None
            for t, n in inputs.items()
        }
        return n_real, n_fake
    if isinstance(inputs, int) and isinstance(per_input, int):
        return n_real, inputs * per_input
    return n_real, None


def _for_task(count: Any, task: str) -> int | None:
    """The count behind one task's number; for ``all``, the per-task count when every task has
    the same one (a sum would double-count real sets that tasks share)."""
    if not isinstance(count, dict):
        return count
    if task != ALL_TASKS:
        return count.get(task)
    distinct = set(count.values())
    return distinct.pop() if len(distinct) == 1 else None


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _instrument(r: Record) -> str | None:
    """Where a protocol classifier's numbers come from: ``official`` (the pinned file),
    ``local`` or ``trained by this run`` (comparable only with the same weights); empty for
    other extractors."""
    how = r.provenance.get("instrument")
    return how if isinstance(how, str) and how else None


Names = dict[tuple[str, str, str], str]  # (protocol, protocol_hash, baseline) -> shown name


def display_names(results: Results) -> Names:
    """The name each table shows for each method (its records' display name, or the report's
    ``--names`` / ``--highlight``), so the CSV says what the tables say."""
    return {
        (t.protocol, t.protocol_hash, row.baseline): row.name
        for t in results.tables
        for row in t.rows
    }


def _identity(r: Record, names: Names | None = None) -> dict[str, Any]:
    name = (names or {}).get((r.protocol, r.protocol_hash, r.baseline))
    if not name:
        name = r.provenance.get("display_name")
    return {
        "protocol": r.protocol,
        "preset": r.preset,
        "protocol_hash": r.protocol_hash,
        "baseline": r.baseline,
        "display_name": name if isinstance(name, str) and name else r.baseline,
        "seed": r.seed,
        "metric": r.metric,
    }


def is_method_metric(r: Record) -> bool:
    """A method's quality number: not a cell status, a speed profile or the classifier's own."""
    return r.kind == "metric" and r.metric != CLASSIFIER_METRIC and r.baseline != CLASSIFIER_ROW


def metric_rows(r: Record, names: Names | None = None) -> Iterator[dict[str, Any]]:
    """The rows of one metric record: its headline (task ``all``), then one per task."""
    mode, k = split_variant(r.variant, _modes(r))
    n_real, n_fake = _counts(r.provenance)
    head = {
        **_identity(r, names),
        "is_oracle": r.provenance.get("oracle") is True,
        "is_external": "external" in r.provenance,
        "mode": mode,
        "k": k,
        "extractor": r.extractor or NO_EXTRACTOR,
        "instrument": _instrument(r),
    }
    ok = r.status == "ok" and _number(r.value) is not None
    yield {
        **head,
        "task": ALL_TASKS,
        "value": _number(r.value) if ok else None,
        "n_real": _for_task(n_real, ALL_TASKS),
        "n_fake": _for_task(n_fake, ALL_TASKS),
        "status": r.status if ok or r.status != "ok" else "failed",
        "reason": r.reason,
    }
    per_task = r.extra.get("per_task")
    if not isinstance(per_task, dict):
        return
    for task, v in per_task.items():
        value = _number(v)  # a task of a failed record may still have its own number
        bad = r.status if r.status != "ok" else "failed"
        yield {
            **head,
            "task": str(task),
            "value": value,
            "n_real": _for_task(n_real, str(task)),
            "n_fake": _for_task(n_fake, str(task)),
            "status": "ok" if value is not None else bad,
            "reason": None if value is not None else r.reason or f"no number for task {task}",
        }


def profile_row(r: Record, names: Names | None = None) -> dict[str, Any]:
    """One speed-profile record: ``bs=8`` / ``bs=8,reference`` split into batch size and mode
    (both empty for parameters and FLOPs, which depend on neither)."""
    batch_size, mode = None, ""
    for part in r.variant.split(",") if r.variant else ():
        if part.startswith("bs=") and part[3:].isdigit():
            batch_size = int(part[3:])
        elif part:
            mode = part
    if batch_size is not None and not mode:
        mode = DEFAULT_MODE
    unit = r.extra.get("unit")
    return {
        **_identity(r, names),
        "batch_size": batch_size,
        "mode": mode,
        "value": _number(r.value) if r.status == "ok" else None,
        "unit": unit if isinstance(unit, str) else PROFILE_UNITS.get(r.metric, ""),
        "device": r.provenance.get("device", ""),
        "status": r.status,
        "reason": r.reason,
    }


def _variant_key(row: dict[str, Any]) -> tuple:
    return (row["mode"], -1 if row.get("k") is None else row["k"])


def rows(records: Iterable[Record], names: Names | None = None) -> list[dict[str, Any]]:
    """results.csv's rows, in a stable order (protocol, version, method, seed, metric, mode,
    K, extractor; the ``all`` row before its tasks, tasks in the record's order)."""
    out = [row for r in records if is_method_metric(r) for row in metric_rows(r, names)]
    out.sort(
        key=lambda row: (
            row["protocol"],
            row["protocol_hash"],
            row["baseline"],
            row["seed"],
            row["metric"],
            *_variant_key(row),
            row["extractor"],
        )
    )  # stable: a record's own rows keep their order
    return out


def profile_rows(records: Iterable[Record], names: Names | None = None) -> list[dict[str, Any]]:
    out = [profile_row(r, names) for r in records if r.kind == "profile"]
    out.sort(
        key=lambda row: (
            row["protocol"],
            row["protocol_hash"],
            row["baseline"],
            row["seed"],
            row["metric"],
            row["mode"],
            -1 if row["batch_size"] is None else row["batch_size"],
        )
    )
    return out


def _csv(columns: tuple[str, ...], table: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return buf.getvalue()


def csv_text(results: Results) -> str:
    """results.csv: the method rows of every metric record (see the module docstring)."""
    return _csv(COLUMNS, rows(results.records, display_names(results)))


def profile_csv_text(results: Results) -> str:
    """profile.csv: every speed-profile record, one row each."""
    return _csv(PROFILE_COLUMNS, profile_rows(results.records, display_names(results)))
