"""What an objective is: the `Objective` record every objective module returns, the `Score` of its
held-out part, and `ObjectiveError`.

Why a module of its own: the objective modules (scan_objective, train_objective, optbench_objective,
demo) build these records, and objectives.py, the registry by name, imports those modules; with the
records here, imports point one way (registry -> objective modules -> contract).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable


class ObjectiveError(ValueError):
    """An objective that cannot be used (unknown name, not installed, bad module); exit 2."""


@dataclass(frozen=True)
class Score:
    """A value on the held-out part: value; se: its standard error (NaN: unknown); n: the independent
    observations behind it (1 / se^2 for an IC, impulses for a recall, seeds); baseline: a reference
    model's value on the same part (the train objective: ridge; NaN: none); detail: one line."""

    value: float
    se: float = math.nan
    n: float = math.nan
    baseline: float = math.nan
    detail: str = ""

    @classmethod
    def of(cls, v) -> "Score":
        """A holdout function's return as a Score: a Score, a number, or (value[, se[, n]])."""
        if isinstance(v, Score):
            return v
        if isinstance(v, (tuple, list)):
            return cls(*(float(x) for x in v[:3]))
        return cls(float(v))


@dataclass(frozen=True)
class Objective:
    """name; space: default parameters (space.Param tuple); evaluate(params, ctx) -> value(s);
    directions: 'minimize'/'maximize' per value (or a function of the config giving them); target:
    the config section its parameters belong to
    (the best-parameters YAML is then a config file of that job), None for a user function;
    setup(cfg) -> state: heavy per-rank data, once; space may also be a function space(cfg) -> tuple
    (a default space that depends on the config, e.g. the optimizer tuned); best_config(params, cfg)
    -> {dotted config key: value}: what the best-parameters YAML holds (default: the parameters);
    holdout(params, ctx) -> Score | number: the parameters scored on the held-out part (a context like
    a trial's: ctx.map shares its items among the ranks); defaults(cfg, names) -> params: the target
    job's own values of the searched parameters `names` (None: no defaults row)."""

    name: str
    space: Any
    evaluate: Callable
    directions: tuple = ("minimize",)
    target: str | None = None
    setup: Callable[[Any], Any] | None = None
    best_config: Callable[[dict, Any], dict] | None = None
    holdout: Callable | None = None
    defaults: Callable[[Any, list], dict] | None = None

    def default_space(self, cfg) -> tuple:
        return self.space(cfg) if callable(self.space) else self.space

    def for_config(self, cfg) -> "Objective":
        """This objective with directions given as a function of the config (e.g. the metric chosen)
        resolved to a tuple."""
        if not callable(self.directions):
            return self
        return dataclasses.replace(self, directions=tuple(self.directions(cfg)))

    @property
    def n_values(self) -> int:
        return len(self.directions)
