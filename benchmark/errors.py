"""User-facing errors: one line naming the file and the fix, exit status 2, no traceback."""

from __future__ import annotations

import os
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix (bad path, wrong layout, missing weights).

    The CLI prints ``error: <message>`` on one line and exits with status 2.
    """

    exit_code = 2


class DiskFull(UserError):
    """Writing results failed for lack of space: the whole run stops (nothing finished is lost)."""


def output_folder(path: Path, flag: str) -> Path:
    """``path`` as a folder the command can write into, created if missing: checked before any
    work starts, so a typo never costs a computation."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder; pass a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{flag} {path}: cannot create the folder ({exc.strerror}); pick a writable place"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path} is not writable; pick a writable folder")
    return path


class CellFailure(Exception):
    """A grid cell that cannot finish (diverged, wrong output shape); the grid goes on."""
