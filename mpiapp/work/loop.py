"""The claim–run–commit loop every job runs: one unit at a time, a collective commit now and then.

Why commits are collective and timed: rows of many ranks go into one file, each rank after the ranks before it,
and a stop must lose at most `work.commit_interval_s` of work. Between commits no rank waits for
another; at a commit an idle rank sleeps (runtime.sync.sleeping_barrier) instead of spinning. A stop
signal (SIGTERM/SIGUSR1) on any rank is adopted by all at the next commit, and the loop ends there.
"""

from __future__ import annotations

import sys
import time

from ..runtime import signals, sync
from ..runtime.dynamic import SharedCounter


class Progress:
    """One bar on rank 0 for every rank's units, fed by a job-wide RMA counter. Collective to make/close."""

    def __init__(self, on: bool, total: int, initial: int, desc: str, comm, rank: int):
        self.finished = SharedCounter(comm)
        self.base = initial
        self.bar = None
        if on and rank == 0:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="unit", desc=desc, file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)  # fmt: skip

    def one_done(self) -> None:
        self.finished.fetch_add(1)
        self.refresh()

    def refresh(self) -> None:
        if self.bar is not None:
            self.bar.n = self.base + self.finished.read()
            self.bar.refresh()

    def grow(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n

    def close(self) -> None:
        self.finished.free()
        if self.bar is not None:
            self.bar.close()


def run(ctx, spec, source, ledger, progress: Progress, rounds: bool = False) -> dict:
    """Collective: run this rank's units from `source`, committing to `ledger`; returns its stats.

    Ends when no rank has units left (after the last round, for a Rounds source) or at the commit
    after a stop signal. stats: {"units": units this rank ran}.
    """
    comm, rank, timers = ctx.comm, ctx.rank, ctx.timers
    interval = ctx.cfg.work.commit_interval_s
    pending, this_round = [], []
    stats = {"units": 0}
    local_done = False
    next_commit = time.perf_counter() + interval
    while True:
        unit = None
        if not local_done and not signals.requested():
            unit = source.next()
            local_done = unit is None
        if unit is not None:
            with timers.phase("busy"):
                rows = spec.run_unit(unit, ctx) or {}
            stats["units"] += 1
            pending.append((unit.uid, rows))
            if rounds:
                this_round.append((unit, rows))
            if ctx.digests:
                ledger.note_digests(ctx.digests)
                ctx.digests.clear()
            progress.one_done()
        if unit is None or signals.requested() or time.perf_counter() >= next_commit:
            with timers.phase("wait"):
                sync.sleeping_barrier(comm, on_wait=progress.refresh)
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
    return stats
