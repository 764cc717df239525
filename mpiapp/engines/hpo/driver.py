"""The study loop: rank 0 asks and tells, groups of ranks evaluate, nobody idles.

Why not the work layer's loop: it commits finished units collectively (every rank at once), which is
a batch barrier — a search's trials end at uneven times and a group that finishes must get its next
trial at once. So the loop is here, over the point-to-point protocol in runtime/trials.py, and the
durable record is the Optuna journal itself (every ask, report and tell is a journal record), not a
.partial file.

Roles:
- rank 0, main thread (`owner`, owner.py): the only code that touches the study. It polls for
  messages and answers each as it comes: a report gets the pruning decision, a result is told (or
  held for its batch) and the group gets its next trial.
- rank 0, a second thread (`LocalLeader`): rank 0's own group evaluates trials too, handed over by
  in-process queues; rank 0 is never a pure dispatcher. The owner sleeps between polls (0.2-5 ms), so
  it takes little from the evaluating thread.
- other group leaders (`remote_leader`) and group members (`member`): wait for work, evaluate, send
  the result.

Modes (hpo.mode), one class each behind `owner`: async (async_owner.py: a trial per free group,
constant_liar when several run at once) and reproducible (reproducible_owner.py: batches of
hpo.batch_size trials told in trial order, so the trials are the same at any rank count).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import sys
import threading
import time

from ...runtime import signals
from ...runtime import trials as proto
from .async_owner import AsyncOwner
from .evaluate import Result, Work, evaluate
from .owner import Owner
from .reproducible_owner import ReproducibleOwner

SWITCH_S = 0.0005  # rank 0's GIL switch interval while it both owns the study and evaluates


def owner(study, params, cfg, groups, local: LocalLeader, timers, log, bar=None, exhausted=False) -> Owner:
    """Rank 0's study loop for hpo.mode: async_owner.AsyncOwner or reproducible_owner.ReproducibleOwner
    (owner.Owner: `run()`, `overhead_s`)."""
    kind = AsyncOwner if cfg.hpo.mode == "async" else ReproducibleOwner
    return kind(study, params, cfg, groups, local, timers, log, bar, exhausted)


class Evaluator:
    """What every evaluating rank holds: the objective, its heavy state (loaded once), the groups."""

    def __init__(self, objective, state, cfg, groups, timers):
        self.objective, self.state, self.cfg, self.groups, self.timers = objective, state, cfg, groups, timers
        self.trials = 0

    def run(self, work: Work, decide) -> Result | None:
        if work.skip:  # a stop came before it started: not evaluated (reason: the signal, for rank 0)
            if not self.groups.leader:
                return None
            return Result(work.number, "stopped", reason=str(signals.requested()), group=self.groups.index)
        t0 = time.perf_counter()
        res = evaluate(self.objective, work, self.groups, self.state, self.cfg, decide)
        self.timers.add("busy", time.perf_counter() - t0)
        self.trials += 1
        return res


def member(ev: Evaluator) -> None:
    """A non-leader rank of a group: evaluate what the leader broadcasts until it says stop."""
    while True:
        with ev.timers.phase("wait"):
            work = proto.group_bcast(ev.groups)
        if work is None:
            return
        ev.run(work, None)


def remote_leader(ev: Evaluator) -> None:
    """The leader of a group other than rank 0's: work from rank 0, evaluate, result back."""
    g = ev.groups

    def decide(number, step, value):
        proto.to_owner(g, (number, step, value), proto.TAG_REPORT)
        with ev.timers.phase("wait"):
            return proto.from_owner(g, proto.TAG_DECISION)

    while True:
        with ev.timers.phase("wait"):
            work = _skip_if_stopping(proto.from_owner(g, proto.TAG_WORK))
        proto.group_bcast(g, work)
        if work is None:
            return
        proto.to_owner(g, ev.run(work, decide), proto.TAG_RESULT)


def _skip_if_stopping(work):
    """A queued trial that has not started when a stop signal came is handed back unevaluated."""
    if work is not None and signals.requested():
        return dataclasses.replace(work, skip=True)
    return work


class LocalLeader:
    """Rank 0's own group, evaluated in a thread; talks to the owner through two queues."""

    def __init__(self, ev: Evaluator):
        self.ev = ev
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self.decisions: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="rank0-evaluator", daemon=True)
        # the owner thread's every file write gives up the GIL; at Python's default 5 ms switch interval
        # it would then wait up to 5 ms for a CPU-bound objective to hand it back
        sys.setswitchinterval(float(os.environ.get("MPIAPP_HPO_SWITCH_S", SWITCH_S)))
        self.thread.start()

    def _decide(self, number, step, value):
        self.outbox.put((proto.TAG_REPORT, (number, step, value)))
        return self.decisions.get()

    def _loop(self):
        while True:
            work = _skip_if_stopping(self.inbox.get())
            proto.group_bcast(self.ev.groups, work)
            if work is None:
                return
            self.outbox.put((proto.TAG_RESULT, self.ev.run(work, self._decide)))
