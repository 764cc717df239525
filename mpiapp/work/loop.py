"""The claim–run–commit loop every job runs: a unit at a time (or a few, in threads), a collective
commit now and then.

Why commits are collective and timed: rows of many ranks go into one file, each rank after the ranks before it,
and a stop must lose at most `work.commit_interval_s` of work. Between commits no rank waits for
another; at a commit an idle rank sleeps (runtime.sync.sleeping_barrier) instead of spinning. A stop
signal (SIGTERM/SIGUSR1) on any rank is adopted by all at the next commit, and the loop ends there.

Why units in threads: a job whose unit is threaded kernels between serial Python steps keeps
only one core busy in the serial parts; with `JobSpec.units_at_once` > 1 a rank runs that many
units at once, each in a worker thread (its kernels release the GIL), and the main thread alone
claims, commits and talks MPI. Rows are committed in claim order, so the file is the same.
"""

from __future__ import annotations

import collections
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from ..runtime import signals, sync
from ..runtime.dynamic import Counters

#: how often rank 0 answers claims while its own unit runs in a worker thread (messages mode)
SERVE_EVERY_S = 0.002


class Progress:
    """One bar on rank 0 for every rank's units, fed by a job-wide counter (runtime.dynamic: RMA or
    messages, as the job's counter mode). Collective to make and to close; no counter at all when
    rank 0 shows no bar."""

    def __init__(self, on: bool, total: int, initial: int, desc: str, comm, rank: int):
        self.base = initial
        self.bar = None
        self.finished = Counters(1, comm) if sync.bcast(bool(on) and rank == 0, comm=comm) else None
        if self.finished is not None and rank == 0:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="unit",
                desc=desc,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )

    def one_done(self) -> None:
        if self.finished is not None:
            self.finished.add(0, 1)
            self.refresh()

    def refresh(self) -> None:
        if self.bar is not None:
            self.bar.n = self.base + self.finished.value(0)
            self.bar.refresh()

    def grow(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n

    def close(self) -> None:
        """Collective: the bar ends at the true count of finished units."""
        final = self.finished.free() if self.finished is not None else None
        if self.bar is not None:
            self.bar.n = self.base + int(final[0])
            self.bar.close()


def run(ctx, spec, source, ledger, progress: Progress, rounds: bool = False, units_left: int = 0) -> dict:
    """Collective: run this rank's units from `source`, committing to `ledger`; returns its stats.

    Ends when no rank has units left (after the last round, for a Rounds source) or at the commit
    after a stop signal. A commit waits for the units running on this rank, so every unit claimed
    is committed. stats: {"units": units this rank ran}. The "busy" timer is the wall time with at
    least one unit running. units_left: units of the job not yet done (for `spec.units_at_once`).
    """
    comm, rank, timers = ctx.comm, ctx.rank, ctx.timers
    interval = ctx.cfg.work.commit_interval_s
    at_once = 1
    if not rounds and spec.units_at_once is not None:
        mine = source.mine()
        per_rank = len(mine) if mine is not None else -(-units_left // ctx.size)
        at_once = max(1, int(spec.units_at_once(ctx, per_rank)))
    # rank 0 counting with messages runs its units in a worker thread and answers claims meanwhile
    threaded = at_once > 1 or source.needs_serving
    pool = ThreadPoolExecutor(at_once, thread_name_prefix="unit") if threaded else None
    running = collections.deque()  # (unit, future or None), in claim order
    pending, this_round = [], []
    stats = {"units": 0}
    local_done = False
    busy_since = None
    next_commit = time.perf_counter() + interval

    def serve():
        source.serve()
        progress.refresh()

    def result(fut):
        if source.needs_serving:  # others' claims wait on this rank: answer them every few ms
            while not fut.done():
                wait_futures([fut], timeout=SERVE_EVERY_S)
                source.serve()
        return fut.result()

    def finish_one():
        nonlocal busy_since
        unit, fut = running.popleft()
        rows = (result(fut) if fut is not None else spec.run_unit(unit, ctx)) or {}
        if not running:
            timers.add("busy", time.perf_counter() - busy_since)
            busy_since = None
        stats["units"] += 1
        pending.append((unit.uid, rows))
        if rounds:
            this_round.append((unit, rows))
        if ctx.digests:  # popped one by one: a worker thread may be adding its own
            ledger.note_digests({k: ctx.digests.pop(k) for k in list(ctx.digests)})
        progress.one_done()

    ok = False
    try:
        while True:
            while not local_done and not signals.requested() and len(running) < at_once:
                unit = source.next()
                local_done = unit is None
                if unit is None:
                    break
                if busy_since is None:
                    busy_since = time.perf_counter()
                running.append((unit, pool.submit(spec.run_unit, unit, ctx) if pool else None))
            if running:
                finish_one()
            if local_done or signals.requested() or time.perf_counter() >= next_commit:
                while running:
                    finish_one()
                with timers.phase("wait"):
                    sync.sleeping_barrier(comm, on_wait=serve)
                with timers.phase("write"):
                    ledger.commit(pending, rank)
                pending = []
                more, stop = sync.agree_to_continue(not local_done, comm)
                if stop:
                    break
                if not more:
                    if not rounds:
                        break
                    new = source.advance(this_round)
                    this_round = []
                    if not new:
                        break
                    ledger.add_units(new)
                    progress.grow(len(new))
                    local_done = False
                next_commit = time.perf_counter() + interval
        ok = True
    finally:
        if pool is not None:  # after a failure the job aborts: do not wait for the other units
            pool.shutdown(wait=ok, cancel_futures=True)
    return stats
