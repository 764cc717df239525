"""Preemption: SIGTERM / SIGUSR1 ask the job to stop at the next safe point, not to die mid-write.

Slurm sends SIGUSR1 (`#SBATCH --signal=USR1@120`) or SIGTERM before it preempts or ends a job;
Open MPI's mpiexec forwards SIGUSR1 to every rank at once; on its own SIGTERM it sends SIGTERM to
the ranks about `odls_base_sigkill_timeout` seconds later (1 by default) and SIGKILL after as long
again — a commit takes well under that. The handler only records the request; the job polls `requested()` between work units,
commits what is done and exits with EXIT_RESUMABLE on every rank.

Two edges of a run are different:
- while a job loads its heavy libraries (`leaving_at_once`: torch, lightgbm, optuna — seconds, longer
  than mpiexec's one-second grace before SIGKILL), a stop ends the rank at once with EXIT_RESUMABLE:
  nothing of the new work exists yet, so there is nothing to commit, and waiting for the import to
  end would be cut short by the SIGKILL;
- once the job's outcome is decided (`settle`: its file complete, or resumable), a stop has nothing
  left to stop: it is ignored, so the process ends with the job's own exit code, never by the signal.

`test_hold(phase)` (tests only, MPIAPP_TEST_HOLD=phase) holds a rank at one of these edges until a
signal arrives, so a test provokes them at a known phase rather than with a sleep.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

from .. import exits

EXIT_RESUMABLE = exits.RESUMABLE  # interrupted, the .partial file resumes with --resume
HOLD_VAR = "MPIAPP_TEST_HOLD"  # tests only: the phase test_hold stops at

_requested: list[int] = []
_late: list[int] = []  # stops that came after the outcome was decided (ignored)
_state = {"mode": "record", "who": "mpiapp", "what": ""}  # record | leave | settled


def _handler(signum, frame):
    if _state["mode"] == "settled":
        _late.append(signum)
        return
    _requested.append(signum)
    if _state["mode"] == "leave":
        _leave(signum)


def _leave(signum) -> None:
    from .comm import launcher_rank

    if launcher_rank() == 0:
        msg = (
            f"{_state['who']}: stopped by {name(signum)} while loading {_state['what']}, before any new work: "
            "run the same command again\n"
        )
        try:
            os.write(2, msg.encode())
        except OSError:
            pass
    os._exit(EXIT_RESUMABLE)


def install(signals=(signal.SIGTERM, signal.SIGUSR1), who: str | None = None) -> None:
    """Handle the stop signals from now on; `who` ("mpiapp train") names the job in the one line said
    when a stop ends it while it loads its libraries."""
    if who:
        _state["who"] = who
    for s in signals:
        signal.signal(s, _handler)


@contextmanager
def leaving_at_once(what: str):
    """Within this block (a job importing its heavy libraries) a stop signal ends the rank at once,
    exit EXIT_RESUMABLE; so does one that came before it. Use it only where the job has nothing of
    its new work to save (before its output claim, or between a complete phase and the next)."""
    if _requested:
        _state["what"] = what
        _leave(_requested[0])
    before = _state["mode"]
    _state.update(mode="leave", what=what)
    try:
        test_hold("imports")
        yield
    finally:
        _state["mode"] = before


def settle() -> None:
    """The job's outcome is decided: stop signals from now on are ignored (see `late()`)."""
    _state["mode"] = "settled"


def late() -> list[int]:
    """The stop signals ignored after `settle()`."""
    return list(_late)


def test_hold(phase: str, timeout_s: float = 60.0) -> None:
    """Tests only: with MPIAPP_TEST_HOLD=phase, print `mpiapp test hold PHASE pid=N` and wait here until
    a stop signal arrives (or timeout_s) — at `imports` the signal then ends the rank, at `exit` it
    is ignored and the job ends as it would have."""
    if os.environ.get(HOLD_VAR) != phase:
        return
    import sys

    sys.stdout.flush()
    os.write(1, f"mpiapp test hold {phase} pid={os.getpid()}\n".encode())  # one write: whole among the ranks
    seen = len(_requested) + len(_late)
    t0 = time.monotonic()
    while len(_requested) + len(_late) == seen and time.monotonic() - t0 < timeout_s:
        time.sleep(0.01)


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
    _late.clear()
    _state["mode"] = "record"
