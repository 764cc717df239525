"""Job-wide counters on rank 0 for dynamic work claiming and the progress bar: RMA where it works,
messages answered by rank 0 where it does not.

Why a counter and not a dispatcher: every rank, rank 0 included, computes all the time; a unit is
claimed by one fetch-and-add on a counter kept by rank 0, and no claim may wait until rank 0 has
finished a unit of its own. Two ways to keep that promise (`Counters`):

- "rma": an MPI-3 window on rank 0, claimed by MPI_Fetch_and_op (passive target, shared lock). On
  one node Open MPI's osc/sm does the atomic in shared memory; across nodes osc/ucx does it in the
  NIC. Neither needs rank 0 to enter MPI while it computes.
- "messages": the other ranks send a request to rank 0 and wait for the answer; rank 0 answers
  whenever its main thread polls (`serve`). The work loop (work/loop.py) then runs rank 0's own units
  in a worker thread and polls every few milliseconds while it waits for them, so a claim is answered
  within milliseconds, not after rank 0's unit. Only the main thread calls MPI: any thread level works.

Which one a job uses is decided once, collectively, at start (`detect`): RMA when a window can be
made, its atomics count right across the job's ranks, and (when the job spans several hosts) a
fetch-and-add completes while rank 0 stays out of MPI. Debian's and Ubuntu's stock Open MPI
(`osc = ^ucx,pt2pt` in openmpi-mca-params.conf) leaves only osc/rdma, which cannot do atomics over
TCP: `Win.Allocate` fails on every rank (MPI_ERR_WIN) and the job counts with messages. An
osc/pt2pt window works but answers only when rank 0 enters MPI (measured by the same test): messages
again. `runtime.work_counter` (env MPIAPP_WORK_COUNTER) forces a mode. Counts are the same in both.

Units are handed out in the order given (callers pass them costliest first, which is LPT's greedy
order made dynamic). bench/runtime_overhead.py measures the per-unit cost against a static plan.
"""

from __future__ import annotations

import time

import numpy as np

from . import comm as _comm
from .backoff import Backoff

MODES = ("rma", "messages")
#: seconds rank 0 stays out of MPI while a rank on another host does one fetch-and-add (detect)
PROGRESS_PROBE_S = 0.2

_mode: str | None = None
_why: str = ""

# message kinds (one int64 triple: kind, counter, amount) and tags
_FETCH_ADD, _ADD, _CLOSE = 1, 2, 3
_TAG_REQ, _TAG_REPLY = 71, 72


def detect(want: str = "auto", comm=None) -> str:
    """Collective: the counter mode of this job ("rma" or "messages"), remembered for `mode()`.

    want: "auto" (test RMA as the module docstring says), "rma" or "messages" (forced). The reason
    for the choice is kept for `why()`. Never raises for an RMA that does not work: that is what
    the test is for.
    """
    global _mode, _why
    if want not in ("auto",) + MODES:
        raise ValueError(f"work counter {want!r}: expected auto, rma or messages")
    comm = _comm.world(comm)
    if want != "auto":
        _mode, _why = want, "set by runtime.work_counter"
        return _mode
    ok, why = _rma_works(comm)
    _mode, _why = ("rma" if ok else "messages"), why
    return _mode


def mode(comm=None) -> str:
    """The job's counter mode (detected now, collectively, if `detect` was not called yet)."""
    return _mode if _mode is not None else detect("auto", comm)


def why() -> str:
    """Why `mode()` is what it is (one phrase, for `mpiapp info` and the log)."""
    return _why


