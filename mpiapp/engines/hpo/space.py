"""A search space from YAML: float / int (linear or log), categorical, conditional on a categorical.

    x:      {type: float, low: 0.001, high: 0.1, log: true}
    n:      {type: int, low: 1, high: 8, step: 1}
    kind:   {type: categorical, choices: [percent, atr]}
    pct:    {type: float, low: 0.01, high: 0.08, when: {kind: percent}}

A `params:` mapping at the top level is accepted too. Parameters are suggested in file order; a
conditional one (`when: {parent: value}`) is suggested only when its categorical parent, listed
before it, took that value. Parameter names may contain dots (`scan.pivot_pct`): the best-parameters
YAML nests them into config sections.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TYPES = ("float", "int", "categorical")


@dataclass(frozen=True)
class Param:
    """One parameter. low/high: bounds (float/int); log: log scale; step: int step or float grid
    step (None: continuous); choices: categorical values; when: (parent, value) or None."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    when: tuple | None = None


def parse(tree, origin: str = "<space>") -> tuple[Param, ...]:
    """A parsed YAML mapping -> parameters. Raises ValueError naming `origin` and the parameter."""
    if isinstance(tree, dict) and isinstance(tree.get("params"), dict):
        tree = tree["params"]
    if not isinstance(tree, dict) or not tree:
        raise ValueError(f"{origin}: a search space is a non-empty mapping name -> {{type: ...}}")
    params: list[Param] = []
    for name, spec in tree.items():
        params.append(_param(str(name), spec, {p.name: p for p in params}, origin))
    return tuple(params)


def load(path: str) -> tuple[Param, ...]:
    """Parameters from a YAML file (a parameter given twice is refused). Raises ValueError (bad
    content) or OSError (unreadable)."""
    import yaml

    from ...config import DuplicateKey, yaml_load, yaml_problem

    if os.path.isdir(path):
        raise ValueError(f"--space {path}: is a folder, not a YAML file")
    try:
        with open(path, "rb") as f:
            text = f.read(1 << 20).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"--space {path}: not UTF-8 text; expected a YAML search space") from None
    try:
        tree = yaml_load(text)
    except DuplicateKey as exc:
        raise ValueError(f"--space {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"--space {path}: not valid YAML: {yaml_problem(exc)}") from None
    return parse(tree, path)


def _param(name: str, spec, seen: dict, origin: str) -> Param:
    where = f"{origin}: parameter {name!r}"
    if not isinstance(spec, dict) or spec.get("type") not in TYPES:
        raise ValueError(f"{where}: expected a mapping with type one of {TYPES}")
    unknown = set(spec) - {"type", "low", "high", "log", "step", "choices", "when"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    when = _when(spec.get("when"), seen, where)
    if spec["type"] == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{where}: categorical needs a non-empty list `choices`")
        return Param(name, "categorical", choices=tuple(choices), when=when)
    low, high = spec.get("low"), spec.get("high")
    num = (int, float)
    if not isinstance(low, num) or not isinstance(high, num) or isinstance(low, bool) or not low < high:
        raise ValueError(f"{where}: needs numbers low < high (got low={low!r}, high={high!r})")
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise ValueError(f"{where}: log scale needs low > 0 (got {low})")
    step = spec.get("step")
    if step is not None and (not isinstance(step, num) or step <= 0 or log):
        raise ValueError(f"{where}: step must be a positive number, and not with log: true")
    if spec["type"] == "int":
        if int(low) != low or int(high) != high:
            raise ValueError(f"{where}: int bounds must be integers")
        return Param(name, "int", int(low), int(high), log, int(step or 1), when=when)
    return Param(
        name, "float", float(low), float(high), log, None if step is None else float(step), when=when
    )


def _when(when, seen: dict, where: str):
    if when is None:
        return None
    if not isinstance(when, dict) or len(when) != 1:
        raise ValueError(f"{where}: `when` is one mapping {{categorical parameter: value}}")
    ((parent, value),) = when.items()
    p = seen.get(parent)
    if p is None or p.type != "categorical":
        raise ValueError(
            f"{where}: `when` names {parent!r}, which is not a categorical parameter listed before it"
        )
    if value not in p.choices:
        raise ValueError(
            f"{where}: `when` value {value!r} is not one of {parent!r}'s choices {list(p.choices)}"
        )
    return (parent, value)


def active(params, values: dict) -> list[Param]:
    """The parameters that apply given the values chosen so far (conditionals whose parent matches)."""
    return [p for p in params if p.when is None or values.get(p.when[0]) == p.when[1]]


def suggest(trial, params) -> dict:
    """Ask an Optuna trial for every applicable parameter, in order; returns {name: value}."""
    values: dict = {}
    for p in params:
        if p.when is not None and values.get(p.when[0]) != p.when[1]:
            continue
        if p.type == "categorical":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            values[p.name] = trial.suggest_int(
                p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log
            )
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
    return values


def grid(params) -> dict:
    """The GridSampler's search space: categorical choices, every int, floats with a `step`.

    Raises ValueError for a continuous float (no finite grid) or a conditional parameter.
    """
    out = {}
    for p in params:
        if p.when is not None:
            raise ValueError(f"hpo.sampler=grid: conditional parameter {p.name!r} has no fixed grid")
        if p.type == "categorical":
            out[p.name] = list(p.choices)
        elif p.type == "int":
            out[p.name] = list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))
        elif p.step is not None:
            n = int(round((p.high - p.low) / p.step))
            out[p.name] = [p.low + i * p.step for i in range(n + 1)]
        else:
            raise ValueError(f"hpo.sampler=grid: float parameter {p.name!r} needs a `step` to make a grid")
    return out


def grid_size(params) -> int:
    """The number of points of the grid of `params` (space.grid). Raises ValueError as grid() does."""
    n = 1
    for values in grid(params).values():
        n *= len(values)
    return n
