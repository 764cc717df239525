"""The demo objective: a seeded quadratic in (x, y) with a categorical shift, evaluated in steps.

CPU-bound on purpose (numpy work, no sleeps): each step sums a chunk of a pseudo-random series whose
length grows with |x|, so trials take uneven times (milliseconds to tens of milliseconds at
`hpo.demo_*` defaults). Value: (x - 1)^2 + (y + 2)^2 + shift + a small seeded noise; minimised.
Held-out part: the same function with other noise (a seed the search never draws); defaults: x = y = 0,
flat.
"""

from __future__ import annotations

import numpy as np

from . import space
from .contract import Objective

SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 5.0},
    "y": {"type": "float", "low": -5.0, "high": 5.0},
    "shape": {"type": "categorical", "choices": ["flat", "tilted"]},
    "tilt": {"type": "float", "low": 0.0, "high": 2.0, "when": {"shape": "tilted"}},
}
STEPS = 4


def work(n: int, seed: int) -> float:
    """CPU work of size ~n (numpy); returns a number that depends on (n, seed) only."""
    rng = np.random.default_rng(seed)
    a = rng.random(max(1, n))
    return float(np.sort(a)[len(a) // 2])


DEFAULTS = {"x": 0.0, "y": 0.0, "shape": "flat"}
HOLDOUT_SEED = 0x5EED  # mixed into the trial seed: noise the search never sees


def evaluate(params: dict, ctx, seed: int | None = None) -> float:
    x, y = params["x"], params["y"]
    seed = ctx.seed if seed is None else seed
    shift = params.get("tilt", 0.0) * 0.1
    base = (x - 1.0) ** 2 + (y + 2.0) ** 2 + shift
    size = int(ctx.state["unit"] * (1.0 + abs(x)))
    total = 0.0
    for step in range(STEPS):
        vals = ctx.map(lambda s: work(size, seed * 7919 + s), range(step * 2, step * 2 + 2))
        total += sum(vals)
        ctx.report(base + 1e-3 * total / (2 * (step + 1)) + (STEPS - 1 - step) * 0.5, step)
    return base + 1e-3 * total / (2 * STEPS)


def holdout(params: dict, ctx):
    """The value with noise drawn from a seed the search never uses (ctx.seed ^ HOLDOUT_SEED)."""
    from .contract import Score

    return Score(evaluate(params, ctx, seed=ctx.seed ^ HOLDOUT_SEED), detail="other noise")


def setup(cfg) -> dict:
    return {"unit": 20000}


def objective() -> Objective:
    return Objective(
        "demo",
        space.parse(SPACE, "demo"),
        evaluate,
        ("minimize",),
        None,
        setup,
        holdout=holdout,
        defaults=lambda cfg, names: dict(DEFAULTS),
    )
