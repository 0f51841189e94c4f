"""User-facing errors: one line naming the file and the fix, exit status 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad path, wrong layout, missing weights).

    The CLI prints ``error: <message>`` on one line and exits with status 2.
    """

    exit_code = 2


class DiskFull(UserError):
    """Writing results failed for lack of space: the whole run stops (nothing finished is lost)."""


class CellFailure(Exception):
    """A grid cell that cannot finish (diverged, wrong output shape); the grid goes on."""
