"""Objectives by name: each one a default search space, an evaluate function, and where its best
parameters go.

    scan               scan parameters -> recall on a planted synthetic universe minus false alarms
                       on random walks (engines/hpo/scan_objective.py); best YAML: `scan:` section
    train              a family's train.<family>.* parameters -> mean out-of-fold IC (or RMSE) of purged
                       walk-forward CV on a few symbols (engines/hpo/train_objective.py); best YAML:
                       `train:` section (`python -m mpiapp.train --config`)
    optbench           an optimizer's step / momentum / betas -> iterations to a target on one problem
                       (engines/hpo/optbench_objective.py); best YAML: `optbench:` section
    demo               a seeded, CPU-bound quadratic with steps (tests, benchmark, first try)
    MODULE:FUNCTION    a user's `function(params, ctx)`; module-level SPACE (a space mapping) and
                       DIRECTIONS (e.g. ("minimize",)), holdout(params, ctx) (its held-out part) and DEFAULTS (a mapping
                       of parameters scored beside the best) are optional; FILE.py:FUNCTION works too

Heavy state (data, features) comes from `setup(cfg)`, called once per rank before the first trial;
its result is `ctx.state` in every trial that rank evaluates.

Held-out part: each built-in objective (and a user module with a `holdout` function) has data it
never searches on — train: a final period of each symbol after a purge gap, and symbols not searched;
scan: a second synthetic universe; optbench: other seeds; demo: other noise. `holdout(params, ctx)`
evaluates parameters there and returns a `Score` (value, standard error, independent observations);
`defaults(cfg, names)` gives the parameters the target job runs with when not tuned. At the end of a search
the best trial by its search value, and the defaults, are scored there (holdout.py) — never to choose
among trials.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Callable

from . import space as _space
from .contract import Objective, ObjectiveError


def _scan() -> Objective:
    from . import scan_objective

    return scan_objective.objective()


def _demo() -> Objective:
    from . import demo

    return demo.objective()


def _train() -> Objective:
    from . import train_objective

    return train_objective.objective()


def _optbench() -> Objective:
    from . import optbench_objective

    return optbench_objective.objective()


#: objective name -> loader (called on every rank; imports only what that objective needs)
LOADERS: dict[str, Callable[[], Objective]] = {
    "scan": _scan,
    "train": _train,
    "optbench": _optbench,
    "demo": _demo,
}


def load(name: str) -> Objective:
    """The objective called `name` (a registered one, or MODULE:FUNCTION). Raises ObjectiveError."""
    if name in LOADERS:
        return LOADERS[name]()
    if ":" not in name:
        raise ObjectiveError(
            f"unknown objective {name!r}: use one of {', '.join(LOADERS)} or MODULE:FUNCTION"
        )
    return user(name)


def user(spec: str) -> Objective:
    """MODULE:FUNCTION (or FILE.py:FUNCTION). Raises ObjectiveError naming what is missing."""
    modname, _, fname = spec.rpartition(":")
    try:
        if modname.endswith(".py"):
            s = importlib.util.spec_from_file_location(os.path.basename(modname)[:-3], modname)
            if s is None or not os.path.exists(modname):
                raise ImportError(f"no file {modname}")
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            mod = importlib.import_module(modname)
    except ImportError as exc:
        raise ObjectiveError(f"objective {spec}: cannot import {modname}: {exc}") from None
    fn = getattr(mod, fname, None)
    if not callable(fn):
        raise ObjectiveError(f"objective {spec}: {modname} has no function {fname!r}")
    sp = getattr(mod, "SPACE", None)
    params = _space.parse(sp, f"{modname}.SPACE") if sp is not None else ()
    directions = tuple(getattr(mod, "DIRECTIONS", ("minimize",)))
    bad = [d for d in directions if d not in ("minimize", "maximize")] or not directions
    if bad:
        raise ObjectiveError(f"objective {spec}: DIRECTIONS must be minimize/maximize, not {directions}")
    setup = getattr(mod, "setup", None)
    hold = getattr(mod, "holdout", None)
    defaults = getattr(mod, "DEFAULTS", None)
    if defaults is not None and not isinstance(defaults, dict):
        raise ObjectiveError(f"objective {spec}: DEFAULTS must be a mapping of parameter -> value")
    return Objective(
        spec,
        params,
        fn,
        directions,
        None,
        setup if callable(setup) else None,
        holdout=hold if callable(hold) else None,
        defaults=(lambda cfg, names: dict(defaults)) if defaults is not None else None,
    )
