"""Where a rank's next work unit comes from: one interface, three sources.

- StaticPlan: rank 0 plans the whole list once (block / cyclic / LPT by cost, runtime.partition) and
  scatters it; each rank runs its share in order. Same plan for the same units at any run.
- DynamicClaims: units are claimed one at a time from a job-wide counter kept by rank 0 (runtime.dynamic:
  RMA, or messages rank 0 answers while its own unit runs), costliest first if the job lists them so;
  rank 0 computes too.
- Rounds: rank 0 is fed new units between rounds by a function of the finished ones (a search that asks
  for trials as results come in); each round is handed out by one of the two above.

Every source answers `next()` (a Unit, or None when this rank has no more in this round), `mine()`
(the static share, for loading data ahead; None when it is not known in advance), `close()`, and
`serve()` with `needs_serving`: a rank whose source others wait on (rank 0 counting with messages) calls
`serve()` often while it works (work/loop.py).
"""

from __future__ import annotations

import numpy as np

from ..runtime import partition, sync
from ..runtime.dynamic import Counters
from .spec import Unit


class StaticPlan:
    """Collective to create: rank 0's plan of `units` (by cost, `strategy`), this rank's share."""

    def __init__(self, units, strategy: str = "lpt", comm=None):
        costs = np.array([u.cost for u in units]) if sync.rank(comm) == 0 else None
        idx = partition.scatter_plan(costs, strategy, comm=comm)
        self._mine = [units[i] for i in idx]
        self._it = iter(self._mine)

    def next(self):
        return next(self._it, None)

    def mine(self):
        return list(self._mine)

    needs_serving = False

    def serve(self) -> None:
        pass

    def close(self) -> None:
        pass


class DynamicClaims:
    """Collective to create and to close: units claimed in list order from a job-wide counter."""

    def __init__(self, units, comm=None):
        self.units = units
        self.counter = Counters(1, comm)

    def next(self):
        k = self.counter.fetch_add(0, 1)
        return self.units[k] if k < len(self.units) else None

    def mine(self):
        return None

    @property
    def needs_serving(self) -> bool:
        return self.counter.needs_serving

    def serve(self) -> None:
        self.counter.serve()

    def close(self) -> None:
        self.counter.free()


def make(units, partition_kind: str, strategy: str, comm=None):
    """Collective: the source `work.partition` asks for over `units`."""
    if partition_kind == "dynamic":
        return DynamicClaims(units, comm=comm)
    return StaticPlan(units, strategy, comm=comm)


class Rounds:
    """Units fed in rounds by rank 0: `feed(finished) -> new units` ([] ends the work).

    finished: on rank 0, [(Unit, rows)] of the units finished in the previous round, in uid order
    (empty for the first round). The fed units' uids are reassigned to continue the job's list.
    Each round's units are handed out by `make(...)`. Collective: `advance(finished_here)` is called
    by every rank between rounds. A job fed in rounds keeps its own record of what to feed after a
    resume (the work layer resumes a fixed list of units only).
    """

    def __init__(self, feed, partition_kind: str, strategy: str, comm=None):
        self.feed, self.kind, self.strategy, self.comm = feed, partition_kind, strategy, comm
        self.inner = None
        self.round = 0
        self.next_uid = 0

    def advance(self, finished_here) -> list:
        """Collective: close the round, ask rank 0's feed for the next; returns its units (every rank)."""
        if self.inner is not None:
            self.inner.close()
        done = sync.gather(finished_here, comm=self.comm)
        new = None
        if sync.rank(self.comm) == 0:
            flat = sorted((x for d in done for x in d), key=lambda x: x[0].uid)
            fed = list(self.feed(flat) or [])
            new = [Unit(self.next_uid + i, u.cost, tuple(u.key)) for i, u in enumerate(fed)]
        new = sync.bcast(new, comm=self.comm)
        self.next_uid += len(new)
        self.round += 1
        self.inner = make(new, self.kind, self.strategy, comm=self.comm) if new else None
        return new

    def next(self):
        return self.inner.next() if self.inner is not None else None

    def mine(self):
        return self.inner.mine() if self.inner is not None else []

    @property
    def needs_serving(self) -> bool:
        return self.inner is not None and self.inner.needs_serving

    def serve(self) -> None:
        if self.inner is not None:
            self.inner.serve()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
            self.inner = None
