"""Rank 0's study loop, the part both scheduling modes share: the only code that touches the study.

It polls for messages and answers each as it comes (a report gets the pruning decision, a result is
told), hands trials to groups, and on a stop signal fails the trials in flight as interrupted (their
parameters queued for the resume). How trials are handed out, how a report is decided and when a
result is told is the mode's: async_owner.AsyncOwner (a trial per free group, told as it comes) and
reproducible_owner.ReproducibleOwner (batches told in trial order); driver.owner picks one by
hpo.mode.
"""

from __future__ import annotations

import queue
import time

from ...runtime import signals
from ...runtime import trials as proto
from . import space as _space
from . import study as _study
from .evaluate import Result, Work, trial_seed

POLL_MIN_S, POLL_MAX_S = 0.0002, 0.002  # the owner's sleep between looks for other groups' messages


class AbortSearch(RuntimeError):
    """hpo.on_trial_error=abort: a trial raised; the job ends (exit 1) after telling it FAIL."""


class Owner:
    """Rank 0's study loop (main thread). `run()` returns when hpo.trials count, or on a stop signal.

    A mode implements `_assign(ask)` (hand trials to groups with a free slot), `_decide(number, step,
    value)` (a report's decision: go | prune | stop) and `_result(res)` (a result that came back:
    tell it now or hold it); `_before_tell` and `_stopping` are its hooks in the shared tell and stop.
    local: rank 0's own group (driver.LocalLeader); exhausted: the sampler already asked to stop.
    """

    def __init__(self, study, params, cfg, groups, local, timers, log, bar=None, exhausted=False):
        self.study, self.params, self.cfg, self.h = study, params, cfg, cfg.hpo
        self.groups, self.local, self.timers, self.log = groups, local, timers, log
        self.bar = bar  # a progress bar of trials counted (tqdm), or None
        self.mail = proto.Mailbox(groups)
        self.busy: dict[int, int] = {}  # group -> trials sent to it and not yet back
        # the grid sampler asks a point again once every point is running (Optuna's GridSampler): at
        # several groups that repeated points; no trial is asked beyond the points left
        self.grid_points = _space.grid_size(params) if self.h.sampler == "grid" else None
        self.trials: dict = {}  # trial number -> optuna Trial, not yet told
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
        raise NotImplementedError

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
        raise NotImplementedError

    def _finished(self, res: Result) -> None:
        if res.state == "stopped" and res.reason.isdigit() and not self.stopped:
            signals.adopt(int(res.reason))  # a signal only that group's rank got: every rank stops
        self.busy[res.group] -= 1
        if not self.busy[res.group]:
            del self.busy[res.group]
        if res.number not in self.trials:  # told already (interrupted by a stop): discard
            return
        self._result(res)

    def _result(self, res: Result) -> None:
        raise NotImplementedError

    def _before_tell(self, number: int, trial) -> None:
        """Just before trial `number` is told (its intermediate values, where they were held back)."""

    def _tell(self, res: Result) -> None:
        from optuna.trial import TrialState

        trial = self.trials.pop(res.number)
        self._before_tell(res.number, trial)
        info = {
            "group": res.group,
            "duration_s": round(res.duration_s, 6),
            "steps": res.steps,
            "pruned_step": res.pruned_step,
        }
        trial.set_user_attr("mpiapp", info)
        if res.state == "complete":
            value = list(res.values) if len(res.values) > 1 else res.values[0]
            self.exhausted |= _study.tell(self.study, trial, value)
        elif res.state == "pruned":
            self.exhausted |= _study.tell(self.study, trial, state=TrialState.PRUNED)
        elif res.state == "stopped":
            self.exhausted |= _study.fail(
                self.study, trial, "interrupted", "abandoned by a stop signal", requeue=True
            )
            return
        else:
            self.exhausted |= _study.fail(self.study, trial, res.reason, res.error)
            self.log.warning(
                "trial %d FAIL (%s): %s", res.number, res.reason, (res.error.strip().splitlines() or [""])[-1]
            )
            if res.reason == "error" and self.h.on_trial_error == "abort":
                self._count()
                raise AbortSearch(f"trial {res.number} raised (hpo.on_trial_error=abort):\n{res.error}")
        self._count()

    def _count(self) -> None:
        self.counted += 1
        if self.bar is not None and self.bar.n < self.bar.total:
            self.bar.update(1)

    def _stopping(self) -> None:
        """On a stop signal, before the trials in flight are failed: what the mode holds back."""

    def _stop(self, sig: int) -> None:
        """A stop signal: trials in flight (or waiting in a batch) FAIL as interrupted, their parameters
        queued for the resume; finished batch results are told. The journal is consistent from here."""
        self.stopped = sig
        self._stopping()
        for number in sorted(self.trials):
            trial = self.trials.pop(number)
            self.exhausted |= _study.fail(
                self.study, trial, "interrupted", f"abandoned on {signals.name(sig)}", requeue=True
            )
        self.log.warning(
            "stopped by %s: trials in flight marked interrupted; waiting for the groups", signals.name(sig)
        )
