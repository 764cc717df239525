"""One trial evaluated by one group of ranks: what an objective sees (`TrialContext`) and the outcome.

An objective is `evaluate(params, ctx) -> value | (value, value)` and runs on every rank of its group.
Inside it:
- `ctx.map(fn, items)` shares samples (symbols, folds, seeds) among the group's ranks: item i runs on
  group rank i mod k; every rank gets all values back in item order (so a value computed from them
  is the same on every rank and at any group size). An exception in `fn` on any rank becomes the
  same `SampleError` on every rank, carrying that rank's traceback text: nothing crosses ranks but
  text.
- `ctx.report(value, step)` reports an intermediate value (every rank of the group calls it with the
  same value). The leader alone asks the study owner for the decision; it is broadcast, and every
  rank raises the same `Pruned`, `TimedOut` or `Stopped` locally, at the same step.

The trial timeout (hpo.trial_timeout_s) is enforced cooperatively: at each `report` and when the
objective returns. Nothing is killed mid-computation: interrupting a rank inside a group exchange, or
killing a thread, would break the job; an objective that never reports is marked a timeout when it
returns, late.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from ...runtime import signals
from ...runtime import trials as proto

TRACEBACK_CHARS = 8000  # most characters of a remote traceback kept in the study


def trial_seed(study_seed: int, number: int) -> int:
    """A trial's seed: from the study seed and the trial number only (never the rank)."""
    return int(np.random.SeedSequence([int(study_seed), int(number)]).generate_state(1)[0])


class Pruned(Exception):
    """The study's pruner stopped this trial at the reported step."""


class TimedOut(Exception):
    """The trial ran past hpo.trial_timeout_s."""


class Stopped(Exception):
    """A stop signal (SIGTERM/SIGUSR1) abandons the trial."""


class SampleError(Exception):
    """A sample of `ctx.map` raised on some rank of the group; `text` is its traceback."""

    def __init__(self, text: str):
        super().__init__(text.strip().splitlines()[-1] if text.strip() else "sample failed")
        self.text = text


@dataclass
class Work:
    """A trial handed to a group: number, params {name: value}, seed (from the study seed and the
    trial number), timeout_s (0 = none); skip: hand it back unevaluated (a stop came first)."""

    number: int
    params: dict
    seed: int
    timeout_s: float = 0.0
    skip: bool = False


@dataclass
class Result:
    """What a group leader sends back. state: complete | pruned | fail | stopped; values: floats
    (complete, or the last reported one when pruned); reason: error | nonfinite | timeout | '' ;
    error: traceback text; steps: values reported; pruned_step: the step pruned at (-1: none);
    duration_s: wall seconds of the evaluation; group: the group's index."""

    number: int
    state: str
    values: tuple = ()
    reason: str = ""
    error: str = ""
    steps: int = 0
    pruned_step: int = -1
    duration_s: float = 0.0
    group: int = 0
    reports: list = field(default_factory=list)


