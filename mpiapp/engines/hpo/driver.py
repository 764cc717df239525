"""The study loop: rank 0 asks and tells, groups of ranks evaluate, nobody idles.

Why not the work layer's loop: it commits finished units collectively (every rank at once), which is
a batch barrier — a search's trials end at uneven times and a group that finishes must get its next
trial at once. So the loop is here, over the point-to-point protocol in runtime/trials.py, and the
durable record is the Optuna journal itself (every ask, report and tell is a journal record), not a
.partial file.

Roles:
- rank 0, main thread (`Owner`): the only code that touches the study. It polls for messages and
  answers each as it comes: a report gets the pruning decision, a result is told and the group gets
  its next trial (async mode) — no group waits for another.
- rank 0, a second thread (`LocalLeader`): rank 0's own group evaluates trials too, handed over by
  in-process queues; rank 0 is never a pure dispatcher. The owner sleeps between polls (0.2-5 ms), so
  it takes little from the evaluating thread.
- other group leaders (`remote_leader`) and group members (`member`): wait for work, evaluate, send
  the result.

Modes: async (a trial per free group, constant_liar when several run at once) and reproducible
(batches of hpo.batch_size trials, numbered in ask order, each sent to group i mod n, told in trial
order once the whole batch is in; intermediate values are held back until then and pruning looks only
at trials told before the batch, so decisions do not depend on which group ran faster).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import queue
import sys
import threading
import time
from collections import deque

import numpy as np

from ...runtime import signals
from ...runtime import trials as proto
from . import space as _space
from . import study as _study
from .evaluate import Result, Work, evaluate


def trial_seed(study_seed: int, number: int) -> int:
    """A trial's seed: from the study seed and the trial number only (never the rank)."""
    return int(np.random.SeedSequence([int(study_seed), int(number)]).generate_state(1)[0])


SWITCH_S = 0.0005  # rank 0's GIL switch interval while it both owns the study and evaluates
POLL_MIN_S, POLL_MAX_S = 0.0002, 0.002  # the owner's sleep between looks for other groups' messages


class AbortSearch(RuntimeError):
    """hpo.on_trial_error=abort: a trial raised; the job ends (exit 1) after telling it FAIL."""


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


