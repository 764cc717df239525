"""Preemption: SIGTERM / SIGUSR1 ask the job to stop at the next safe point, not to die mid-write.

Slurm sends SIGUSR1 (`#SBATCH --signal=USR1@120`) or SIGTERM before it preempts or ends a job;
Open MPI's mpiexec forwards SIGUSR1 to every rank at once; on its own SIGTERM it sends SIGTERM to
the ranks about `odls_base_sigkill_timeout` seconds later (1 by default) and SIGKILL after as long
again — a commit takes well under that. The handler only records the request; the job polls `requested()` between work units,
commits what is done and exits with EXIT_RESUMABLE on every rank.
"""

from __future__ import annotations

import signal

EXIT_RESUMABLE = 75  # EX_TEMPFAIL: interrupted, the .partial file resumes with --resume

_requested: list[int] = []


def _handler(signum, frame):
    _requested.append(signum)


def install(signals=(signal.SIGTERM, signal.SIGUSR1)) -> None:
    for s in signals:
        signal.signal(s, _handler)


def requested() -> int:
    """The first signal received since install (0 if none)."""
    return _requested[0] if _requested else 0


def adopt(signum: int) -> None:
    """Record a stop another rank received (ranks agree on stopping at a commit)."""
    if not _requested:
        _requested.append(signum)


def name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def reset() -> None:
    _requested.clear()
