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

from ...runtime import trials as proto

TRACEBACK_CHARS = 8000  # most characters of a remote traceback kept in the study


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
        self._t0 = time.perf_counter()
        self._timeout = work.timeout_s
        self.reports: list = []

    def map(self, fn, items) -> list:
        """[fn(item) for item in items], shared among the group's ranks; values in item order on every
        rank. Raises SampleError (on every rank) if `fn` raised on any."""
        items = list(items)
        mine, err = {}, ""
        for i in range(self.rank, len(items), self.size):
            try:
                mine[i] = fn(items[i])
            except Exception:
                err = traceback.format_exc()
                break
        parts = proto.group_gather(self._groups, (mine, err))
        merged = None
        if parts is not None:
            errs = [e for _, e in parts if e]
            merged = ("", errs[0]) if errs else ([v for d, _ in parts for v in d.items()], "")
        merged = proto.group_bcast(self._groups, merged)
        if merged[1]:
            raise SampleError(merged[1])
        return [v for _, v in sorted(merged[0])]

    def report(self, value: float, step: int) -> None:
        """An intermediate value at `step` (call on every group rank with the same value).

        Raises Pruned, TimedOut or Stopped on every rank of the group when the owner's decision (or
        the clock, or a stop signal) ends the trial here.
        """
        value = float(value)
        decision = None
        if self._groups.leader:
            if self._timeout and time.perf_counter() - self._t0 > self._timeout:
                decision = "timeout"
            else:
                decision = self._decide(self.number, int(step), value)
        decision = proto.group_bcast(self._groups, decision)
        self.reports.append((int(step), value))
        if decision == "prune":
            raise Pruned(f"pruned at step {step}")
        if decision == "timeout":
            raise TimedOut(f"over hpo.trial_timeout_s={self._timeout:g} at step {step}")
        if decision == "stop":
            raise Stopped("stop signal")


def evaluate(objective, work: Work, groups, state, cfg, decide) -> Result | None:
    """Run `work` on this rank's group (every group rank calls it); the Result on the leader, else None.

    decide(number, step, value) -> 'go' | 'prune' | 'stop': the owner's pruning decision (leader only).
    Never raises for a failing objective: an exception becomes a FAIL result with its traceback.
    """
    ctx = TrialContext(work, groups, state, cfg, decide)
    t0 = time.perf_counter()
    outcome: tuple = ("complete", None)
    try:
        outcome = ("complete", objective.evaluate(dict(work.params), ctx))
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
    outcomes = proto.group_gather(groups, outcome)
    if not groups.leader:
        return None
    return _result(work, outcomes, ctx.reports, duration, groups.index, objective.n_values)


def _result(work, outcomes, reports, duration, group, n_values) -> Result:
    base = dict(number=work.number, steps=len(reports), duration_s=duration, group=group, reports=reports)
    errs = [(r, text) for r, (kind, text) in enumerate(outcomes) if kind == "error"]
    if errs:
        rank, text = errs[0]
        head = f"[group {group}, group rank {rank}]\n" if len(outcomes) > 1 else ""
        return Result(state="fail", reason="error", error=(head + text)[-TRACEBACK_CHARS:], **base)
    kind, payload = outcomes[0]
    if kind == "stopped":
        return Result(state="stopped", **base)
    if kind == "timeout":
        return Result(state="fail", reason="timeout", error=payload, **base)
    if kind == "pruned":
        return Result(state="pruned", values=(reports[-1][1],), pruned_step=reports[-1][0], **base)
    if work.timeout_s and duration > work.timeout_s:
        return Result(state="fail", reason="timeout", error=f"returned after {duration:.3f} s, over "
                      f"hpo.trial_timeout_s={work.timeout_s:g}", **base)  # fmt: skip
    values, problem = _values(payload, n_values)
    if problem:
        return Result(state="fail", reason="nonfinite" if "finite" in problem else "error", error=problem, **base)
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
