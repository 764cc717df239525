"""Dynamic work distribution for uneven units: an MPI-3 RMA atomic counter.

Why a counter and not a rank-0 dispatcher: every rank, rank 0 included, computes all the time; a
unit is claimed by one MPI_Fetch_and_op on a counter exposed by rank 0 (passive target, shared
lock), so no rank ever waits for another rank to reach a receive. On one node Open MPI's osc/rdma
does the atomic directly in shared memory; across nodes UCX does it in the NIC — neither needs rank
0 to enter MPI while it computes. Units are handed out in the order given (callers pass them
costliest first, which is LPT's greedy order made dynamic). bench/runtime_overhead.py measures the
per-unit cost against a static plan.
"""

from __future__ import annotations

import numpy as np

from . import comm as _comm


class SharedCounter:
    """A job-wide int64 counter living on rank `root`. Collective to create and to free.

    It works on its own duplicate of `comm`, so its barriers never pair with the caller's collectives.
    """

    def __init__(self, comm=None, root: int = 0):
        MPI = _comm.mpi()
        self.comm = _comm.world(comm).Dup()
        self.root = root
        self._MPI = MPI
        nbytes = 8 if self.comm.Get_rank() == root else 0
        self.win = MPI.Win.Allocate(nbytes, disp_unit=8, comm=self.comm)
        if self.comm.Get_rank() == root:
            self.win.Lock(root, MPI.LOCK_EXCLUSIVE)
            self.win.Put(np.zeros(1, dtype=np.int64), root)
            self.win.Unlock(root)
        self.comm.Barrier()
        self._inc = np.ones(1, dtype=np.int64)
        self._out = np.empty(1, dtype=np.int64)

    def fetch_add(self, n: int = 1) -> int:
        """Atomically add n; return the value before the add."""
        MPI = self._MPI
        self._inc[0] = n
        self.win.Lock(self.root, MPI.LOCK_SHARED)
        self.win.Fetch_and_op(self._inc, self._out, self.root, 0, MPI.SUM)
        self.win.Unlock(self.root)
        return int(self._out[0])

    def read(self) -> int:
        """The current value (an atomic read: fetch-and-add of 0)."""
        return self.fetch_add(0)

    def free(self) -> None:
        if self.win is not None:
            self.win.Free()
            self.win = None
            self.comm.Free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()


def claim(order, comm=None, chunk: int = 1):
    """Yield the units of `order` (a sequence of unit ids) this rank claims, until none are left.

    Collective: every rank must iterate to the end (the counter is freed after the last claim).
    chunk > 1 claims several consecutive units per atomic, trading balance for fewer round trips.
    """
    order = list(order)
    with SharedCounter(comm) as counter:
        while True:
            first = counter.fetch_add(chunk)
            if first >= len(order):
                break
            yield from order[first : first + chunk]
        counter.comm.Barrier()  # nobody frees the window while another rank may still access it
