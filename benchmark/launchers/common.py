"""What every launcher shares: the options, the pending cells, one cell's job (the runner's own
code path on a one-cell config) and the failed record of a job that died before writing one."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import baselines
from benchmark import device as devices
from benchmark import locks, runner
from benchmark import records as rec
from benchmark.errors import UserError
from benchmark.launchers.manifest import CellId
from benchmark.progress import log
from benchmark.run_config import RunConfig
from protocols.base import ProtocolData

LAUNCHERS = ("inline", "local", "submitit")
CLUSTERS = ("slurm", "local", "debug")
# a job that finds its cell claimed looks again this often before leaving it to the holder: a
# claim held for a moment (`status` looking, a launcher's first look) is not a run
BUSY_RETRIES, BUSY_WAIT_S = 3, 1.0


@dataclass
class LaunchOptions:
    """How the grid's cells are launched (``run_all.py --launcher ...``; docs/cluster.md)."""

    launcher: str = "inline"
    jobs: int | None = None  # local: cells at once (None: one per visible GPU, 1 on CPU)
    cluster: str = "slurm"  # submitit's executor: slurm, local (processes here) or debug
    partition: str | None = None
    time_min: int = 24 * 60
    gpus_per_cell: int | None = None  # None: 1 on Slurm unless --device cpu, else 0
    cpus_per_cell: int | None = None
    mem_gb: float | None = None
    array_parallelism: int | None = None
    setup: list[str] = field(default_factory=list)
    wait: bool = True
    device: str = "auto"  # as given: a cluster job resolves it on its own node
    refs: dict[str, str] = field(default_factory=dict)  # baseline name -> how it was named


@dataclass
class Pending:
    """A cell left to run, with its protocol's data (for its failed record, should it die)."""

    data: ProtocolData
    baseline: str
    seed: int

    @property
    def cell(self) -> CellId:
        p = self.data.protocol
        return CellId(p.name, p.hash, self.baseline, self.seed)


@dataclass
class CellJob:
    """One cell's job, picklable: the grid's config narrowed to the cell, how to find its
    baseline in a fresh process (a ``package.module:Class`` path registers on import) and,
    for a cluster job, the device to resolve where it runs."""

    cfg: RunConfig
    refs: dict[str, str]
    device: str | None = None  # None: cfg.device as it is
    threads: int | None = None  # torch's CPU threads (None: torch's default, as inline)

    @property
    def label(self) -> str:
        return f"{self.cfg.protocols[0]}/{self.cfg.baselines[0]}/seed{self.cfg.seeds[0]}"


def absolute(cfg: RunConfig) -> RunConfig:
    """``cfg`` with every path absolute: a job may start in another folder (a cluster node)."""

    def a(p: Path | None) -> Path | None:
        return None if p is None else Path(os.path.abspath(p))

    return dataclasses.replace(
        cfg,
        out=a(cfg.out),
        cache_dir=a(cfg.cache_dir),
        data_root=a(cfg.data_root),
        weights_dir=a(cfg.weights_dir),
        data={k: a(v) for k, v in cfg.data.items()},
        checkpoints={k: a(v) for k, v in cfg.checkpoints.items()},
        classifiers={k: a(v) for k, v in cfg.classifiers.items()},
    )


def one_cell(cfg: RunConfig, p: Pending, device: torch.device | None = None) -> RunConfig:
    """The config of a run of exactly one cell; the leaderboard is the launcher's to render."""
    name = p.data.protocol.name
    return dataclasses.replace(
        cfg,
        protocols=[name],
        baselines=[p.baseline],
        seeds=[p.seed],
        data={k: v for k, v in cfg.data.items() if k == name},
        classifiers={k: v for k, v in cfg.classifiers.items() if k == name},
        checkpoints={k: v for k, v in cfg.checkpoints.items() if k == p.baseline},
        report=False,
        device=device if device is not None else cfg.device,
    )


def plan(cfg: RunConfig, loaded: list[ProtocolData]) -> tuple[list[Pending], dict[str, int]]:
    """The cells left to run, and the counts of those that are not: finished earlier
    ("skipped") or failed earlier and not retried ("failed earlier"), as an inline run counts
    them. A cell another run holds is launched too: its job leaves it to the holder ("busy")."""
    counts = runner.new_counts()
    pending = []
    for data, name, seed in runner.grid_cells(cfg, loaded):
        state = runner.cell_state(cfg, data, name, seed)
        if state == "ok":
            counts["skipped"] += 1
        elif state == "failed":
            counts["failed earlier"] += 1
        else:
            pending.append(Pending(data, name, seed))
    return pending, counts


def run_one(job: CellJob) -> str:
    """Run the job's cell as an inline run does (``runner.run``); returns its outcome."""
    for ref in job.refs.values():  # a path names a class this process has not imported yet
        baselines.get(ref)
    cfg = job.cfg
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    if job.device is not None:
        cfg = dataclasses.replace(cfg, device=devices.resolve(job.device))
    counts: dict[str, int] = {}
    for attempt in range(BUSY_RETRIES):
        if attempt:
            time.sleep(BUSY_WAIT_S)
        counts = runner.run(cfg)
        if not counts["busy"]:
            break
    return next((outcome for outcome, n in counts.items() if n), "skipped")


def record_lost(
    cfg: RunConfig, p: Pending, why: str, log_tail: str, *, since: float, device: str
) -> str:
    """A cell's job ended without recording it: write its failed record, ``why`` and the last
    lines of the job's log as its reason, and return "failed". Under the cell's claim, and
    only when nothing recorded the cell since ``since`` (epoch seconds, when the job was
    launched): a cell another run finished or is running meanwhile is theirs ("skipped",
    "failed" or "busy", as the record or the claim says)."""
    cell = p.cell.folder(cfg.out)
    status = cell / f"{rec.CELL}.json"
    with locks.cell_lock(cell) as mine:
        if not mine:
            log.info(f"{p.cell.label}: its job died, but {locks.holder(cell)} is running it")
            return "busy"
        try:
            newer = status.stat().st_mtime >= since
        except OSError:
            newer = False
        if newer:
            try:
                ok = rec.read(status).status == "ok"
            except UserError:  # unreadable: the next run computes it again
                ok = False
            return "skipped" if ok else "failed"
        reason = why + (f"; its log ends: {log_tail}" if log_tail else "; its log is empty")
        rec.write(
            cfg.out,
            runner.lost_cell_record(
                cfg,
                p.data,
                p.baseline,
                p.seed,
                reason,
                wall_time_s=time.time() - since,
                device=device,
            ),
        )
    log.warning(f"{p.cell.label} failed: {reason}")
    return "failed"