class TrialContext:
    """What an objective gets besides its params: number, seed, state (the rank's heavy data, loaded
    once and reused by every trial), cfg, rank / size within the group, `map`, `report`."""

    def __init__(self, work: Work, groups, state, cfg, decide):
        self.number, self.seed, self.params = work.number, work.seed, work.params
        self.state, self.cfg = state, cfg
        self.rank, self.size = groups.group_rank, groups.k
        self._groups, self._decide = groups, decide
        self._sync = _GroupSync(groups)
        self._t0 = time.perf_counter()
        self._timeout = work.timeout_s
        self.reports: list = []

    def map(self, fn, items) -> list:
        """[fn(item) for item in items], shared among the group's ranks; values in item order on every
        rank. Raises SampleError (on every rank) if `fn` raised on any, or if a rank of the group left
        the trial (it raised outside `map`)."""
        items = list(items)
        mine, err = {}, ""
        for i in range(self.rank, len(items), self.size):
            try:
                mine[i] = fn(items[i])
            except Exception:
                err = traceback.format_exc()
                break
        if self.size == 1:
            if err:
                raise SampleError(err)
            return [mine[i] for i in range(len(items))]
        if not self._groups.leader:
            return self._member_wait(("map", mine, err))
        msgs, problem = self._sync.collect("map")
        errs = [(0, err)] + [(r, m[2]) for r, m in msgs.items()]
        problem = problem or next((f"[group rank {r}]\n{e}" for r, e in errs if e), "")
        if problem:
            self._sync.answer(msgs, ("abort", problem))
            raise SampleError(problem)
        merged = dict(mine)
        for m in msgs.values():
            merged.update(m[1])
        values = [merged[i] for i in range(len(items))]
        self._sync.answer(msgs, ("map", values))
        return values

    def report(self, value: float, step: int) -> None:
        """An intermediate value at `step` (call on every group rank with the same value).

        Raises Pruned, TimedOut or Stopped on every rank of the group when the owner's decision (or
        the clock, or a stop signal) ends the trial here; SampleError when a rank of the group left
        the trial.
        """
        value = float(value)
        if self.size > 1 and not self._groups.leader:
            decision = self._member_wait(("report",))
        else:
            msgs, problem = self._sync.collect("report") if self.size > 1 else ({}, "")
            if problem:
                self._sync.answer(msgs, ("abort", problem))
                raise SampleError(problem)
            if self._timeout and time.perf_counter() - self._t0 > self._timeout:
                decision = "timeout"
            elif signals.requested():  # this rank got a stop signal (perhaps rank 0 did not)
                decision = "stop"
            else:
                decision = self._decide(self.number, int(step), value)
            self._sync.answer(msgs, ("decision", decision))
        self.reports.append((int(step), value))
        if decision == "prune":
            raise Pruned(f"pruned at step {step}")
        if decision == "timeout":
            raise TimedOut(f"over hpo.trial_timeout_s={self._timeout:g} at step {step}")
        if decision == "stop":
            raise Stopped("stop signal")

    def _member_wait(self, msg):
        proto.tell_leader(self._groups, msg)
        answer = proto.hear_leader(self._groups)
        if answer[0] == "abort":
            raise SampleError(answer[1])
        return answer[1]


class _GroupSync:
    """The leader's view of one trial's exchanges with its group: who has left the trial, and how.

    Every exchange (`map`, `report`, the end) takes one message from each member still in the trial.
    A member that raised outside `map` sends its end ("done") instead; the leader then answers every
    waiting member "abort", so each rank leaves the trial by its own exception and no rank waits for
    one that has gone: a group never hangs on a rank-dependent failure.
    """

    def __init__(self, groups):
        self.g = groups
        self.done: dict = {}  # group rank -> its outcome

    def _left(self, r: int, kind: str) -> str:
        out = self.done[r]
        if out[0] == "error":
            return f"[group rank {r}]\n{out[1]}"
        return (
            f"group rank {r} ended the trial ({out[0]}) while group rank 0 called ctx.{kind}: every rank "
            "of a group must run the same steps"
        )

    def collect(self, kind: str) -> tuple[dict, str]:
        """One message from each member still in the trial: ({rank: message} of those waiting for an
        answer, the problem that ends the exchange or '')."""
        msgs, problem = {}, ""
        for r in range(1, self.g.k):
            if r not in self.done:
                m = proto.hear_member(self.g, r)
                if m[0] == "done":
                    self.done[r] = m[1]
                else:
                    msgs[r] = m
                    if m[0] != kind and not problem:
                        problem = (
                            f"group rank {r} called ctx.{m[0]} while group rank 0 called ctx.{kind}: every "
                            "rank of a group must run the same steps"
                        )
            if r in self.done and not problem:
                problem = self._left(r, kind)
        return msgs, problem

    def answer(self, msgs: dict, reply) -> None:
        for r in msgs:
            proto.tell_member(self.g, r, reply)

    def finish(self, own: tuple) -> list:
        """The leader's end of the trial: every member's outcome, in group-rank order."""
        for r in range(1, self.g.k):
            while r not in self.done:
                m = proto.hear_member(self.g, r)
                if m[0] == "done":
                    self.done[r] = m[1]
                else:  # still in the trial the leader has left
                    proto.tell_member(
                        self.g,
                        r,
                        (
                            "abort",
                            f"group rank 0 ended the trial ({own[0]}) while group rank {r} called ctx.{m[0]}",
                        ),
                    )
        return [own] + [self.done[r] for r in range(1, self.g.k)]


