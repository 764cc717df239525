"""The `optbench` objective: one optimizer's step, momentum or betas scored by iterations to a target.

Problem and optimizer: hpo.optbench_problem (an optbench.problems name, built once per rank in
`setup` by the optbench engine with the optbench.* problem keys) and hpo.optbench_optimizer. Each
trial runs the optbench engine's own cell (cell.run_cell: theory step x the trial's step scale, the
recorder's curve) on the numpy backend with batch optbench.batch_sizes[0] (0 = full batch), for
optbench.repeats seeds — the optbench job's start points and batch orders, the same in every trial,
so trials are compared on the same starts — shared among the group's ranks by `ctx.map`.

Space (by optimizer): sgd: `optbench.step_scale` (log; multiplies the theory step 1/L); momentum and
nesterov: `optbench.step_scale` and `optbench.momentum`; adam and adamw: `optbench.adam_lr` (log),
`optbench.beta1`, `optbench.beta2`.

Value (minimised): the median over seeds of the iterations to hpo.optbench_target relative
suboptimality. Iterations, not seconds: they are deterministic (the same at any rank count and under
any machine load, so a reproducible search is reproducible and a busy node does not mislead the
sampler), while time-to-target on one core is iterations x a per-step cost that does not depend on
these hyper-parameters. Every iteration is a checkpoint of the recorded curve (optbench.checkpoints is
raised for the objective), so the count is exact, and a run stops at the target. A seed that misses
the target within optbench.max_iters steps (or diverges) counts 2 x optbench.max_iters: a large finite
penalty rather than a FAIL, so the sampler learns that region is bad and the median stays finite.

Held-out part: other seeds — start points and batch orders of seed indices optbench.repeats ..
2 x optbench.repeats - 1 (the search uses 0 .. optbench.repeats - 1), the same problem. Its value is
the median over those seeds; the standard error is the half-width of the bootstrap 95 % interval of
the median (optbench.stats.median_ci) over 1.96; n = the seeds. Defaults: the config's optbench.*
values (step_scales[0], momentum — the theory value when null, so it is left out —, adam_lr,
adam_betas).

The best-parameters YAML is an `optbench:` section — `step_scales: [s]`, `momentum`, `adam_lr`,
`adam_betas`, and the problem, optimizer and batch size tuned — a `--config` file of
`python -m mpiapp.optbench`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from . import space
from .contract import Objective

SPACES = {
    "sgd": {"optbench.step_scale": {"type": "float", "low": 0.05, "high": 4.0, "log": True}},
    "momentum": {
        "optbench.step_scale": {"type": "float", "low": 0.05, "high": 4.0, "log": True},
        "optbench.momentum": {"type": "float", "low": 0.0, "high": 0.995},
    },
    "nesterov": {
        "optbench.step_scale": {"type": "float", "low": 0.05, "high": 4.0, "log": True},
        "optbench.momentum": {"type": "float", "low": 0.0, "high": 0.995},
    },
    "adam": {
        "optbench.adam_lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
        "optbench.beta1": {"type": "float", "low": 0.5, "high": 0.99},
        "optbench.beta2": {"type": "float", "low": 0.9, "high": 0.9999},
    },
}
SPACES["adamw"] = SPACES["adam"]
KNOWN = ("optbench.step_scale", "optbench.momentum", "optbench.adam_lr", "optbench.beta1", "optbench.beta2")
MISS_FACTOR = 2  # a seed that misses the target counts MISS_FACTOR x optbench.max_iters


def default_space(cfg) -> tuple:
    opt = cfg.hpo.optbench_optimizer
    return space.parse(SPACES[opt], f"optbench objective ({opt})")


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def setup(cfg) -> dict:
    """Per rank, once: the problem, the numpy backend and its copy of the data. Raises ValueError
    (exit 2 on every rank) for an unknown problem or a bad optbench.* value."""
    from ..optbench import backends, problems
    from ..optbench.grid import BenchParams

    h = cfg.hpo
    base = BenchParams.from_config(cfg.optbench)
    p = dataclasses.replace(
        base,
        problems=(h.optbench_problem,),
        optimizers=(h.optbench_optimizer,),
        backends=("numpy",),
        batch_sizes=(int(base.batch_sizes[0]) if base.batch_sizes else 0,),
        targets=(h.optbench_target,),
        stop_rel=h.optbench_target,
        checkpoints=min(100_000, max(base.checkpoints, 8 * base.max_iters)),
        parity_steps=0,
        cache=False,
    )
    try:
        problems.check_grid(
            p
        )  # the optbench job's own checks of the grid (problem name, memory; BenchParams checked the values)
        prob = problems.build(h.optbench_problem, p.build_options(None, _threads()))
    except ValueError as exc:  # ProblemError is one
        raise ValueError(f"optbench objective: {exc}") from None
    be = backends.make("numpy")
    return {"params": p, "problem": prob, "backend": be, "data": be.data(prob)}


def trial_params(base, params: dict):
    """BenchParams of one trial. Raises ValueError for a parameter the objective does not know."""
    bad = [k for k in params if k not in KNOWN]
    if bad:
        raise ValueError(f"the optbench objective tunes {', '.join(KNOWN)} only, not {bad}")
    kw = {}
    if "optbench.step_scale" in params:
        kw["step_scales"] = (float(params["optbench.step_scale"]),)
    if "optbench.momentum" in params:
        kw["momentum"] = float(params["optbench.momentum"])
    if "optbench.adam_lr" in params:
        kw["adam_lr"] = float(params["optbench.adam_lr"])
    b1, b2 = base.adam_betas
    kw["adam_betas"] = (float(params.get("optbench.beta1", b1)), float(params.get("optbench.beta2", b2)))
    return dataclasses.replace(base, **kw)


def evaluate(params: dict, ctx) -> float:
    p = ctx.state["params"]
    vals = ctx.map(_runner(params, ctx.state), range(p.repeats))
    value = float(np.median(vals))
    ctx.report(value, 0)
    return value


def holdout(params: dict, ctx):
    """The median iterations over the held-out seeds, with its standard error (module docstring)."""
    from ..optbench.stats import median_ci
    from .contract import Score

    p = ctx.state["params"]
    seeds = range(p.repeats, 2 * p.repeats)
    vals = ctx.map(_runner(params, ctx.state), seeds)
    med, lo, hi = median_ci(vals)
    return Score(
        med, (hi - lo) / (2 * 1.96), float(len(vals)), detail=f"seeds {seeds.start}..{seeds.stop - 1}"
    )


def defaults(cfg, names) -> dict:
    """The config's values of the searched parameters (momentum only when set: null is the theory value)."""
    o = cfg.optbench
    known = {
        "optbench.step_scale": float(o.step_scales[0]),
        "optbench.adam_lr": float(o.adam_lr),
        "optbench.beta1": float(o.adam_betas[0]),
        "optbench.beta2": float(o.adam_betas[1]),
    }
    if o.momentum is not None:
        known["optbench.momentum"] = float(o.momentum)
    return {k: known[k] for k in names if k in known}


