"""``--launcher submitit``: each pending cell one job of a job array (``executor.batch()``), on
Slurm (``--cluster slurm``), as processes here (``local``, to try it) or in this process one
after another (``debug``). Jobs and their logs live in ``RESULTS/.launch/submitit/<job id>/``.

A job is a ``submitit.helpers.Checkpointable`` (``CellJob``): preempted or out of time, it
requeues itself and its cell resumes from its last training checkpoint (the runner resumes from
atomic checkpoints; the claim died with the process). Without ``--no-wait`` the launcher waits,
logging progress and an ETA, records a job that ended without recording its cell as failed
with the job's stderr tail (killed, out of memory, an import error on the node), and renders
the leaderboard once (``grid``).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from typing import Any

import submitit
from submitit.core.utils import FailedSubmissionError

from benchmark.errors import UserError
from benchmark.launchers import common
from benchmark.launchers.common import LaunchOptions, Pending, one_cell, record_lost
from benchmark.launchers.manifest import Manifest, launch_dir, tail, tail_of
from benchmark.progress import Progress, fmt_seconds, log, setup_logging
from benchmark.run_config import RunConfig

MAX_TIMEOUTS = 20  # a cell may run into the time limit this often (resuming each time)
POLL_S = {"slurm": 30.0, "local": 0.5, "debug": 0.0}  # how often the launcher asks
HEARTBEAT_S = 300.0  # a line with the jobs' states when no cell finished for this long


class CellJob(submitit.helpers.Checkpointable):
    """One cell as a submitit job: ``common.run_one``, requeued with itself on preemption or
    timeout (``checkpoint``)."""

    def __init__(self, job: common.CellJob) -> None:
        self.job = job

    def __call__(self) -> str:
        if not logging.getLogger().handlers:  # a job's own process (debug jobs log as we do)
            setup_logging()
        env = submitit.JobEnvironment()
        log.info(f"{self.job.label}: job {env.job_id} on {env.hostname}")
        return common.run_one(self.job)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        log.warning(
            f"{self.job.label}: preempted or out of time; requeued, it resumes from its last "
            "training checkpoint"
        )
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def check(opts: LaunchOptions) -> None:
    """Mistakes found before any work: no Slurm here, a device a job cannot honour."""
    if opts.cluster == "slurm" and shutil.which("sbatch") is None:
        raise UserError(
            "--cluster slurm: sbatch is not on PATH here; launch from a Slurm login node, or "
            "try the grid on this machine with --cluster local"
        )
    if opts.device.lower().startswith("cuda:"):
        raise UserError(
            f"--device {opts.device}: a job computes on the GPU its cluster gives it; use "
            "--device cuda or auto with --launcher submitit"
        )


def _gpus(opts: LaunchOptions) -> int:
    if opts.gpus_per_cell is not None:
        return opts.gpus_per_cell
    return 1 if opts.cluster == "slurm" and opts.device.lower() != "cpu" else 0


def executor(cfg: RunConfig, opts: LaunchOptions) -> submitit.AutoExecutor:
    folder = launch_dir(cfg.out) / "submitit" / "%j"
    ex = submitit.AutoExecutor(
        folder=folder, cluster=opts.cluster, slurm_max_num_timeout=MAX_TIMEOUTS
    )
    params: dict[str, Any] = {
        "name": "i2i-bench",
        "timeout_min": opts.time_min,
        "nodes": 1,
        "tasks_per_node": 1,
        "gpus_per_node": _gpus(opts),
        "cpus_per_task": opts.cpus_per_cell,
        "mem_gb": opts.mem_gb,
        "slurm_partition": opts.partition,
        "slurm_array_parallelism": opts.array_parallelism,
        "slurm_setup": opts.setup or None,
    }
    if opts.cluster == "local" and opts.setup:
        params["local_setup"] = opts.setup
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def launch(
    cfg: RunConfig, pending: list[Pending], counts: dict[str, int], opts: LaunchOptions
) -> dict[str, int] | None:
    """Submit ``pending`` as one job array; wait for it (returns ``counts`` with the jobs'
    outcomes) or, with ``--no-wait``, print the job ids and return None."""
    ex = executor(cfg, opts)
    specs = [common.CellJob(one_cell(cfg, p), opts.refs, device=opts.device) for p in pending]
    try:
        with ex.batch():
            jobs = [ex.submit(CellJob(spec)) for spec in specs]
    except (FailedSubmissionError, subprocess.CalledProcessError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--cluster {opts.cluster}: submitting the jobs failed: {first}") from exc
    since = time.time()
    manifest = Manifest(
        cfg.out,
        "submitit",
        [p.cell for p in pending],
        cluster=opts.cluster,
        folder=str(launch_dir(cfg.out) / "submitit"),
    )
    for p, job in zip(pending, jobs):
        manifest.started(p.cell, job.job_id, job.paths.stderr)
    manifest.save()
    ids = " ".join(job.job_id for job in jobs)
    log.info(f"submitted {len(jobs)} jobs ({opts.cluster}): {ids}; manifest {manifest.path}")
    if not opts.wait:
        print(f"submitted {len(jobs)} jobs: {ids}")
        print(f"watch them with: python -m benchmark status {cfg.out}")
        return None
    return _wait(cfg, list(zip(pending, jobs)), counts, opts, since)


def _wait(
    cfg: RunConfig,
    left: list[tuple[Pending, submitit.Job]],
    counts: dict[str, int],
    opts: LaunchOptions,
    since: float,
) -> dict[str, int]:
    progress = Progress(len(left), "grid", every=0)
    beat = time.monotonic()
    try:
        while left:
            for item in [item for item in left if item[1].done()]:
                left.remove(item)
                p, job = item
                outcome = _outcome(cfg, p, job, opts, since)
                counts[outcome] += 1
                progress.update(detail=f"{p.cell.label} {outcome}", force=True)
                beat = time.monotonic()
            if left:
                time.sleep(POLL_S[opts.cluster])
                if time.monotonic() - beat > HEARTBEAT_S:
                    beat = time.monotonic()
                    states: dict[str, int] = {}
                    for _, job in left:
                        states[job.state] = states.get(job.state, 0) + 1
                    what = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items()))
                    elapsed = fmt_seconds(time.time() - since)
                    log.info(f"grid: {len(left)} jobs left ({what}) after {elapsed}")
    except KeyboardInterrupt:
        log.warning(
            "stopped waiting; the jobs go on (`python -m benchmark status "
            f"{cfg.out}` follows them; cancel them with scancel)"
        )
        raise
    return counts


def _outcome(
    cfg: RunConfig, p: Pending, job: submitit.Job, opts: LaunchOptions, since: float
) -> str:
    try:
        outcome = job.result()
    except Exception as exc:  # the job raised, was killed, or ran out of requeues
        state = job.state
        text = tail_of(job.paths.stderr) or tail(str(exc))
        return record_lost(
            cfg,
            p,
            f"job {job.job_id} ({state.lower()}) ended without recording the cell",
            text,
            since=since,
            device=f"{opts.device} in job {job.job_id}",
        )
    if outcome == "failed":
        log.warning(f"{p.cell.label} failed (job {job.job_id}; log {job.paths.stderr})")
    return str(outcome)
