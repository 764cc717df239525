"""Collective protocol pieces of the work loop: a barrier that sleeps, and the agreement to go on.

Why here: they are MPI, and MPI stays in runtime/. The work layer calls them between work units;
engines never do.
"""

from __future__ import annotations

import numpy as np

from . import comm as _comm
from . import signals
from .backoff import Backoff


def sleeping_barrier(comm=None, on_wait=None) -> None:
    """Collective: wait for every rank without spinning a core.

    An idle rank must not steal CPU from the ranks still computing (on an oversubscribed or fully
    used node a busy-polling MPI_Barrier does). Polls a non-blocking barrier with a growing sleep
    (0.5 ms to 50 ms); `on_wait()` is called between polls (e.g. to refresh a progress bar).
    """
    req = _comm.world(comm).Ibarrier()
    pause = Backoff(0.0005, 0.05)
    while not req.Test():
        pause.wait()
        if on_wait is not None:
            on_wait()


def agree_to_continue(has_more: bool, comm=None) -> tuple[bool, int]:
    """Collective: (does any rank have more work, the stop signal any rank received or 0).

    A signal received by any rank is adopted by every rank (`signals.adopt`), so all of them stop at
    this same point.
    """
    MPI = _comm.mpi()
    flags = np.array([1 if has_more else 0, signals.requested()], dtype=np.int64)
    glob = np.empty_like(flags)
    _comm.world(comm).Allreduce(flags, glob, op=MPI.MAX)
    if glob[1]:
        signals.adopt(int(glob[1]))
    return bool(glob[0]), int(glob[1])


def any_signal(comm=None) -> int:
    """Collective: the stop signal any rank received, or 0."""
    return int(_comm.world(comm).allreduce(signals.requested(), op=_comm.mpi().MAX))


def bcast(obj, comm=None, root: int = 0):
    """Collective: rank `root`'s `obj` on every rank."""
    return _comm.world(comm).bcast(obj, root=root)


def allgather(obj, comm=None) -> list:
    """Collective: every rank's `obj`, in rank order, on every rank."""
    return _comm.world(comm).allgather(obj)


def gather(obj, comm=None, root: int = 0):
    """Collective: every rank's `obj` in rank order on `root`, None elsewhere."""
    return _comm.world(comm).gather(obj, root=root)


def allreduce_sum(value, comm=None):
    """Collective: the sum of a number over the ranks."""
    return _comm.world(comm).allreduce(value)


def rank(comm=None) -> int:
    """This process's rank in `comm` (default: the library's world)."""
    return _comm.world(comm).Get_rank()
