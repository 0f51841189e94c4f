"""One way to write a file so readers see the old file or the whole new one, never a part.

Records, checkpoints, feature caches, traces and report images all go through ``atomic_path``:
write to a temp file beside the target, then ``os.replace``; on any error or Ctrl-C the temp
file is removed and the target is untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmark.errors import DiskFull

# no space, no quota, or past the process's file-size limit (ulimit -f): the machine's limits
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _out_of_room(tmp: Path) -> str | None:
    """Why a write into ``tmp`` ran out of room, judged from the machine (torch.save reports
    a failed write as a RuntimeError of its stream writer with no errno), or None."""
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    with contextlib.suppress(OSError):
        if soft != resource.RLIM_INFINITY and tmp.stat().st_size + (64 << 10) >= soft:
            return "past the file-size limit (ulimit -f)"
    with contextlib.suppress(OSError):
        st = os.statvfs(tmp.parent)
        if st.f_bavail * st.f_frsize < (1 << 20):
            return "No space left on device"
    return None


def disk_full(path: Path, exc: BaseException, tmp: Path | None = None) -> DiskFull | None:
    """A DiskFull naming ``path`` when ``exc`` is a write that ran out of room, else None."""
    why = None
    if isinstance(exc, OSError) and exc.errno in FULL:
        why = exc.strerror or str(exc)
    elif isinstance(exc, RuntimeError) and tmp is not None:
        why = _out_of_room(tmp)
    if why is None:
        return None
    return DiskFull(
        f"cannot write {path} ({why}); free space (or raise the file-size limit) and rerun the "
        "same command: finished records are kept and training resumes from its last checkpoint"
    )


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path in ``path``'s folder; on a clean exit it replaces ``path``.

    ``suffix`` matters to writers that choose a format by extension (``.json.gz`` traces)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; results are meant to be shared
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        full = disk_full(path, exc, Path(tmp))
        if full is not None:
            raise full from exc
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """``data`` to ``path`` atomically, flushed to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)