def _rma_works(comm) -> tuple[bool, str]:
    """Collective: (whether an RMA counter works for this job, why not / how it was shown)."""
    MPI = _comm.mpi()
    c = comm.Dup()
    rank, size = c.Get_rank(), c.Get_size()
    try:
        try:
            win = MPI.Win.Allocate(8 if rank == 0 else 0, disp_unit=8, comm=c)
            err = ""
        except MPI.Exception as exc:
            win, err = None, exc.Get_error_string().strip() or str(exc)
        errs = c.allgather(err)
        if any(errs):
            if win is not None:
                win.Free()
            first = next(e for e in errs if e)
            return False, f"MPI_Win_allocate failed ({first}): no one-sided component for these hosts"
        try:
            one, out = np.ones(1, dtype=np.int64), np.empty(1, dtype=np.int64)
            if rank == 0:
                win.Lock(0, MPI.LOCK_EXCLUSIVE)
                win.Put(np.zeros(1, dtype=np.int64), 0)
                win.Unlock(0)
            c.Barrier()
            win.Lock(0, MPI.LOCK_SHARED)
            win.Fetch_and_op(one, out, 0, 0, MPI.SUM)
            win.Unlock(0)
            got = sorted(c.allgather(int(out[0])))
            if got != list(range(size)):
                return False, f"RMA fetch-and-add counted wrong across the ranks ({got})"
            hosts = c.allgather(_comm.hostname())
            if len(set(hosts)) == 1:
                return True, "RMA atomics on one host"
            # across hosts: does a fetch-and-add complete while rank 0 computes (stays out of MPI)?
            first_elsewhere = next(r for r, h in enumerate(hosts) if h != hosts[0])
            c.Barrier()
            took = 0.0
            if rank == 0:
                time.sleep(PROGRESS_PROBE_S)
            elif rank == first_elsewhere:
                t0 = time.perf_counter()
                win.Lock(0, MPI.LOCK_SHARED)
                win.Fetch_and_op(one, out, 0, 0, MPI.SUM)
                win.Unlock(0)
                took = time.perf_counter() - t0
            took = c.allreduce(took, op=MPI.MAX)
            if took >= PROGRESS_PROBE_S / 2:
                return False, (
                    f"RMA atomics across hosts wait for rank 0 to enter MPI ({took:.2f} s while it "
                    f"computed {PROGRESS_PROBE_S:.1f} s)"
                )
            n = len(set(hosts))
            return True, f"RMA atomics across {n} hosts ({took * 1e3:.2f} ms while rank 0 computed)"
        finally:
            c.Barrier()
            win.Free()
    finally:
        c.Free()


