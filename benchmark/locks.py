"""Per-cell claims so that runs sharing a results folder (two shells, a cluster's jobs) never run
one cell twice.

The claim is the operating system's advisory lock (``fcntl.flock``) on ``CELL/.lock``: it dies
with its holder however the holder dies (Ctrl-C, SIGKILL, a crashed node's lease on NFSv4), so a
stale claim can never block a cell, and a reused PID means nothing. The file itself stays (removing
it would let a third process lock a fresh inode while a second holds the old one); it only names
the current holder (host, PID, start time) for messages. Shared file systems must support
``flock`` (NFSv4 and CephFS do; Lustre needs the ``flock`` mount option).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def cell_lock(directory: Path) -> Iterator[bool]:
    """Yield True holding the cell's claim, or False when a live process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield True
    finally:
        os.close(fd)  # releases the claim


def holder(directory: Path) -> str:
    """Who holds (or last held) the cell, in words, for a busy message."""
    try:
        info = json.loads((directory / ".lock").read_text())
        return f"process {info['pid']} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
