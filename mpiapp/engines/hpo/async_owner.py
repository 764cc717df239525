"""The async mode of the study loop: a trial per free group, told as soon as its result comes.

Why: no group waits for another; with several trials running at once the sampler is told of them
(constant_liar for TPE, study.sampler). Which trial a group gets, and what the sampler knew when it
was asked, depend on which group finished first, so the trials differ from run to run and with the
rank count (hpo.mode=reproducible, reproducible_owner.py, when that matters).
"""

from __future__ import annotations

from collections import deque

from ...runtime import signals
from .evaluate import Result
from .owner import Owner


class AsyncOwner(Owner):
    """Rank 0's study loop in async mode (owner.Owner): prefetch, asking ahead, pruning as reported."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slots = 1 + self.h.prefetch  # trials a group may hold
        # rank 0's own group is prefetched only when an ask costs next to nothing (the random sampler)
        self.prefetch_own = self.h.sampler == "random"
        # trials asked ahead for the other groups (the grid sampler's last points must not be asked
        # twice, so it asks on demand)
        self.ahead = 0 if self.grid_points is not None else self.h.ask_ahead * (self.groups.n - 1)
        self.ready: deque = deque()  # asked ahead, not yet handed to a group

    def _assign(self, ask: bool = True) -> None:
        """Hands trials to groups with a free slot; `ask=False`: only trials already asked ahead (a
        group that finished gets its next trial before its result is told).

        Prefetch (hpo.prefetch): every group but rank 0's holds its next trial while it
        computes, so it starts again without waiting for rank 0 to hear its result, tell and ask.
        Rank 0's own group is not prefetched when asks cost CPU (every model-based sampler): its next
        trial would be asked beside its own objective, on the same core — at -n 1 that made TPE
        searches 8 % slower — while asked between its trials it costs the same core time without the
        contention. With the random sampler (an ask is ~0.1 ms) it is: rank 0's evaluator then does
        not wait for the owner thread to wake, tell and ask between its trials (~2 ms a trial).

        Asking ahead (hpo.ask_ahead per other group): the pool is filled when rank 0's own
        group needs its next trial — the moment rank 0's evaluator is idle — so the sampler's asks
        do not run beside rank 0's objective (one core, one GIL: there they slow it more than they
        cost); another group that finishes takes a pooled trial at once, or asks when the pool is
        empty. Rank 0's group always gets a fresh ask."""
        if self.exhausted:  # the sampler has nothing left to ask (a finished grid)
            return
        # every group gets one trial before any gets a second (prefetch); the others first: rank 0's
        # own start ends the burst
        order = [*range(1, self.groups.n), 0]
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

    def _room(self, keep: int = 0) -> bool:
        """True while the trials asked and not yet told leave room under hpo.trials for another
        (and `keep` more), and the grid sampler has a point not yet asked."""
        return (
            self.counted + sum(self.busy.values()) + len(self.ready) + keep < self.h.trials
            and self._grid_left() > keep
        )

    def _decide(self, number: int, step: int, value: float) -> str:
        if self.stopped or number not in self.trials:
            return "stop"
        trial = self.trials[number]
        trial.report(value, step)
        return "prune" if trial.should_prune() else "go"

    def _result(self, res: Result) -> None:
        if res.group and not signals.requested():  # its next trial first, if one was asked ahead
            self._assign(ask=False)
        self._tell(res)

    def _stopping(self) -> None:
        self.ready.clear()  # asked ahead: in self.trials, so failed as interrupted and queued
