"""The one module that imports mpi4py.

Why here and only here: `mpi4py.rc` must be set before `from mpi4py import MPI` initialises MPI,
and every communicating function should get its communicator from one place. The library works
on a duplicate of COMM_WORLD so its messages never collide with a user's code on COMM_WORLD.
"""

from __future__ import annotations

import os
import socket
import sys

_MPI = None
_WORLD_DUP = None

THREAD_LEVELS = ("single", "funneled", "serialized", "multiple")


def mpi(thread_level: str | None = None):
    """The MPI module, initialised on first use with the requested thread level.

    thread_level: one of THREAD_LEVELS; default from MPIAPP_MPI_THREAD_LEVEL, else "funneled"
    (only the main thread calls MPI; Numba/OpenMP threads never do).
    """
    global _MPI
    if _MPI is None:
        try:
            import mpi4py
        except ImportError as exc:
            raise ImportError(
                f"mpi4py is not importable in this Python ({sys.executable}: {exc}); run "
                "./setup.sh and start jobs with .venv/bin/python (or activate .venv)"
            ) from None

        level = thread_level or os.environ.get("MPIAPP_MPI_THREAD_LEVEL") or "funneled"
        if level not in THREAD_LEVELS:
            raise ValueError(f"MPI thread level {level!r}: expected one of {THREAD_LEVELS}")
        mpi4py.rc.thread_level = level
        mpi4py.rc.errors = "exception"  # MPI errors become Python exceptions, caught by errors.py
        from mpi4py import MPI

        _MPI = MPI
    return _MPI


#: where launchers put a process's rank before MPI is initialised (Open MPI, PMIx, MPICH/PMI, Slurm)
_LAUNCHER_RANK = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID")


def launcher_rank() -> int:
    """This process's rank as its launcher announced it in the environment, for what must be said
    once before MPI exists (a config error, a missing mpi4py); 0 when no launcher set one."""
    for var in _LAUNCHER_RANK:
        v = os.environ.get(var, "")
        if v.isdigit():
            return int(v)
    return 0


def world(comm=None):
    """`comm` if given, else the library's duplicate of COMM_WORLD (created once)."""
    global _WORLD_DUP
    if comm is not None:
        return comm
    if _WORLD_DUP is None:
        _WORLD_DUP = mpi().COMM_WORLD.Dup()
    return _WORLD_DUP


def node_comm(comm=None):
    """Ranks that share this node's memory (MPI-3 COMM_TYPE_SHARED split)."""
    comm = world(comm)
    return comm.Split_type(mpi().COMM_TYPE_SHARED, key=comm.Get_rank())


def thread_level_name() -> str:
    MPI = mpi()
    provided = MPI.Query_thread()
    names = {
        MPI.THREAD_SINGLE: "single",
        MPI.THREAD_FUNNELED: "funneled",
        MPI.THREAD_SERIALIZED: "serialized",
        MPI.THREAD_MULTIPLE: "multiple",
    }
    return names.get(provided, str(provided))


def library() -> dict:
    """MPI implementation facts for `info` and results files."""
    import mpi4py

    MPI = mpi()
    vendor, version = MPI.get_vendor()
    return {
        "mpi4py": mpi4py.__version__,
        "vendor": vendor,
        "vendor_version": ".".join(map(str, version)),
        "library_version": MPI.Get_library_version().replace("\x00", "").strip().splitlines()[0],
        "standard": "%d.%d" % MPI.Get_version(),
        "thread_level": thread_level_name(),
    }


def hostname() -> str:
    return socket.gethostname()


def abort(code: int = 1, comm=None) -> None:
    """End every rank of the job now (MPI_Abort on the world communicator)."""
    MPI = mpi()
    (comm or MPI.COMM_WORLD).Abort(code)


def exit_process(code: int):
    """End this process with `code` once its job has finished, skipping the interpreter's teardown.

    Why: destroying the compiled Numba kernels one object at a time made a rank's exit take 0.35 s
    (measured: `python` running one scan, 0.45 s from the last statement to the process end, 0.08 s
    without Numba). What a normal exit does that matters still happens, in order: stdout and stderr
    flushed, the atexit handlers (logging, progress bars, thread pools), MPI_Finalize (when MPI is
    initialised and not yet finalised); then os._exit(code). Call it only from a job's
    `__main__`, never from library code. Never returns."""
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken pipe: nothing more can be said there
            pass
    atexit._run_exitfuncs()
    if "mpi4py.MPI" in sys.modules:
        MPI = sys.modules["mpi4py.MPI"]
        if MPI.Is_initialized() and not MPI.Is_finalized():
            MPI.Finalize()
    os._exit(int(code))


def launched_by_mpi() -> bool:
    """True when a launcher (mpiexec, srun) started this process, False for a singleton."""
    markers = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_ID", "MPI_LOCALNRANKS")
    return any(m in os.environ for m in markers)