class Counters:
    """`n` job-wide int64 counters kept by rank 0, starting at 0. Collective to create and to free.

    fetch_add(i, k) adds k to counter i and returns its value before the add; add(i, k) adds without
    waiting for an answer; value(i) is exact on rank 0. In "messages" mode rank 0 must call `serve()`
    while others may be waiting (`needs_serving` says so), and everywhere a rank that waits in a
    collective the others may not reach before their claims are answered. Each object works on its own
    duplicate of `comm`, so its messages and barriers never pair with the caller's.
    """

    def __init__(self, n: int = 1, comm=None, mode_: str | None = None):
        self._MPI = MPI = _comm.mpi()
        base = _comm.world(comm)
        self.mode = mode_ or mode(base)
        self.comm = base.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.n = int(n)
        self.win = None
        self._out = np.empty(1, dtype=np.int64)
        self._arg = np.empty(1, dtype=np.int64)
        if self.mode == "rma":
            self.win = MPI.Win.Allocate(8 * self.n if self.rank == 0 else 0, disp_unit=8, comm=self.comm)
            if self.rank == 0:
                self.win.Lock(0, MPI.LOCK_EXCLUSIVE)
                self.win.Put(np.zeros(self.n, dtype=np.int64), 0)
                self.win.Unlock(0)
        else:
            self.values = np.zeros(self.n, dtype=np.int64)
            self._sends: list = []  # non-root: adds in flight
            self._req = np.empty(3, dtype=np.int64)
            self._reply = np.empty(1, dtype=np.int64)
        self.comm.Barrier()

    @property
    def needs_serving(self) -> bool:
        """True on rank 0 of a multi-rank job counting with messages: it must `serve()` while it works."""
        return self.mode == "messages" and self.rank == 0 and self.size > 1

    def fetch_add(self, i: int = 0, k: int = 1) -> int:
        """Atomically add k to counter i; return the value before the add."""
        MPI = self._MPI
        if self.mode == "rma":
            self._arg[0] = k
            self.win.Lock(0, MPI.LOCK_SHARED)
            self.win.Fetch_and_op(self._arg, self._out, 0, i, MPI.SUM)
            self.win.Unlock(0)
            return int(self._out[0])
        if self.rank == 0:
            self.serve()  # requests that came first are answered first
            before = int(self.values[i])
            self.values[i] += k
            return before
        self.comm.Send(np.array([_FETCH_ADD, i, k], dtype=np.int64), dest=0, tag=_TAG_REQ)
        self.comm.Recv(self._reply, source=0, tag=_TAG_REPLY)
        return int(self._reply[0])

    def add(self, i: int = 0, k: int = 1) -> None:
        """Add k to counter i without waiting for rank 0."""
        if self.mode == "rma":
            self.fetch_add(i, k)
        elif self.rank == 0:
            self.values[i] += k
        else:
            self._sends = [r for r in self._sends if not r.Test()]
            self._sends.append(self.comm.Isend(np.array([_ADD, i, k], dtype=np.int64), dest=0, tag=_TAG_REQ))

    def value(self, i: int = 0) -> int:
        """Counter i now (exact on rank 0; in "messages" mode other ranks get -1)."""
        if self.mode == "rma":
            return self.fetch_add(i, 0)
        if self.rank == 0:
            self.serve()
            return int(self.values[i])
        return -1

    def serve(self) -> int:
        """Rank 0 ("messages"): answer every request that has arrived; returns how many ranks closed.
        A no-op elsewhere."""
        if self.mode != "messages" or self.rank != 0:
            return 0
        MPI, closed = self._MPI, 0
        st = MPI.Status()
        while self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=_TAG_REQ, status=st):
            src = st.Get_source()
            self.comm.Recv(self._req, source=src, tag=_TAG_REQ)
            kind, i, k = (int(x) for x in self._req)
            if kind == _CLOSE:
                closed += 1
                continue
            before = int(self.values[i])
            self.values[i] += k
            if kind == _FETCH_ADD:
                self.comm.Send(np.array([before], dtype=np.int64), dest=src, tag=_TAG_REPLY)
        return closed

    def free(self) -> np.ndarray | None:
        """Collective: release the counters (rank 0 first answers every request still on its way).

        Returns the final values on rank 0 (None elsewhere)."""
        if self.comm is None:
            return None
        MPI, final = self._MPI, None
        if self.mode == "rma":
            self.comm.Barrier()  # every add is done, and nobody frees the window while another rank uses it
            if self.rank == 0:
                final = np.empty(self.n, dtype=np.int64)
                self.win.Lock(0, MPI.LOCK_SHARED)
                self.win.Get(final, 0)
                self.win.Unlock(0)
            self.comm.Barrier()
            self.win.Free()
            self.win = None
        elif self.rank == 0:
            left, pause = self.size - 1, Backoff(0.0002, 0.01)
            while left:
                got = self.serve()
                left -= got
                if left and not got:
                    pause.wait()
            final = self.values.copy()
        else:
            MPI.Request.Waitall(self._sends)
            self._sends = []
            self.comm.Send(np.array([_CLOSE, 0, 0], dtype=np.int64), dest=0, tag=_TAG_REQ)
        self.comm.Free()
        self.comm = None
        return final

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()


def claim(order, comm=None, chunk: int = 1):
    """Yield the units of `order` (a sequence of unit ids) this rank claims, until none are left.

    Collective: every rank must iterate to the end (the counters are freed after the last claim).
    chunk > 1 claims several consecutive units per atomic, trading balance for fewer round trips.
    In "messages" mode rank 0 answers the others between its own units (the work loop does better:
    it answers while rank 0's unit runs).
    """
    order = list(order)
    with Counters(1, comm) as counter:
        while True:
            first = counter.fetch_add(0, chunk)
            if first >= len(order):
                break
            yield from order[first : first + chunk]