def _runner(params: dict, st: dict):
    """seed index -> iterations to the target (a miss: the penalty) of the trial's parameters."""
    from ..optbench.cell import run_cell
    from ..optbench.grid import Cell

    p = trial_params(st["params"], params)
    target, penalty = p.targets[0], float(MISS_FACTOR * p.max_iters)

    def one_seed(seed: int) -> float:
        cell = Cell(
            (0, 0, 0, 0, 0, seed),
            p.problems[0],
            p.optimizers[0],
            "numpy",
            p.step_scales[0],
            p.batch_sizes[0],
            seed,
        )
        res = run_cell(p, cell, st["problem"], st["backend"], st["data"])
        if res.status == "failed":
            raise RuntimeError(res.message)
        it = res.scalars.get(f"iters_to_{target:g}", float("inf"))
        return float(it) if np.isfinite(it) else penalty

    return one_seed


def best_config(params: dict, cfg) -> dict:
    """The best YAML's keys: optbench.* keys the optbench job reads (a one-item step grid, the betas as
    a pair) and the problem, optimizer and batch size tuned."""
    h, o = cfg.hpo, cfg.optbench
    out = {
        "optbench.problems": [h.optbench_problem],
        "optbench.optimizers": [h.optbench_optimizer],
        "optbench.batch_sizes": [int(o.batch_sizes[0]) if o.batch_sizes else 0],
    }
    if "optbench.step_scale" in params:
        out["optbench.step_scales"] = [float(params["optbench.step_scale"])]
    if "optbench.momentum" in params:
        out["optbench.momentum"] = float(params["optbench.momentum"])
    if "optbench.adam_lr" in params:
        out["optbench.adam_lr"] = float(params["optbench.adam_lr"])
    if "optbench.beta1" in params or "optbench.beta2" in params:
        b1, b2 = o.adam_betas
        out["optbench.adam_betas"] = [
            float(params.get("optbench.beta1", b1)),
            float(params.get("optbench.beta2", b2)),
        ]
    return out


def objective() -> Objective:
    return Objective(
        "optbench",
        default_space,
        evaluate,
        ("minimize",),
        "optbench",
        setup,
        best_config,
        holdout=holdout,
        defaults=defaults,
    )