def evaluate(objective, work: Work, groups, state, cfg, decide, fn=None) -> Result | None:
    """Run `work` on this rank's group (every group rank calls it); the Result on the leader, else None.

    decide(number, step, value) -> 'go' | 'prune' | 'stop': the owner's pruning decision (leader only).
    fn: run this function of (params, ctx) instead of the objective's evaluate, and keep what it
    returns as the one value, unchecked (the held-out scoring: a Score). Never raises for a failing
    objective: an exception becomes a FAIL result with its traceback.
    """
    ctx = TrialContext(work, groups, state, cfg, decide)
    t0 = time.perf_counter()
    outcome: tuple = ("complete", None)
    try:
        outcome = ("complete", (fn or objective.evaluate)(dict(work.params), ctx))
    except Pruned:
        outcome = ("pruned", None)
    except TimedOut as exc:
        outcome = ("timeout", str(exc))
    except Stopped:
        outcome = ("stopped", None)
    except SampleError as exc:
        outcome = ("error", exc.text)
    except Exception:
        outcome = ("error", traceback.format_exc())
    duration = time.perf_counter() - t0
    if not groups.leader:
        proto.tell_leader(groups, ("done", outcome))
        return None
    outcomes = ctx._sync.finish(outcome)
    return _result(work, outcomes, ctx.reports, duration, groups.index, None if fn else objective.n_values)


def _result(work, outcomes, reports, duration, group, n_values) -> Result:
    base = dict(number=work.number, steps=len(reports), duration_s=duration, group=group, reports=reports)
    errs = [(r, text) for r, (kind, text) in enumerate(outcomes) if kind == "error"]
    if errs:  # the root cause: a text that names its rank already (passed on by the others), else the first
        named = [t for _, t in errs if t.startswith("[group rank")]
        rank, text = (None, named[0]) if named else errs[0]
        if len(outcomes) > 1:
            text = f"[group {group}] " + (text if rank is None else f"[group rank {rank}]\n{text}")
        return Result(state="fail", reason="error", error=text[-TRACEBACK_CHARS:], **base)
    kind, payload = outcomes[0]
    if kind == "stopped":  # reason: the signal, so rank 0 stops too if only this group's ranks got it
        return Result(state="stopped", reason=str(signals.requested() or ""), **base)
    if kind == "timeout":
        return Result(state="fail", reason="timeout", error=payload, **base)
    if kind == "pruned":
        return Result(state="pruned", values=(reports[-1][1],), pruned_step=reports[-1][0], **base)
    if n_values is None:  # kept as returned
        return Result(state="complete", values=(payload,), **base)
    if work.timeout_s and duration > work.timeout_s:
        return Result(
            state="fail",
            reason="timeout",
            error=f"returned after {duration:.3f} s, over hpo.trial_timeout_s={work.timeout_s:g}",
            **base,
        )
    values, problem = _values(payload, n_values)
    if problem:
        return Result(
            state="fail", reason="nonfinite" if "finite" in problem else "error", error=problem, **base
        )
    return Result(state="complete", values=values, **base)


def _values(v, n: int) -> tuple[tuple, str]:
    """The objective's return as n floats, or why it is not one."""
    seq = v if isinstance(v, (tuple, list)) else (v,)
    try:
        vals = tuple(float(x) for x in seq)
    except (TypeError, ValueError):
        return (), f"the objective returned {v!r}: expected {n} number(s)"
    if len(vals) != n:
        return (), f"the objective returned {len(vals)} value(s) {vals}: expected {n}"
    if not all(math.isfinite(x) for x in vals):
        return (), f"the objective returned a value that is not finite: {vals}"
    return vals, ""
