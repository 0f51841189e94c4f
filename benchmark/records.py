"""Result records: one JSON file per (protocol, baseline, seed, metric), written atomically.

A record exists only once it is complete (write to a temp file in the same folder, fsync,
``os.replace``), so Ctrl-C, a crash or a full disk never leaves a half-written result, and a
rerun resumes by skipping what exists. Records live under ``records/<protocol>-<hash>/`` so
results of another protocol version are never mixed with the current ones.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.atomic import write_bytes
from benchmark.errors import UserError
from benchmark.values import Kind

SCHEMA = 1
CELL = "_cell"  # the per-cell status record's metric name
# what a speed profile records: they change with the machine and its load, not with model
# quality (never gated, shown apart)
PROFILE_METRICS = ("latency_ms", "throughput", "peak_memory_mb", "params", "flops", "kernels")


@dataclass
class Record:
    """One number (or one cell status) with everything needed to trust and compare it."""

    protocol: str
    protocol_hash: str
    baseline: str
    seed: int
    metric: str
    value: float | None = None
    std: float | None = None
    variant: str = ""  # e.g. "latent", "reference", "k=5"; "" when the metric has one form
    extractor: str | None = None  # feature extractor id; None for pixel metrics
    direction: str = "lower"  # "lower" or "higher" is better
    status: str = "ok"  # ok | failed | skipped
    reason: str | None = None
    config: str = ""
    preset: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    @property
    def kind(self) -> Kind:
        """Which part of the suite made it, read off the metric name (no field on disk, so every
        record ever written has one), named as ``benchmark.values.Value.kind``: ``cell`` (the
        cell's status), ``profile`` (speed and cost: shown apart, never gated) or ``metric``."""
        if self.metric == CELL:
            return "cell"
        if self.metric in PROFILE_METRICS:
            return "profile"
        return "metric"

    @property
    def key(self) -> tuple[str, ...]:
        return (
            self.protocol,
            self.protocol_hash,
            self.baseline,
            str(self.seed),
            self.metric,
            self.variant,
            self.extractor or "",
        )

    def to_json(self) -> str:
        data = asdict(self)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            data["value"] = None
            data["status"] = "failed"
            data["reason"] = data["reason"] or f"non-finite value ({self.value})"
        return json.dumps(data, indent=1, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _slug(text: str) -> str:
    """File-name-safe form; underscores are kept so ``_cell`` never collides with ``cell``."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip(".") or "_"


def cell_dir(root: Path, protocol: str, protocol_hash: str, baseline: str, seed: int) -> Path:
    return Path(root) / "records" / f"{protocol}-{protocol_hash}" / baseline / f"seed{seed}"


def record_path(root: Path, rec: Record) -> Path:
    name = _slug(rec.metric)
    if rec.variant:
        name += "--" + _slug(rec.variant)
    if rec.extractor:
        name += "--" + _slug(rec.extractor)
    base = cell_dir(root, rec.protocol, rec.protocol_hash, rec.baseline, rec.seed)
    return base / f"{name}.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see either the old file or the whole new one (a
    full disk is a DiskFull naming the file: benchmark.atomic)."""
    write_bytes(path, text.encode("utf-8"))


def write(root: Path, rec: Record) -> Path:
    rec.provenance.setdefault("written_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path = record_path(root, rec)
    atomic_write_text(path, rec.to_json() + "\n")
    return path


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    return {dict: "an object", list: "an array", str: "text"}.get(type(v), "a number")


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number_or_null(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


DIRECTIONS = ("lower", "higher")  # which way a record's value is better
_OPTIONAL_TEXT = ("variant", "direction", "status", "config", "preset")
_TEXT_OR_NULL = ("extractor", "reason")
# field -> (what it must be, check); the first five are required. "value" is checked apart:
# it must also be finite (to_json never writes NaN or infinity there)
_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "protocol": ("non-empty text", _text),
    "protocol_hash": ("non-empty text", _text),
    "baseline": ("non-empty text", _text),
    "metric": ("non-empty text", _text),
    "seed": ("an integer", _integer),
    "std": ("a number or null", _number_or_null),
    **{k: ("text", lambda v: isinstance(v, str)) for k in _OPTIONAL_TEXT},
    **{k: ("text or null", lambda v: v is None or isinstance(v, str)) for k in _TEXT_OR_NULL},
    "provenance": ("an object", lambda v: isinstance(v, dict)),
    "extra": ("an object", lambda v: isinstance(v, dict)),
    "schema": ("an integer", _integer),
}


def _problem(data: Any) -> str | None:
    """What makes parsed JSON not a record, in a user's words, or None: the gate, the report
    and resume then meet only well-typed fields instead of crashing deep inside."""
    if not isinstance(data, dict):
        return f"not a JSON object but {_json_type(data)}"
    for name in list(_FIELDS)[:5]:
        if name not in data:
            return f"missing '{name}'"
    for name, (want, ok) in _FIELDS.items():
        if name in data and not ok(data[name]):
            return f"'{name}' is {_json_type(data[name])}, expected {want}"
    if data.get("direction", "lower") not in DIRECTIONS:
        return f"'direction' {data['direction']!r} is not lower/higher"
    value = data.get("value")
    if not _number_or_null(value) or (value is not None and not math.isfinite(value)):
        return f"'value' {value!r} is not a finite number"
    return None


def read(path: Path) -> Record:
    """One record; a file that is not valid JSON, or JSON that is not a well-typed record, is
    a one-line UserError naming it (a hand edit or a disk fault must not crash the gate)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"unreadable record {path}: {exc}; delete it and rerun") from exc
    problem = _problem(data)
    if problem:
        raise UserError(f"unreadable record {path}: {problem}; delete it and rerun")
    return Record.from_dict(data)


RUN_ALL = "run `python run_all.py` first"


def record_files(base: Path) -> list[Path]:
    """The record files under ``base``, sorted; a path with any part (below ``base``) starting
    with "." is no record: a temp file of a write, an update's ``.records.new-*`` folder."""
    base = Path(base)
    return [
        path
        for path in sorted(base.rglob("*.json"))
        if not any(part.startswith(".") for part in path.relative_to(base).parts)
    ]


def read_folder(
    root: Path,
    label: str = "results",
    *,
    allow_empty: bool = False,
    option: str = "",
    make: str = RUN_ALL,
) -> list[tuple[Path, Record]]:
    """Every record of the results folder ``root`` (under ``root/records``) with its file: the
    one reader of the report and the gate. Whatever cannot be read is a one-line UserError naming
    the path and the fix: a missing folder, a folder without ``records/`` (one an interrupted
    ``regress --update`` left as ``.records.old``), no records at all, a corrupt record (``read``).

    ``label`` names the folder in messages ("results", "reference"); ``option`` is the command
    line option that gave it ("--reference"; "" for a positional argument), so a message can say
    to fix it; ``make`` is how such a folder is made, said when it is missing or empty. With
    ``allow_empty`` a missing or empty folder is ``[]`` (a reference ``--update`` creates).
    """
    root = Path(root)
    base = root / "records"
    where = f"{label} folder {root}"
    or_fix = f" (or fix {option})" if option else ""
    if not base.is_dir():
        if (root / ".records.old").is_dir():
            raise UserError(
                f"{where} has .records.old but no records/: an --update was interrupted; "
                "rename .records.old back to records or rerun --update"
            )
        if allow_empty:
            return []
        if not root.exists():
            raise UserError(f"{where} does not exist; {make}{or_fix}")
        point = f"point {option} at" if option else "pass"
        raise UserError(
            f"{where} has no records/ folder; {point} a folder written by run_all.py "
            "(it contains records/)"
        )
    out = [(path, read(path)) for path in record_files(base)]
    if not out and not allow_empty:
        raise UserError(f"{where} holds no records under records/; {make}{or_fix}")
    return out


def iter_records(root: Path) -> Iterator[Record]:
    """Every record under ``root`` (a results folder or its ``records/``), nothing when there is
    none: for tests and tools that look at what a run wrote; a command reads with
    ``read_folder``."""
    root = Path(root)
    base = root / "records" if (root / "records").is_dir() else root
    for path in record_files(base):
        yield read(path)
