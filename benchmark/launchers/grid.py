"""The grid through a launcher: checked, planned and finished as an inline run (``runner``),
its pending cells run by ``local`` (processes here) or ``cluster`` (submitit jobs)."""

from __future__ import annotations

import time

from benchmark import runner
from benchmark.errors import UserError
from benchmark.launchers.common import LaunchOptions, absolute, plan
from benchmark.progress import log
from benchmark.run_config import RunConfig


def launch(cfg: RunConfig, opts: LaunchOptions) -> dict[str, int] | None:
    """Run the grid's pending cells through ``opts.launcher``; returns the count of cells per
    outcome as ``runner.run`` does, or None when ``--no-wait`` left the jobs running."""
    if opts.launcher == "submitit":
        try:
            from benchmark.launchers import cluster
        except ImportError as exc:
            raise UserError(
                f"--launcher submitit needs the submitit package ({exc}); pip install submitit"
            ) from exc
        cluster.check(opts)
    else:
        from benchmark.launchers import local

        local.warm_up()
    cfg = absolute(cfg)  # a job may start elsewhere (another folder, another node)
    start = time.monotonic()
    loaded, _ = runner.prepare(cfg)  # every mistake in the data found before any job starts
    if opts.launcher == "submitit":
        where = f"{opts.device} in each job ({opts.cluster})"
    else:
        jobs = opts.jobs or local.default_jobs(cfg.device)
        where = f"{cfg.device.type}, {jobs} cell(s) at a time"
    runner.announce(cfg, loaded, device=where)
    pending, counts = plan(cfg, loaded)
    if counts["skipped"] or counts["failed earlier"]:
        log.info(
            f"{counts['skipped']} cell(s) finished earlier, {counts['failed earlier']} failed "
            "earlier (--retry-failed runs them again): not launched"
        )
    if not pending:
        log.info("nothing to launch: every cell of the grid is recorded")
    elif opts.launcher == "submitit":
        waited = cluster.launch(cfg, pending, counts, opts)
        if waited is None:
            return None
    else:
        local.launch(cfg, pending, counts, opts)
    runner.summarise(cfg, counts, time.monotonic() - start)
    return counts
