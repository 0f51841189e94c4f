"""Result records: one JSON file per (protocol, baseline, seed, metric), written atomically.

A record exists only once it is complete (write to a temp file in the same folder, fsync,
``os.replace``), so Ctrl-C, a crash or a full disk never leaves a half-written result, and a
rerun resumes by skipping what exists. Records live under ``records/<protocol>-<hash>/`` so
results of another protocol version are never mixed with the current ones.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.atomic import write_bytes
from benchmark.errors import DiskFull, UserError

SCHEMA = 1
CELL = "_cell"  # the per-cell status record's metric name


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
    """Write ``text`` to ``path`` so readers see either the old file or the whole new one."""
    try:
        write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"disk full while writing {path}; free space and rerun the same command "
                "(finished records are intact and will be reused)"
            ) from exc
        raise


def write(root: Path, rec: Record) -> Path:
    rec.provenance.setdefault("written_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path = record_path(root, rec)
    atomic_write_text(path, rec.to_json() + "\n")
    return path


def read(path: Path) -> Record:
    try:
        return Record.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"unreadable record {path}: {exc}; delete it and rerun") from exc


def iter_records(root: Path) -> Iterator[Record]:
    """Every complete record under ``root`` (a results folder or its ``records/``)."""
    root = Path(root)
    base = root / "records" if (root / "records").is_dir() else root
    for path in sorted(base.rglob("*.json")):
        if path.name.startswith("."):
            continue
        yield read(path)


def load_all(root: Path) -> list[Record]:
    root = Path(root)
    if not root.exists():
        raise UserError(f"results folder {root} does not exist; run `python run_all.py` first")
    return list(iter_records(root))


@contextlib.contextmanager
def cell_lock(directory: Path) -> Iterator[bool]:
    """Exclusive claim on one cell so two runs sharing a results folder never run it twice.

    Yields False when another live process holds the cell; a lock left by a dead process is
    taken over.
    """
    directory.mkdir(parents=True, exist_ok=True)
    lock = directory / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid) and pid != os.getpid():
                yield False
                return
            with contextlib.suppress(OSError):
                lock.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
        return
    yield False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
