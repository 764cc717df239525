"""Error agreement: one rank's exception ends the whole job within seconds, loudly.

Two paths:
- an unexpected exception on any rank (the others may be waiting in a collective): print its
  traceback with a rank prefix, close registered files, then MPI_Abort — under mpiexec, srun or as
  a singleton. Without this, the other ranks would wait in their collective forever.
- an expected failure seen at an agreement point (bad input, a refused output file): `agree()`
  gathers every rank's verdict, so all ranks raise the same `JobError` and exit together with a
  clear message and no abort.
"""

from __future__ import annotations

import sys
import threading
import traceback
from contextlib import contextmanager

from .. import exits
from . import comm as _comm

EXIT_FAILED = exits.FAILED  # a rank raised; the job was aborted
EXIT_USAGE = exits.USAGE  # bad input or configuration, detected before compute


class JobError(Exception):
    """A failure every rank agrees on; `exit_code` is what the job returns."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


_closers: list = []
_installed = False


def on_abort(fn) -> None:
    """Run `fn()` before this rank aborts (close HDF5 files, flush logs). LIFO, each at most once."""
    _closers.append(fn)


def forget(fn) -> None:
    if fn in _closers:
        _closers.remove(fn)


def run_closers() -> None:
    while _closers:
        fn = _closers.pop()
        try:
            fn()
        except Exception as exc:  # closing must not hide the original error
            sys.stderr.write(f"(while closing after the error: {exc!r})\n")


def _prefix() -> str:
    try:
        c = _comm.world()
        return f"[mpiapp rank {c.Get_rank()}/{c.Get_size()}] "
    except Exception:
        return "[mpiapp] "


def report(exc: BaseException) -> str:
    """The traceback, every line prefixed with this rank (so interleaved output stays readable)."""
    pre = _prefix()
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines).rstrip("\n").splitlines()
    return "\n".join(pre + line for line in text) + "\n"


def abort_on(exc: BaseException, code: int = EXIT_FAILED) -> None:
    """Report `exc`, close files, and end every rank of the job."""
    try:
        sys.stderr.write(report(exc))
        sys.stderr.write(f"{_prefix()}aborting the job (exit code {code})\n")
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        run_closers()
        _comm.abort(code)


def _excepthook(exc_type, exc, tb):
    if exc is None:
        exc = exc_type()
    exc.__traceback__ = tb
    abort_on(exc)


def _thread_hook(args):
    if args.exc_type is SystemExit:
        return
    exc = args.exc_value or args.exc_type()
    exc.__traceback__ = args.exc_traceback
    abort_on(exc)


def install() -> None:
    """Make any uncaught exception (main thread or others) abort the whole job."""
    global _installed
    if not _installed:
        sys.excepthook = _excepthook
        threading.excepthook = _thread_hook
        _installed = True


def agree(error: str | None, comm=None) -> None:
    """Collective: raise the same JobError on every rank if any rank passed an error message."""
    comm = _comm.world(comm)
    errors = comm.allgather(error)
    bad = [(r, e) for r, e in enumerate(errors) if e]
    if bad:
        if len({e for _, e in bad}) == 1:
            raise JobError(bad[0][1])
        raise JobError("\n".join(f"rank {r}: {e}" for r, e in bad))


#: what `agreement` treats as an expected failure (bad input, a refused file): a one-line message
EXPECTED = (ValueError, OSError, JobError)


@contextmanager
def agreement(comm=None, expected=EXPECTED):
    """Collective: all ranks agree, or all raise the same JobError with the message(s).

    Every rank runs the block (a rank with nothing to check runs an empty one). An `expected`
    exception on any rank becomes `JobError` on every rank — exit 2 with one line per distinct
    message, no traceback, no abort; any other exception is unexpected and aborts the job as usual.

        with errors.agreement(comm):
            if rank == 0:
                index = src.index()   # a DataError here ends every rank with its message

    The exit code of a JobError raised inside the block is kept.
    """
    problem, code = None, EXIT_USAGE
    try:
        yield
    except expected as exc:
        problem = str(exc) or type(exc).__name__
        code = exc.exit_code if isinstance(exc, JobError) else EXIT_USAGE
    try:
        agree(problem, comm=comm)
    except JobError as exc:
        exc.exit_code = code if problem else EXIT_USAGE
        raise
