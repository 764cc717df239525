"""User objectives for the hpo tests (`--objective tests/progs/hpo_objectives.py:NAME`).

quad      a seeded quadratic in x (and y when kind=b); milliseconds; steps reported
flaky     raises for x > 0.6, returns NaN for x < -0.7, else like quad
slow      like quad, but sleeps `SLOW_S` per step (5 steps) and prints `TRIAL rank=R pid=P n=N` first
stepped   group objective: each step maps 4 samples over the group; every rank appends
          `END rank=R n=N at=S` to $HPO_TEST_LOG/rankR.log when the trial ends
"""

import math
import os
import time

import numpy as np

SPACE = {
    "x": {"type": "float", "low": -1.0, "high": 1.0},
    "kind": {"type": "categorical", "choices": ["a", "b"]},
    "y": {"type": "float", "low": 0.0, "high": 2.0, "log": False, "when": {"kind": "b"}},
}
SLOW_S = float(os.environ.get("HPO_TEST_SLOW_S", "0.3"))


def _value(params, seed):
    noise = np.random.default_rng(seed).normal(0.0, 1e-3)
    return (params["x"] - 0.3) ** 2 + params.get("y", 0.0) * 0.1 + noise


def quad(params, ctx):
    v = _value(params, ctx.seed)
    for step in range(3):
        ctx.report(v + (2 - step) * 0.1, step)
    return v


def flaky(params, ctx):
    if params["x"] > 0.6:
        raise ValueError(f"x={params['x']:.3f} is too large for this objective")
    if params["x"] < -0.7:
        return math.nan
    return _value(params, ctx.seed)


def slow(params, ctx):
    print(f"TRIAL rank={os.environ.get('OMPI_COMM_WORLD_RANK')} pid={os.getpid()} n={ctx.number}", flush=True)
    v = _value(params, ctx.seed)
    for step in range(5):
        time.sleep(SLOW_S)
        ctx.report(v + (4 - step) * 0.1, step)
    return v


def stepped(params, ctx):
    r = os.environ.get("OMPI_COMM_WORLD_RANK")
    total, n = 0.0, 0
    try:
        for step in range(6):
            vals = ctx.map(lambda s: _value(params, ctx.seed + s), range(4 * step, 4 * step + 4))
            total, n = total + sum(vals), n + len(vals)
            ctx.report(total / n + (5 - step) * 0.05, step)
    finally:  # one file per rank: mpiexec may interleave the ranks' stdout mid-line
        with open(os.path.join(os.environ["HPO_TEST_LOG"], f"rank{r}.log"), "a") as f:
            f.write(f"END rank={r} n={ctx.number} at={step}\n")
    return total / n


def lopsided(params, ctx):
    """One rank of the group raises outside ctx.map (which one depends on the trial number); the other
    goes on mapping and reporting. The group must end the trial together, with that rank's traceback."""
    for step in range(4):
        if step == 1 and ctx.rank == ctx.number % ctx.size:
            raise RuntimeError(f"rank-dependent failure on group rank {ctx.rank}")
        vals = ctx.map(lambda s: _value(params, ctx.seed + s), range(3))
        ctx.report(sum(vals), step)
    return sum(vals)


def gridded(params, ctx):
    """For a grid space {a: int, b: categorical}: a value from both."""
    return params["a"] + (0.5 if params["b"] == "y" else 0.0)
