"""The `scan` objective: scan parameters scored on a universe with known answers.

Value (maximised): recall - hpo.scan_false_alarm_weight x false alarms, where recall is the share of
impulses planted in hpo.scan_symbols synthetic symbols that the scan finds (engines/scan/accuracy.py:
all six pivots within 2 bars, in some window's top-k) and false alarms are patterns scoring above
0.7 per 1,000 bars of as many pure random walks (the generator at plant rate 0). Data: data.seed,
data.synthetic_plant_rate, data.synthetic_noise, hpo.scan_bars bars per symbol — generated once per
rank (`setup`) and reused by every trial.

Steps: step s scans planted symbol s and random walk s (shared among the group's ranks by `ctx.map`)
and reports the value over symbols 0..s, so a pruner can stop a hopeless trial early. Parameter names
are `scan.*` config keys; the best-parameters YAML is a `--config` file of `python -m mpiapp.score`.

Held-out part: a second universe of as many planted symbols and random walks, generated with other
seeds (data.seed + 2 and + 3; the search's are data.seed and + 1), never scanned by the search. Its
value's standard error treats each planted impulse as one independent trial of the recall
(binomial: sqrt(r (1 - r) / impulses)) and the false alarms as a Poisson count (sqrt(alarms) per
bars), added in quadrature; n = the planted impulses. Defaults: the config's scan.* values.
"""

from __future__ import annotations

from . import space
from .contract import Objective

THRESHOLD = 0.7  # a random-walk pattern scoring above this is a false alarm

SPACE = {
    "scan.pivot_pct": {"type": "float", "low": 0.01, "high": 0.08, "log": True},
    "scan.up_to": {"type": "int", "low": 1, "high": 3},
    "scan.max_start_points": {"type": "int", "low": 1, "high": 4},
    "scan.fib_tolerance": {"type": "float", "low": 0.0, "high": 0.15},
    "scan.top_k": {"type": "int", "low": 1, "high": 8},
}


def setup(cfg) -> dict:
    """Per rank, once: the planted and random-walk series, the resolved backend."""
    from ...io import synthetic
    from ..scan import resolve_backend

    backend, _ = resolve_backend(cfg.scan.backend)
    if backend == "numba":  # after the thread plan set NUMBA_NUM_THREADS; without its scipy BLAS probe
        from ...runtime.lean import import_numba_kernels

        import_numba_kernels()
    d, h = cfg.data, cfg.hpo

    def universe(seed: int):
        planted = [
            synthetic.generate(
                seed, i, h.scan_bars, d.synthetic_plant_rate, d.synthetic_noise, h.scan_symbols
            )
            for i in range(h.scan_symbols)
        ]
        walks = [
            synthetic.generate(seed + 1, i, h.scan_bars, 0.0, d.synthetic_noise, h.scan_symbols)[0]
            for i in range(h.scan_symbols)
        ]
        return planted, walks

    planted, walks = universe(d.seed)
    held = universe(d.seed + 2)
    return {
        "planted": planted,
        "walks": walks,
        "backend": backend,
        "holdout": {"planted": held[0], "walks": held[1]},
    }


def scan_params(cfg, params: dict):
    """ScanParams from the config's scan section with the trial's `scan.*` values on top.
    Raises ValueError for a parameter that is not a scan key."""
    from ..scan import ScanParams

    bad = [k for k in params if not k.startswith("scan.")]
    if bad:
        raise ValueError(f"the scan objective tunes scan.* keys only, not {bad}")
    return ScanParams.from_config(cfg.scan, **{k[5:]: v for k, v in params.items()})


def evaluate(params: dict, ctx) -> float:
    return _score(params, ctx, ctx.state, report=True)[0]


def holdout(params: dict, ctx):
    """The value on the held-out universe, with its standard error (module docstring)."""
    import math

    from .contract import Score

    value, hits, planted, alarms, bars = _score(params, ctx, ctx.state["holdout"], report=False)
    r = hits / planted if planted else math.nan
    w = ctx.cfg.hpo.scan_false_alarm_weight
    se = math.sqrt(
        (r * (1 - r) / planted if planted else math.nan) + (w * 1000.0 * math.sqrt(alarms) / bars) ** 2
    )
    return Score(
        value, se, float(planted), detail=f"recall {hits}/{planted}, {alarms} false alarms in {bars} bars"
    )


def defaults(cfg, names) -> dict:
    """The config's values of the searched scan.* keys."""
    return {k: cfg.scan[k[5:]] for k in names if k.startswith("scan.") and k[5:] in cfg.scan}


def _score(params: dict, ctx, st: dict, report: bool):
    """(value, hits, planted impulses, false alarms, random-walk bars) on the universe `st`."""
    from ..scan import scan_symbol
    from ..scan.accuracy import found

    p = scan_params(ctx.cfg, params)
    backend = ctx.state["backend"]

    def sample(item):
        kind, i = item
        if kind == "planted":
            series, truth = st["planted"][i]
            pats = scan_symbol(series, p, backend).patterns
            return (sum(found(pats, imp) for imp in truth), len(truth))
        series = st["walks"][i]
        return (int((scan_symbol(series, p, backend).patterns["score"] > THRESHOLD).sum()), len(series))

    hits = planted = alarms = bars = 0
    value = 0.0
    weight = ctx.cfg.hpo.scan_false_alarm_weight
    for s in range(len(st["planted"])):
        (h, n), (a, b) = ctx.map(sample, [("planted", s), ("walk", s)])
        hits, planted, alarms, bars = hits + h, planted + n, alarms + a, bars + b
        value = (hits / planted if planted else 0.0) - weight * 1000.0 * alarms / bars
        if report:
            ctx.report(value, s)
    return value, hits, planted, alarms, bars


def objective() -> Objective:
    return Objective(
        "scan",
        space.parse(SPACE, "scan objective"),
        evaluate,
        ("maximize",),
        "scan",
        setup,
        holdout=holdout,
        defaults=defaults,
    )
