"""A search whose value is pure fitted noise (`--objective tests/progs/hpo_noise.py:fit`).

Data: y and 60 candidate features, all independent standard normal (seeded): nothing predicts y.
A trial fits y on the first k features by least squares on the search part's 100 rows; its search
value is the correlation of that fit with y on the same rows — an in-sample figure that grows with k
(about sqrt(k / 100)) though every feature is noise. Its held-out value is the correlation of the same
coefficients' forecast with y on 400 other rows: 0 in expectation, standard error (1 - r^2) /
sqrt(n - 1) (the Fisher approximation for a correlation), n = 400 independent rows.
"""

import math

import numpy as np

SPACE = {"k": {"type": "int", "low": 1, "high": 60}}
DIRECTIONS = ("maximize",)
DEFAULTS = {"k": 1}
N_SEARCH, N_HOLD, FEATURES = 100, 400, 60


def setup(cfg):
    rng = np.random.default_rng(20261201)
    return {
        "search": (rng.standard_normal((N_SEARCH, FEATURES)), rng.standard_normal(N_SEARCH)),
        "holdout": (rng.standard_normal((N_HOLD, FEATURES)), rng.standard_normal(N_HOLD)),
    }


def _coef(params, state):
    X, y = state["search"]
    k = int(params["k"])
    return np.linalg.lstsq(X[:, :k], y, rcond=None)[0], k


def fit(params, ctx):
    b, k = _coef(params, ctx.state)
    X, y = ctx.state["search"]
    return float(np.corrcoef(X[:, :k] @ b, y)[0, 1])


def holdout(params, ctx):
    b, k = _coef(params, ctx.state)
    X, y = ctx.state["holdout"]
    r = float(np.corrcoef(X[:, :k] @ b, y)[0, 1])
    return r, (1 - r * r) / math.sqrt(N_HOLD - 1), float(N_HOLD)
