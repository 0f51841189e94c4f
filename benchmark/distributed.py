"""Sharded evaluation under torchrun: the one module that knows about ``torch.distributed``.

``torchrun --nproc_per_node N run_all.py ...`` (or ``-m benchmark metrics ...``) starts N
processes (ranks). They join one process group here, from torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): gloo on CPU; on CUDA each rank
takes ``cuda:LOCAL_RANK`` and the group pairs gloo (CPU tensors, and every exchange here: the
harness moves pictures and features through CPU memory) with nccl (CUDA tensors, for a method
that trains across ranks one day). Without torchrun, or with one process, every helper below is
the plain one-process code path: a group of one.

Rank 0 leads: it alone claims cells, trains, computes metrics and writes records and JSON; the
other ranks follow its decisions (``broadcast``), sample their share of the batches
(``gather`` to rank 0) and extract their share of the features (``lead``: rank 0 hands out
work, the others serve it). An exception on one rank is raised on every rank (``agree``), so
no rank waits forever in a collective the others left. The other ranks log errors only: the
log is rank 0's.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

log = logging.getLogger("benchmark")
T = TypeVar("T")

# how long a rank waits in one exchange: rank 0 trains a cell for hours at paper scale while
# the others wait for its checkpoint (torchrun ends every rank once one dies, so a crash never
# waits this long)
WAIT = timedelta(days=7)
CPU_BACKEND, CUDA_BACKEND = "gloo", "cpu:gloo,cuda:nccl"


def launched() -> bool:
    """Whether torchrun (or another launcher setting its variables) started more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's ``LOCAL_RANK``; 0 without torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def active() -> bool:
    """Whether this process is one of several in a process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0: the one process that decides, computes metrics and writes."""
    return rank() == 0


def init(device: torch.device | None = None) -> None:
    """Join torchrun's process group once (a no-op without torchrun or once joined): gloo on
    CPU; ``device`` on CUDA (``cuda:LOCAL_RANK``) adds nccl for CUDA tensors. Ranks other than
    0 log errors only; rank 0 says the world size once."""
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return
    if not dist.is_available():
        raise RuntimeError(
            f"torchrun started {os.environ['WORLD_SIZE']} processes but this torch "
            f"({torch.__version__}) has no torch.distributed; run one process"
        )
    cuda = device is not None and device.type == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    backend = CUDA_BACKEND if cuda else CPU_BACKEND
    dist.init_process_group(backend, init_method="env://", timeout=WAIT)
    # torn down before the interpreter is: gloo's threads alive at exit abort the process
    atexit.register(_leave)
    if dist.get_rank() != 0:
        log.setLevel(logging.ERROR)
    log.info(
        f"torchrun: {dist.get_world_size()} processes ({'gloo + nccl' if cuda else 'gloo'}); "
        "each samples and extracts features for its share of the batches, rank 0 alone "
        "decides, trains, scores and writes"
    )


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


# --- exchanges: Python objects through CPU memory (gloo) --------------------------------------
def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (what the others pass is ignored)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0, by rank; None on the other ranks."""
    if not active():
        return [obj]
    out: list[Any] | None = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def _scatter(parts: Sequence[Any] | None) -> Any:
    """``parts[r]`` of rank 0 on rank r."""
    box: list[Any] = [None]
    dist.scatter_object_list(box, list(parts) if is_main() else None, src=0)
    return box[0]


def _portable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives pickling, else a RuntimeError with its words."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def agree(error: BaseException | None) -> None:
    """Raise on every rank the first error any rank had (lowest rank first), or nothing when no
    rank had one: every rank then takes the same way out of a cell."""
    if not active():
        if error is not None:
            raise error
        return
    errors: list[BaseException | None] = [None] * world_size()
    dist.all_gather_object(errors, None if error is None else _portable(error))
    first = next((i for i, e in enumerate(errors) if e is not None), None)
    if first is None:
        return
    if first == rank() and error is not None:
        raise error  # the original, with its traceback
    raise errors[first]


def on_main(fn: Callable[[], T]) -> T | None:
    """``fn()`` on rank 0 only; its exception is raised on every rank. None on the others."""
    result, error = None, None
    if is_main():
        try:
            result = fn()
        except Exception as exc:
            if not active():
                raise
            error = exc
    agree(error)
    return result


def main_first(fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0, then on the other ranks once it succeeded: rank 0 trains and saves a
    checkpoint, the others load it. An exception on any rank is raised on every rank."""
    result = on_main(fn)
    error = None
    if not is_main():
        try:
            result = fn()
        except Exception as exc:
            error = exc
    agree(error)
    return result  # type: ignore[return-value]


# --- shared work: rank 0 hands out items, every rank does its share ---------------------------
Jobs = dict[str, Callable[..., Any]]


class Pool:
    """Rank 0's handle on the ranks serving ``jobs`` (inside ``lead``)."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    @property
    def size(self) -> int:
        return world_size()

    def map(self, job: str, items: Sequence[Any], **kw: Any) -> list[Any]:
        """``jobs[job](item, **kw)`` of every item, in item order: item i on rank
        i % world size. A rank's exception is raised here, on rank 0."""
        world = world_size()
        broadcast(("job", job, kw))
        mine = _scatter([list(items[r::world]) for r in range(world)])
        parts = gather(_run(self.jobs[job], mine, kw))
        out: list[Any] = [None] * len(items)
        for r, (results, error) in enumerate(parts or []):
            if error is not None:
                raise error
            out[r::world] = results
        return out


def _run(fn: Callable[..., Any], items: list[Any], kw: dict) -> tuple[list[Any], Any]:
    try:
        return [fn(item, **kw) for item in items], None
    except Exception as exc:
        return [], _portable(exc)


def lead(jobs: Jobs, fn: Callable[[Pool | None], T]) -> T:
    """``fn(pool)`` on rank 0 while the other ranks serve the ``pool.map`` requests of ``jobs``
    it makes; every rank returns fn's result, and an exception fn raised is raised on every
    rank. With one process: ``fn(None)`` (the caller does the work itself)."""
    if not active():
        return fn(None)
    if is_main():
        try:
            result = fn(Pool(jobs))
        except Exception as exc:
            broadcast(("stop", _portable(exc), None))
            raise
        broadcast(("stop", None, result))
        return result
    while True:
        msg = broadcast(None)
        if msg[0] == "stop":
            if msg[1] is not None:
                raise msg[1]
            return msg[2]
        _, job, kw = msg
        gather(_run(jobs[job], _scatter(None), kw))
