"""Cell claims are the OS's advisory locks: held by a live run, gone with its holder whatever
the .lock file says (a reused PID, a crashed run's name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmark import locks
from tests.test_runner import HOLD


def test_a_live_holder_excludes_and_its_claim_dies_with_it(tmp_path):
    cell = tmp_path / "cell"
    cell.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(cell / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with locks.cell_lock(cell) as mine:
            assert mine is False
    finally:
        holder.kill()
        holder.wait()
    with locks.cell_lock(cell) as mine:
        assert mine is True
        info = json.loads((cell / ".lock").read_text())
        assert info["pid"] == os.getpid() and locks.holder(cell).startswith(
            f"process {os.getpid()}"
        )


def test_a_file_naming_a_live_unrelated_pid_claims_nothing(tmp_path):
    cell = tmp_path / "cell"
    cell.mkdir()
    (cell / ".lock").write_text(str(os.getppid()))  # the old format, a live process not us
    with locks.cell_lock(cell) as mine:
        assert mine is True
    with locks.cell_lock(cell) as first, locks.cell_lock(cell) as second:
        assert (first, second) == (True, False)  # two claims in one process exclude too
