"""What a launcher started, on disk and read back without torch: one launch manifest per launch
(``RESULTS/.launch/<timestamp>.json``: the launcher, the cells it launched, each with its job id
and log, and when), and the last lines of a job's log, which become a dead job's reason.

Everything lives in ``RESULTS/.launch/``, a dot-folder: the readers of records never look there
(``records.record_files``), so a launch adds nothing to the leaderboard or the gate.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmark import records as rec
from benchmark.atomic import write_bytes

LAUNCH = ".launch"  # under the results folder; hidden from every reader of records
TAIL_LINES = 6  # lines of a dead job's log in its cell's reason
TAIL_WIDTH = 300  # characters kept of each


@dataclass(frozen=True)
class CellId:
    """One cell of the grid, as its records name it."""

    protocol: str
    protocol_hash: str
    baseline: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.protocol}/{self.baseline}/seed{self.seed}"

    @property
    def slug(self) -> str:
        """A file name for the cell's job files (spec, log, outcome)."""
        return f"{self.protocol}-{self.protocol_hash}--{self.baseline}--seed{self.seed}"

    def folder(self, out: Path) -> Path:
        return rec.cell_dir(out, self.protocol, self.protocol_hash, self.baseline, self.seed)


def launch_dir(out: Path) -> Path:
    return Path(out) / LAUNCH


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Manifest:
    """``RESULTS/.launch/<timestamp>.json``, written when a launch starts and again as its jobs
    get ids: ``launcher``, ``submitted_at``, ``cells`` (protocol, protocol_hash, baseline,
    seed, job_id, log) and ``job_ids``; ``extra`` adds fields (the cluster, the job folder)."""

    def __init__(self, out: Path, launcher: str, cells: list[CellId], **extra: Any) -> None:
        folder = launch_dir(out)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"_{time.time_ns() % 10**9:09d}Z"
        self.path = folder / f"{stamp}.json"
        self.data: dict[str, Any] = {
            "launcher": launcher,
            "submitted_at": now_iso(),
            **extra,
            "cells": [{**asdict(c), "job_id": None, "log": None} for c in cells],
            "job_ids": [],
        }
        self._index = {c: i for i, c in enumerate(cells)}
        self.save()

    def started(self, cell: CellId, job_id: str, log: Path | None) -> None:
        """Name the job that runs ``cell`` (and its log); call ``save`` to write it."""
        entry = self.data["cells"][self._index[cell]]
        entry["job_id"], entry["log"] = str(job_id), str(log) if log else None
        self.data["job_ids"].append(str(job_id))

    def save(self) -> None:
        write_bytes(self.path, (json.dumps(self.data, indent=1) + "\n").encode())


def read_manifests(out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every launch manifest of the results folder ``out``, oldest first, and a line for each
    file that could not be read (``status`` says so and goes on)."""
    found, problems = [], []
    for path in sorted(launch_dir(out).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cells = [
                (
                    CellId(c["protocol"], c["protocol_hash"], c["baseline"], int(c["seed"])),
                    c.get("job_id"),
                    c.get("log"),
                )
                for c in data["cells"]
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}: unreadable launch manifest ({exc}); ignored")
            continue
        found.append({**data, "path": str(path), "cells": cells})
    return sorted(found, key=lambda m: str(m.get("submitted_at", ""))), problems


def tail(text: str | None, lines: int = TAIL_LINES, width: int = TAIL_WIDTH) -> str:
    """The last ``lines`` non-empty lines of a log, each cut to ``width`` characters, on one
    line (`` | `` between them): a record's reason stays one line in every report format."""
    kept = [ln.strip() for ln in (text or "").splitlines() if ln.strip()][-lines:]
    return " | ".join(ln if len(ln) <= width else ln[: width - 3] + "..." for ln in kept)


def tail_of(path: Path | str | None, lines: int = TAIL_LINES) -> str:
    """``tail`` of the file at ``path`` (only its end is read); "" when there is none."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            return tail(f.read().decode("utf-8", errors="replace"), lines)
    except OSError:
        return ""
