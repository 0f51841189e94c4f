"""One cell in a process of its own, for ``--launcher local``.

The launcher forks each child from a server process that imported the harness once
(``multiprocessing``'s forkserver, this module preloaded), so a child starts in milliseconds
rather than the seconds an interpreter takes to import torch; ``child`` then gives it the
launcher's environment (its own GPU in ``CUDA_VISIBLE_DEVICES``), a session of its own (Ctrl-C
reaches the launcher, which stops its children) and its log file, and runs ``main``.

``python -m benchmark.launchers.cell JOB`` runs the same by hand. ``JOB`` is a pickled
``common.CellJob`` (the grid's config narrowed to the cell) written by the launcher; the cell
runs as an inline run runs it (``common.run_one``), and its outcome (done, skipped, failed,
failed earlier, busy) goes to ``JOB`` with the suffix ``.outcome``. A child that ends without
that file died: the launcher records the cell as failed with the last lines of its log. Exit
status as the CLI's: 0, 2 for a user error (one line), 130 when interrupted.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from benchmark.atomic import write_bytes
from benchmark.errors import UserError
from benchmark.launchers.common import CellJob, run_one
from benchmark.progress import log, setup_logging

INTERRUPTED = "interrupted: finished records are kept; rerun the same command to resume"


def outcome_path(job: Path) -> Path:
    return job.with_suffix(".outcome")


def main(argv: list[str]) -> int:
    setup_logging()
    path = Path(argv[0])
    job: CellJob = pickle.loads(path.read_bytes())
    log.info(f"{job.label}: one cell in a process of its own (pid {os.getpid()}, job {path})")
    try:
        outcome = run_one(job)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    write_bytes(outcome_path(path), f"{outcome}\n".encode())
    return 0


def child(job: Path, log_path: Path, env: dict[str, str]) -> None:
    """The target of a forked child: the launcher's environment, a session of its own, its
    output into ``log_path``, then ``main``; its exit status is ``main``'s."""
    os.setsid()
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    stream = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = sys.stderr = stream
    code = main([str(job)])
    stream.flush()
    if code:
        sys.exit(code)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
