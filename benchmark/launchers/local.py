"""``--launcher local``: each cell a process of its own on this machine, ``--jobs N`` at a time
(default one per visible GPU, 1 on CPU), each pinned to one GPU (``CUDA_VISIBLE_DEVICES`` of
the child; it computes on ``cuda:0``), all into the same results folder.

A child is forked from a server process that imported the harness once (``cell.py``), and runs
exactly what an inline run does for its cell, its log in
``RESULTS/.launch/local/<stamp>/<cell>.log``. The parent waits, counts outcomes as an inline run
does, records a child that died without recording its cell as failed with its log's last
lines, and renders the leaderboard once (``grid``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark import device as devices
from benchmark import records as rec
from benchmark.atomic import write_bytes
from benchmark.errors import UserError
from benchmark.launchers import cell
from benchmark.launchers.common import CellJob, LaunchOptions, Pending, one_cell, record_lost
from benchmark.launchers.manifest import Manifest, launch_dir, tail_of
from benchmark.progress import Progress, fmt_seconds, log
from benchmark.run_config import RunConfig
from benchmark.runner import OUTCOMES

POLL_S = 0.05  # how often the parent looks at its children: small next to a process's start
HEARTBEAT_S = 60.0  # a line saying what runs, when no cell finished for this long
STOP_S = 30.0  # after Ctrl-C, how long children get to stop before they are killed


def warm_up() -> None:
    """Start the server the children fork from: it imports the harness while the launcher
    checks the data."""
    multiprocessing.forkserver.ensure_running()


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (indices or
    UUIDs), in order; none without CUDA."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def default_jobs(device: torch.device) -> int:
    return max(1, len(visible_gpus())) if device.type == "cuda" else 1


FORKSERVER = multiprocessing.get_context("forkserver")
FORKSERVER.set_forkserver_preload(["benchmark.launchers.cell"])


@dataclass
class _Child:
    pending: Pending
    process: multiprocessing.process.BaseProcess
    log: Path
    outcome: Path
    since: float  # epoch seconds at start
    start: float  # monotonic
    slot: int
    gpu: str | None


def _died(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    if code == 130:
        return "was interrupted"
    return f"exited with status {code}"


def launch(
    cfg: RunConfig, pending: list[Pending], counts: dict[str, int], opts: LaunchOptions
) -> dict[str, int]:
    """Run ``pending`` cells as child processes; returns ``counts`` with their outcomes."""
    jobs = opts.jobs or default_jobs(cfg.device)
    gpus = visible_gpus() if cfg.device.type == "cuda" else []
    manifest = Manifest(cfg.out, "local", [p.cell for p in pending], jobs=jobs, gpus=gpus)
    folder = launch_dir(cfg.out) / "local" / manifest.path.stem
    folder.mkdir(parents=True, exist_ok=True)
    where = f"GPUs {','.join(gpus)}" if gpus else devices.describe(cfg.device)
    log.info(
        f"launching {len(pending)} cells as processes, {jobs} at a time ({where}); logs in {folder}"
    )
    queue, running = deque(pending), []
    free = list(range(jobs))
    progress = Progress(len(pending), "grid", every=0)
    beat = time.monotonic()
    try:
        while queue or running:
            while queue and free:
                slot = free.pop(0)
                running.append(_start(cfg, queue.popleft(), slot, gpus, folder, opts, jobs))
                child = running[-1]
                manifest.started(child.pending.cell, str(child.process.pid), child.log)
                manifest.save()
            time.sleep(POLL_S)
            for child in [c for c in running if c.process.exitcode is not None]:
                running.remove(child)
                free.append(child.slot)
                outcome = _finish(cfg, child)
                counts[outcome] += 1
                progress.update(detail=f"{child.pending.cell.label} {outcome}", force=True)
                beat = time.monotonic()
            if running and time.monotonic() - beat > HEARTBEAT_S:
                beat = time.monotonic()
                now = time.monotonic()
                busy = ", ".join(
                    f"{c.pending.cell.label} {fmt_seconds(now - c.start)}" for c in running
                )
                log.info(f"grid: running {busy}; {len(queue)} waiting")
    except KeyboardInterrupt:
        _stop(running)
        raise
    return counts


def _threads(gpu: str | None, jobs: int) -> int | None:
    """A GPU child's CPU threads: the machine's cores shared among the children (torch's
    default in each, every core, would put ``jobs`` threads on each core, and the CPU side of
    eight GPU cells would crawl). None on CPU, or when ``OMP_NUM_THREADS`` says: torch's
    default, so that a CPU cell computes exactly the numbers of an inline run."""
    if gpu is None or "OMP_NUM_THREADS" in os.environ:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // jobs)


def _start(
    cfg: RunConfig,
    p: Pending,
    slot: int,
    gpus: list[str],
    folder: Path,
    opts: LaunchOptions,
    jobs: int,
) -> _Child:
    gpu = gpus[slot % len(gpus)] if gpus else None
    device = torch.device("cuda", 0) if gpu is not None else None
    spec = folder / f"{p.cell.slug}.job.pkl"
    job = CellJob(one_cell(cfg, p, device), opts.refs, threads=_threads(gpu, jobs))
    write_bytes(spec, pickle.dumps(job))
    log_path = folder / f"{p.cell.slug}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    process = FORKSERVER.Process(
        target=cell.child, args=(spec, log_path, env), name=p.cell.label, daemon=False
    )
    since, start = time.time(), time.monotonic()
    process.start()
    return _Child(p, process, log_path, cell.outcome_path(spec), since, start, slot, gpu)


def _finish(cfg: RunConfig, child: _Child) -> str:
    label = child.pending.cell.label
    try:
        outcome = child.outcome.read_text().strip()
    except OSError:
        outcome = ""
    if outcome not in OUTCOMES:
        code = child.process.exitcode
        where = f"cuda (GPU {child.gpu})" if child.gpu is not None else str(cfg.device)
        return record_lost(
            cfg,
            child.pending,
            f"its process (pid {child.process.pid}) {_died(code)} without recording the cell",
            tail_of(child.log),
            since=child.since,
            device=where,
        )
    if outcome == "failed":
        with contextlib.suppress(UserError):
            status = child.pending.cell.folder(cfg.out) / f"{rec.CELL}.json"
            log.warning(f"{label} failed: {rec.read(status).reason} (log: {child.log})")
    return outcome


def _stop(running: list[_Child]) -> None:
    """Ctrl-C: each child stops as an interrupted inline run does (its cell unrecorded, its
    training checkpoint kept); one that does not within STOP_S is killed."""
    for child in running:
        with contextlib.suppress(OSError, TypeError):
            os.kill(child.process.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_S
    for child in running:
        child.process.join(timeout=max(0.1, deadline - time.monotonic()))
        if child.process.exitcode is None:
            child.process.kill()
            child.process.join()
