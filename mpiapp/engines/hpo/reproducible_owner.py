"""The reproducible mode of the study loop: the same trials at any rank count.

Batches of hpo.batch_size trials, numbered in ask order, each sent to group i mod n, told in trial
order once the whole batch is in; intermediate values are held back until then and pruning looks only
at trials told before the batch, so decisions do not depend on which group ran faster. The price:
a group that finishes early waits for the batch.
"""

from __future__ import annotations

import copy
from collections import deque

from .evaluate import Result
from .owner import Owner


class ReproducibleOwner(Owner):
    """Rank 0's study loop in reproducible mode (owner.Owner): batches told in trial order."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queued = {g: deque() for g in range(self.groups.n)}  # trials assigned, not sent
        self.held: dict[int, Result] = {}  # results waiting for their batch
        self.reports: dict[int, list] = {}  # intermediate values held back

    def _assign(self, ask: bool = True) -> None:
        """A new batch once the last one is told; a group's next trial of the batch once it is free."""
        if self.exhausted:  # the sampler has nothing left to ask (a finished grid)
            return
        if not self.busy and not any(self.queued.values()) and not self.held:
            n = min(self.h.batch_size, self.h.trials - self.counted, self._grid_left())
            for i in range(n):
                self.queued[i % self.groups.n].append(self._ask())
        for g in range(self.groups.n):
            if self.queued[g] and not self.busy.get(g):
                self._give(g, self.queued[g].popleft())

    def _decide(self, number: int, step: int, value: float) -> str:
        if self.stopped or number not in self.trials:
            return "stop"
        held = self.reports.setdefault(number, [])
        held.append((step, value))
        # the trial as the study holds it (running, nothing reported: the study before the batch), with
        # its held-back values on a copy of ours
        frozen = copy.copy(next(t for t in self.study.get_trials(deepcopy=False) if t.number == number))
        frozen.intermediate_values = dict(held)
        return "prune" if self.study.pruner.prune(self.study, frozen) else "go"

    def _result(self, res: Result) -> None:
        self.held[res.number] = res
        if not self.busy and not any(self.queued.values()):
            for number in sorted(self.held):
                self._tell(self.held.pop(number))

    def _before_tell(self, number: int, trial) -> None:
        for step, value in self.reports.pop(number, []):
            trial.report(value, step)

    def _stopping(self) -> None:
        for g in self.queued:
            self.queued[g].clear()
        for number in sorted(self.held):
            self._tell(self.held.pop(number))
        self.reports.clear()  # of trials in flight, failed as interrupted next
