"""``python -m benchmark status RESULTS``: where a grid stands, cell by cell, read from the
results folder alone (no torch, no model code): records, cell claims and launch manifests.

A cell is ``done`` (its status record says ok and every record it lists is there), ``running``
(a live process holds its claim, ``locks``: which one, for how long), ``failed`` (its reason:
for a job that died, the last lines of its log), or ``pending`` (launched, claimed once, or
left incomplete, with no record yet). Each comes with the id of the job that ran it (from the
launch manifests, ``RESULTS/.launch/*.json``) and the time it took (``wall_time_s`` of its
record). A last line sums up; the exit status is 0 whatever the cells' states.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark import locks
from benchmark import records as rec
from benchmark.errors import UserError
from benchmark.launchers.manifest import CellId, read_manifests
from benchmark.progress import fmt_seconds

STATES = ("done", "running", "failed", "pending")


@dataclass
class Row:
    cell: CellId
    state: str
    job: str = "-"
    took: str = "-"
    detail: str = ""


def _held(folder: Path) -> bool:
    """Whether a live process holds the cell's claim. The look takes a shared claim for an
    instant: a job starting the cell in that instant looks again (``launchers.common``)."""
    try:
        fd = os.open(folder / ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the look's claim
    return False


def _since(folder: Path) -> float | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return float(json.loads((folder / ".lock").read_text())["since"])
    return None


def _cell_of(folder: Path, records: Path) -> CellId | None:
    """The cell of a folder ``records/<protocol>-<hash>/<baseline>/seed<N>``."""
    parts = folder.relative_to(records).parts
    if len(parts) != 3 or not parts[2].startswith("seed") or "-" not in parts[0]:
        return None
    protocol, protocol_hash = parts[0].rsplit("-", 1)
    try:
        return CellId(protocol, protocol_hash, parts[1], int(parts[2][4:]))
    except ValueError:
        return None


def collect(out: Path) -> tuple[list[Row], list[str]]:
    """Every known cell of the results folder ``out``, and lines about what could not be read.
    Known: recorded, named by a launch manifest, or claimed once (its folder has a ``.lock``)."""
    out = Path(out)
    if not out.is_dir():
        raise UserError(f"results folder {out} does not exist; pass the --out of a run")
    status = {
        CellId(r.protocol, r.protocol_hash, r.baseline, r.seed): (path, r)
        for path, r in rec.read_folder(out, allow_empty=True)
        if r.metric == rec.CELL
    }
    manifests, problems = read_manifests(out)
    launched: dict[CellId, tuple[str | None, str | None, dict]] = {}
    for m in manifests:  # oldest first: the latest launch of a cell names its job
        for cell, job_id, log in m["cells"]:
            launched[cell] = (job_id, log, m)
    claimed = set()
    records = out / "records"
    if records.is_dir():
        for lock in records.glob("*/*/seed*/.lock"):
            cell = _cell_of(lock.parent, records)
            if cell is not None:
                claimed.add(cell)
    rows = []
    for cell in sorted(set(status) | set(launched) | claimed, key=_order):
        folder = cell.folder(out)
        job_id, log, m = launched.get(cell, (None, None, {}))
        row = Row(cell, "pending", job=job_id or "-")
        if _held(folder):
            since = _since(folder)
            row.state = "running"
            row.took = fmt_seconds(time.time() - since) if since else "-"
            row.detail = f"{locks.holder(folder)}" + (f"; log {log}" if log else "")
        elif cell in status:
            path, r = status[cell]
            wall = r.provenance.get("wall_time_s")
            row.took = fmt_seconds(wall) if isinstance(wall, (int, float)) else "-"
            missing = [n for n in r.extra.get("records", []) if not (path.parent / n).is_file()]
            if r.status == "ok" and not missing:
                row.state = "done"
            elif r.status == "ok":
                row.detail = (
                    f"{len(missing)} of its records are missing; the next run computes it again"
                )
            else:
                row.state = "failed"
                row.detail = r.reason or "no reason recorded"
        elif m:
            row.detail = f"launched {m.get('submitted_at', '?')} ({m.get('launcher', '?')})" + (
                f"; log {log}" if log else "; not started yet"
            )
        else:
            row.detail = "claimed once, never recorded (an interrupted run); the next run runs it"
        rows.append(row)
    return rows, problems


def _order(cell: CellId) -> tuple:
    return (cell.protocol, cell.protocol_hash, cell.baseline, cell.seed)


def render(rows: list[Row]) -> str:
    hashes: dict[str, set[str]] = {}
    for row in rows:
        hashes.setdefault(row.cell.protocol, set()).add(row.cell.protocol_hash)

    def label(c: CellId) -> str:  # the hash only where one protocol has several versions
        p = c.protocol if len(hashes[c.protocol]) == 1 else f"{c.protocol}-{c.protocol_hash}"
        return f"{p}/{c.baseline}/seed{c.seed}"

    table = [("cell", "state", "job", "took", "detail")]
    table += [(label(r.cell), r.state, r.job, r.took, r.detail) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(line[:4], widths)) + "  " + line[4] for line in table
    ]
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    summary = f"{len(rows)} cells: " + ", ".join(f"{counts[s]} {s}" for s in STATES)
    return "\n".join([*(ln.rstrip() for ln in lines), summary]) if rows else summary


def cmd_status(args: argparse.Namespace) -> int:
    rows, problems = collect(args.results)
    print(render(rows))
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status", help="where a grid stands: done, running, failed and pending cells"
    )
    p.add_argument(
        "results",
        nargs="?",
        type=Path,
        default=Path("results/latest"),
        help="the results folder (a run's --out; default results/latest)",
    )
    p.set_defaults(func=cmd_status)