class Owner:
    """Rank 0's study loop (main thread). `run()` returns when hpo.trials count, or on a stop signal."""

    def __init__(self, study, params, cfg, groups, local: LocalLeader, timers, log, bar=None, exhausted=False):
        self.study, self.params, self.cfg, self.h = study, params, cfg, cfg.hpo
        self.groups, self.local, self.timers, self.log = groups, local, timers, log
        self.bar = bar  # a progress bar of trials counted (tqdm), or None
        self.mail = proto.Mailbox(groups)
        self.busy: dict[int, int] = {}  # group -> trials sent to it and not yet back
        self.slots = 1 + (self.h.prefetch if self.h.mode == "async" else 0)  # trials a group may hold
        # rank 0's own group is prefetched only when an ask costs next to nothing (the random sampler)
        self.prefetch_own = self.h.sampler == "random"
        # async: trials asked ahead for the other groups (the grid sampler's last points must not be
        # asked twice, so it asks on demand)
        grid = self.h.sampler == "grid"
        self.ahead = self.h.ask_ahead * (groups.n - 1) if self.h.mode == "async" and not grid else 0
        # the grid sampler asks a point again once every point is running (Optuna's GridSampler): at
        # several groups that repeated points; no trial is asked beyond the points left
        self.grid_points = _space.grid_size(params) if grid else None
        self.ready: deque = deque()  # async: asked ahead, not yet handed to a group
        self.trials: dict = {}  # trial number -> optuna Trial, not yet told
        self.queued = {g: deque() for g in range(groups.n)}  # reproducible: trials assigned, not sent
        self.held: dict[int, Result] = {}  # reproducible: results waiting for their batch
        self.reports: dict[int, list] = {}  # reproducible: intermediate values held back
        self.counted = _study.counts(study)
        self.exhausted = exhausted  # the sampler asked to stop (a finished grid): no more trials are asked
        self.stopped = 0
        self.overhead_s = 0.0

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        """Returns the stop signal that ended the search early (0: all trials done).

        overhead_s: CPU seconds of this (owner) thread — asking, telling, answering, polling — not the
        wall time it spent waiting for the GIL while rank 0's own trial computed.
        """
        delay, local = POLL_MIN_S, None
        cpu0 = time.thread_time()
        while True:
            sig = signals.requested()
            if sig and not self.stopped:
                self._stop(sig)
            if not self.stopped:
                self._assign()
            if not self.busy:
                break
            if self._handle_one(local):
                delay = POLL_MIN_S
            elif self.groups.n == 1:  # only rank 0's own group: nothing to poll for
                try:
                    local = self.local.outbox.get(timeout=0.05)  # wakes to see a stop signal too
                    continue
                except queue.Empty:
                    pass
            else:
                try:  # sleeps, but wakes at once when rank 0's own trial reports or ends
                    local = self.local.outbox.get(timeout=delay)
                    continue
                except queue.Empty:
                    delay = min(delay * 2, POLL_MAX_S)
            local = None
        for g in range(self.groups.n):
            self._send(g, None)
        self.mail.close()
        self.local.thread.join()
        self.overhead_s = time.thread_time() - cpu0
        return self.stopped

    def _handle_one(self, local) -> bool:
        if local is None:
            try:
                local = self.local.outbox.get_nowait()
            except queue.Empty:
                pass
        msg = (0, *local) if local is not None else self.mail.poll()
        if msg is None:
            return False
        src, tag, body = msg
        if tag == proto.TAG_REPORT:
            decision = self._decide(*body)
            if src == 0:
                self.local.decisions.put(decision)
            else:
                self.mail.post(decision, src, proto.TAG_DECISION)
        elif tag == proto.TAG_RESULT:
            self._finished(body)
        return True

    def _send(self, g: int, work) -> None:
        if g == 0:
            self.local.inbox.put(work)
        else:
            self.mail.post(work, self.groups.leader_of(g), proto.TAG_WORK)

    # --- handing out trials ---------------------------------------------------------------------
    def _ask(self) -> Work:
        trial = self.study.ask()
        params = _space.suggest(trial, self.params)
        self.trials[trial.number] = trial
        return Work(trial.number, params, trial_seed(self.h.seed, trial.number), self.h.trial_timeout_s)

    def _give(self, g: int, work: Work) -> None:
        self.busy[g] = self.busy.get(g, 0) + 1
        self._send(g, work)

    def _assign(self, ask: bool = True) -> None:
        """Hands trials to groups with a free slot; `ask=False`: only trials already asked ahead (a
        group that finished gets its next trial before its result is told).

        Prefetch (async, hpo.prefetch): every group but rank 0's holds its next trial while it
        computes, so it starts again without waiting for rank 0 to hear its result, tell and ask.
        Rank 0's own group is not prefetched when asks cost CPU (every model-based sampler): its next
        trial would be asked beside its own objective, on the same core — at -n 1 that made TPE
        searches 8 % slower — while asked between its trials it costs the same core time without the
        contention. With the random sampler (an ask is ~0.1 ms) it is: rank 0's evaluator then does
        not wait for the owner thread to wake, tell and ask between its trials (~2 ms a trial).

        Asking ahead (async, hpo.ask_ahead per other group): the pool is filled when rank 0's own
        group needs its next trial — the moment rank 0's evaluator is idle — so the sampler's asks
        do not run beside rank 0's objective (one core, one GIL: there they slow it more than they
        cost); another group that finishes takes a pooled trial at once, or asks when the pool is
        empty. Rank 0's group always gets a fresh ask."""
        if self.exhausted:  # the sampler has nothing left to ask (a finished grid)
            return
        if self.h.mode == "async":  # every group gets one trial before any gets a second (prefetch)
            order = [*range(1, self.groups.n), 0]  # the others first: rank 0's own start ends the burst
            for level in range(1, self.slots + 1):
                for g in order:
                    if self.busy.get(g, 0) >= level or (level > 1 and not g and not self.prefetch_own):
                        continue
                    if g and self.ready:
                        self._give(g, self.ready.popleft())
                    elif ask and self._room():
                        if not g:  # rank 0 is idle: fill the pool first, leaving its own trial room
                            while len(self.ready) < self.ahead and self._room(keep=1):
                                self.ready.append(self._ask())
                        self._give(g, self._ask())
            return
        if not self.busy and not any(self.queued.values()) and not self.held:
            n = min(self.h.batch_size, self.h.trials - self.counted, self._grid_left())
            for i in range(n):
                self.queued[i % self.groups.n].append(self._ask())
        for g in range(self.groups.n):
            if self.queued[g] and not self.busy.get(g):
                self._give(g, self.queued[g].popleft())

    def _room(self, keep: int = 0) -> bool:
        """True while the trials asked and not yet told leave room under hpo.trials for another
        (and `keep` more), and the grid sampler has a point not yet asked."""
        return self.counted + sum(self.busy.values()) + len(self.ready) + keep < self.h.trials and \
            self._grid_left() > keep

    def _grid_left(self) -> int:
        """Asks that still give a trial of its own: grid points never asked, plus trials queued to be
        asked again (interrupted or lost ones); unbounded for other samplers."""
        if self.grid_points is None:
            return self.h.trials
        from optuna.trial import TrialState

        asked, waiting = set(), 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING:
                waiting += 1
            elif "grid_id" in t.system_attrs:
                asked.add(t.system_attrs["grid_id"])
        return self.grid_points - len(asked) + waiting

    # --- reports and results --------------------------------------------------------------------
    def _decide(self, number: int, step: int, value: float) -> str:
        if self.stopped or number not in self.trials:
            return "stop"
        trial = self.trials[number]
        if self.h.mode == "async":
            trial.report(value, step)
            return "prune" if trial.should_prune() else "go"
        held = self.reports.setdefault(number, [])
        held.append((step, value))
        frozen = copy.copy(self.study._storage.get_trial(trial._trial_id))  # the study before the batch
        frozen.intermediate_values = dict(held)
        return "prune" if self.study.pruner.prune(self.study, frozen) else "go"

    def _finished(self, res: Result) -> None:
        if res.state == "stopped" and res.reason.isdigit() and not self.stopped:
            signals.adopt(int(res.reason))  # a signal only that group's rank got: every rank stops
        self.busy[res.group] -= 1
        if not self.busy[res.group]:
            del self.busy[res.group]
        if res.number not in self.trials:  # told already (interrupted by a stop): discard
            return
        if self.h.mode == "async":
            if res.group and not signals.requested():  # its next trial first, if one was asked ahead
                self._assign(ask=False)
            self._tell(res)
            return
        self.held[res.number] = res
        if not self.busy and not any(self.queued.values()):
            for number in sorted(self.held):
                self._tell(self.held.pop(number))

    def _tell(self, res: Result) -> None:
        from optuna.trial import TrialState

        trial = self.trials.pop(res.number)
        for step, value in self.reports.pop(res.number, []):
            trial.report(value, step)
        info = {"group": res.group, "duration_s": round(res.duration_s, 6), "steps": res.steps,
                "pruned_step": res.pruned_step}  # fmt: skip
        trial.set_user_attr("mpiapp", info)
        if res.state == "complete":
            value = list(res.values) if len(res.values) > 1 else res.values[0]
            self.exhausted |= _study.tell(self.study, trial, value)
        elif res.state == "pruned":
            self.exhausted |= _study.tell(self.study, trial, state=TrialState.PRUNED)
        elif res.state == "stopped":
            self.exhausted |= _study.fail(self.study, trial, "interrupted", "abandoned by a stop signal",
                                          requeue=True)
            return
        else:
            self.exhausted |= _study.fail(self.study, trial, res.reason, res.error)
            self.log.warning("trial %d FAIL (%s): %s", res.number, res.reason,
                             (res.error.strip().splitlines() or [""])[-1])  # fmt: skip
            if res.reason == "error" and self.h.on_trial_error == "abort":
                self._count()
                raise AbortSearch(f"trial {res.number} raised (hpo.on_trial_error=abort):\n{res.error}")
        self._count()

    def _count(self) -> None:
        self.counted += 1
        if self.bar is not None and self.bar.n < self.bar.total:
            self.bar.update(1)

    def _stop(self, sig: int) -> None:
        """A stop signal: trials in flight (or waiting in a batch) FAIL as interrupted, their parameters
        queued for the resume; finished batch results are told. The journal is consistent from here."""
        self.stopped = sig
        self.ready.clear()  # asked ahead: in self.trials, so failed as interrupted and queued below
        for g in self.queued:
            self.queued[g].clear()
        for number in sorted(self.held):
            self._tell(self.held.pop(number))
        for number in sorted(self.trials):
            trial = self.trials.pop(number)
            self.reports.pop(number, None)
            self.exhausted |= _study.fail(self.study, trial, "interrupted", f"abandoned on {signals.name(sig)}",
                                          requeue=True)
        self.log.warning("stopped by %s: trials in flight marked interrupted; waiting for the groups",
                         signals.name(sig))  # fmt: skip
