"""The `train` objective: one model family's `train.<family>.*` parameters scored by purged CV.

Data: the first hpo.train_symbols symbols of data.source (the train job's source, default the
embedded real series) that have enough bars for the folds. The last hpo.train_holdout_bars bars of
every symbol are the held-out period; the search sees only the hpo.train_bars bars that end a purge
gap of train.horizon + train.cv.embargo_bars bars before it (so no search label reaches within that
gap of the held-out period). Features, targets and purged folds (train.horizon, train.cv.*) are built
once per rank in `setup` by the train engine's own functions (dataset.symbol_data) and reused by
every trial.

Held-out part: the held-out period of those symbols and of the next hpo.train_holdout_symbols
symbols of data.source, which the search never sees at all. A setting is scored there as the train
job would use it: one model per symbol fitted on the bars the search saw (its inner validation slice
included, for what a family chooses on it), forecasting the held-out period. Value: the mean over
symbols of the Spearman IC of those forecasts (a constant forecast counts 0, as in the search); its
standard error is Driscoll-Kraay over the symbols' common dates with lag horizon - 1
(engines/train/significance.py, docs/train.md), n = 1 / se^2 independent observations; beside it
(the baseline) the train job's ridge with its default penalties on the same bars. With
hpo.train_metric=rmse: the mean RMSE, its standard error the symbols' spread / sqrt(symbols).

Steps: step k fits fold k of every symbol (the symbols shared among the group's ranks by `ctx.map`),
each model through the train engine's unit (unit.train_unit: the family's fit/predict with an
explicit thread count, train.threads_per_model or the rank's thread-plan budget), and reports the
running value over folds 0..k, so a pruner can stop a hopeless trial early.

Value: hpo.train_metric=ic (default, maximised): the mean over folds and symbols of the out-of-fold
Spearman IC of the fold's test predictions (metrics.compute); a fold whose predictions are constant
has no rank information and counts IC 0. hpo.train_metric=rmse (minimised, regression only): the
mean out-of-fold RMSE.

Seeds: each model's seed is the train engine's unit_seed(symbol, family, fold, trial seed), the trial
seed coming from hpo.seed and the trial number — never the rank, so a reproducible search gives the
same values at any rank count (LightGBM runs deterministic, independent of its thread count).

The best-parameters YAML is a `train:` section — the tuned family's block and `families: [FAMILY]`
— so `python -m mpiapp.train --config results/hpo.best.yaml` trains that family with them (give it the
search's other train.* settings, horizon and CV, as the search had them).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from . import space
from .contract import Objective, Score

#: default space per family: keys of train.<family>.* that each change the model over their whole range
#: at the defaults of the others. Leaf sizes are searched as shares of the rows (min_leaf_fraction,
#: min_child_fraction), which override the absolute floors (min_data_in_leaf, min_child_weight) above a
#: few hundred rows; leaves and depth stop where a leaf of 10 % of the rows leaves no room for more.
#: ridge searches one penalty (a one-item train.ridge.penalties).
SPACES = {
    "lgbm": {
        "train.lgbm.n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
        "train.lgbm.learning_rate": {"type": "float", "low": 0.005, "high": 0.2, "log": True},
        "train.lgbm.num_leaves": {"type": "int", "low": 2, "high": 12, "log": True},
        "train.lgbm.min_leaf_fraction": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
        "train.lgbm.feature_fraction": {"type": "float", "low": 0.3, "high": 1.0},
    },
    "xgb": {
        "train.xgb.n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
        "train.xgb.learning_rate": {"type": "float", "low": 0.005, "high": 0.2, "log": True},
        "train.xgb.max_depth": {"type": "int", "low": 1, "high": 4},
        "train.xgb.min_child_fraction": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
        "train.xgb.subsample": {"type": "float", "low": 0.5, "high": 1.0},
    },
    "rf": {
        "train.rf.n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
        "train.rf.num_leaves": {"type": "int", "low": 2, "high": 12, "log": True},
        "train.rf.min_leaf_fraction": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
        "train.rf.bagging_fraction": {"type": "float", "low": 0.3, "high": 0.95},
        "train.rf.feature_fraction": {"type": "float", "low": 0.3, "high": 1.0},
    },
    "mlp": {
        "train.mlp.epochs": {"type": "int", "low": 5, "high": 50, "log": True},
        "train.mlp.batch_size": {"type": "categorical", "choices": [64, 128, 256]},
        "train.mlp.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "train.mlp.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    },
    "ridge": {
        "train.ridge.penalties": {"type": "float", "low": 1e-3, "high": 100.0, "log": True},
    },
}


def default_space(cfg) -> tuple:
    fam = cfg.hpo.train_family
    return space.parse(SPACES[fam], f"train objective ({fam})")


def directions(cfg) -> tuple:
    return ("minimize",) if cfg.hpo.train_metric == "rmse" else ("maximize",)


def _threads() -> int:
    """The rank's compute-thread budget: runtime.start applied the thread plan as OMP_NUM_THREADS."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def _cut(series, start: int, stop: int):
    """Bars [start, stop) of a Series."""
    cut = {
        f.name: getattr(series, f.name)[start:stop]
        for f in dataclasses.fields(series)
        if isinstance(getattr(series, f.name), np.ndarray)
    }
    return dataclasses.replace(series, **cut)


def gap_bars(params) -> int:
    """Bars between the search's last bar and the held-out period: the horizon (a label's length)
    plus the CV embargo."""
    return int(params.horizon + params.cv.embargo_bars)


def split_series(series, params, search_bars: int, holdout_bars: int):
    """(the search part, the held-out SymbolData) of one Series, or None when it is too short.

    The search part: the `search_bars` bars (0: all) that end gap_bars before the last `holdout_bars`
    bars. The held-out SymbolData: the features and targets of the search part, the gap and the held-out
    period together, with one fold that trains on the search part's samples (labels ending before the
    gap) and tests the samples dated in the held-out period. Raises cv.FoldError when the search part
    is too short for the folds."""
    from ..train.cv import Fold
    from ..train.dataset import symbol_data

    gap = gap_bars(params)
    end = len(series) - holdout_bars - gap
    if end <= 0:
        return None
    start = max(0, end - search_bars) if search_bars else 0
    search = _cut(series, start, end)
    both = _cut(series, start, len(series))
    sd = symbol_data(both, params)
    bars = sd.ds.bars
    h0 = len(both) - holdout_bars
    train = np.flatnonzero(bars + params.horizon < end - start).astype(np.int64)
    test = np.flatnonzero(bars >= h0).astype(np.int64)
    if train.size < 2 or test.size < 2:
        return None
    purged = int(((bars < h0) & (bars + params.horizon >= end - start)).sum())
    fold = Fold(
        fold=0,
        train=train,
        test=test,
        n_purged=purged,
        n_embargoed=0,
        test_bar_range=(int(bars[test[0]]), int(bars[test[-1]])),
        train_bar_range=(int(bars[train[0]]), int(bars[train[-1]])),
    )
    return search, dataclasses.replace(sd, folds=[fold])


def setup(cfg) -> dict:
    """Per rank, once: the family's library, the train parameters, and each symbol's features and
    folds. Raises ValueError (exit 2 on every rank) for a missing library, a bad data source, no
    symbol long enough, or rmse with the classification task."""
    from ...io import sources
    from ..train import families as fam
    from ..train.cv import FoldError
    from ..train.dataset import symbol_data
    from ..train.dataset import short_reason
    from ..train.families import import_libraries, resolve_device
    from ..train.params import BASELINE_FAMILY, TrainParams, family_params

    h, d = cfg.hpo, cfg.data
    family = h.train_family
    if h.train_metric == "rmse" and cfg.train.task == "classification":
        raise ValueError(
            "hpo.train_metric=rmse needs train.task=regression (classification predicts probabilities)"
        )
    miss = fam.missing_libraries([family])
    if miss:
        raise ValueError("train objective: " + miss[0])
    base = TrainParams.from_config(cfg.train)
    params = dataclasses.replace(base, families=(family,), params={family: family_params(cfg.train, family)})
    import_libraries([family])  # after the thread plan set OMP_NUM_THREADS; the job enforces it next
    device = resolve_device(params.device, [family])
    src = sources.open_from_config(cfg, min_bars=1)
    reserve = h.train_holdout_bars + gap_bars(params)
    symbols, held = [], []  # searched: (name, search SymbolData); held-out: (name, held-out SymbolData)
    unsearched = []
    for name, n_bars in src.index():
        if len(symbols) == h.train_symbols and len(unsearched) == h.train_holdout_symbols:
            break
        usable = n_bars - reserve
        if usable <= 0 or short_reason(min(usable, h.train_bars or usable), params) is not None:
            continue
        series = src.try_load(name) if d.skip_bad_symbols else src.load(name)
        if series is None:
            continue
        try:
            parts = split_series(series, params, h.train_bars, h.train_holdout_bars)
            if parts is None:
                continue
            if len(symbols) < h.train_symbols:
                symbols.append((name, symbol_data(parts[0], params)))
                held.append((name, parts[1]))
            else:
                unsearched.append((name, parts[1]))
        except FoldError:
            continue
    src.close()
    if not symbols:
        raise ValueError(
            f"train objective: no symbol of {d.source} has enough bars for the folds and the "
            f"held-out period (hpo.train_bars = {h.train_bars}, hpo.train_holdout_bars = "
            f"{h.train_holdout_bars}, a {gap_bars(params)}-bar gap, train.cv.n_folds = "
            f"{params.cv.n_folds})"
        )
    return {
        "family": family,
        "params": params,
        "symbols": symbols,
        "device": device,
        "threads": params.model_threads(_threads()),
        "holdout": held + unsearched,
        "searched": len(held),
        "ridge": family_params(cfg.train, BASELINE_FAMILY),
    }


def trial_params(state: dict, params: dict, seed: int):
    """TrainParams of one trial: the family's block with the trial's values on top, seeded by the
    trial. Raises ValueError for a parameter that is not a train.<family>.* key."""
    family = state["family"]
    prefix = f"train.{family}."
    block = dict(state["params"].params[family])
    bad = [k for k in params if not k.startswith(prefix) or k[len(prefix) :] not in block]
    if bad:
        raise ValueError(
            f"the train objective (hpo.train_family={family}) tunes {prefix}* keys only, not {bad}"
        )
    for k, v in params.items():  # a list key searched as one value (train.ridge.penalties) is that one value
        block[k[len(prefix) :]] = (
            list(v)
            if isinstance(v, (list, tuple))
            else [v]
            if isinstance(block[k[len(prefix) :]], list)
            else v
        )
    return dataclasses.replace(state["params"], seed=int(seed), params={family: block})


def evaluate(params: dict, ctx) -> float:
    from ..train import families as fam
    from ..train.metrics import compute
    from ..train.unit import train_unit

    st = ctx.state
    tp = trial_params(st, params, ctx.seed)
    fid = fam.FAMILIES[st["family"]][0]
    metric = ctx.cfg.hpo.train_metric

    def fold_value(item):
        s, k = item
        name, sd = st["symbols"][s]
        rows = train_unit(sd, (s, fid, k), name, tp, st["threads"], st["device"])["predictions"]
        v = compute(rows["y"], rows["yhat"], tp.proba)[metric]
        return 0.0 if metric == "ic" and math.isnan(v) else float(v)  # constant forecast: no rank information

    total, n = 0.0, 0
    value = math.nan
    for k in range(tp.cv.n_folds):
        vals = ctx.map(fold_value, [(s, k) for s in range(len(st["symbols"]))])
        total, n = total + sum(vals), n + len(vals)
        value = total / n
        ctx.report(value, k)
    return value


def holdout(params: dict, ctx) -> Score:
    """The parameters scored on the held-out period of every held-out symbol (module docstring)."""
    from ..train import families as fam
    from ..train import significance as sig
    from ..train.metrics import compute
    from ..train.unit import train_unit

    st = ctx.state
    family = st["family"]
    tp = trial_params(st, params, ctx.seed)
    tp = dataclasses.replace(tp, params={**tp.params, "ridge": st["ridge"]})
    metric, h = ctx.cfg.hpo.train_metric, tp.horizon
    fids = (fam.FAMILIES[family][0], fam.FAMILIES["ridge"][0])

    def one(s: int):
        name, sd = st["holdout"][s]
        out = []
        for fid in fids:
            rows = train_unit(sd, (s, fid, 0), name, tp, st["threads"], st["device"])["predictions"]
            y, p = rows["y"], rows["yhat"]
            v = compute(y, p, tp.proba)[metric]
            u = sig.rank_products(p, y)
            ok = metric == "ic" and np.isfinite(u).all() and u.size >= 2
            out.append(
                (
                    0.0 if metric == "ic" and math.isnan(v) else float(v),
                    (rows["time"], sig.to_fixed(sig.centred(u))) if ok else None,
                )
            )
        return out

    per = ctx.map(one, range(len(st["holdout"])))
    vals = np.array([p[0][0] for p in per])
    base = np.array([p[1][0] for p in per])
    n_sym, k = len(per), st["searched"]
    if metric == "ic":
        parts = [p[0][1] for p in per if p[0][1] is not None]
        se = (
            sig.panel_se(sig.merge_time_sums(sig.time_sums(t, d) for t, d in parts)[1], len(parts), h)
            if parts
            else math.nan
        )
        n = 1.0 / se**2 if se > 0 else math.nan
    else:
        se = float(np.std(vals, ddof=1) / math.sqrt(n_sym)) if n_sym > 1 else math.nan
        n = float(n_sym)
    split = (
        (
            f"searched symbols {np.mean(vals[:k]):+.4f}"
            + (f", symbols not searched {np.mean(vals[k:]):+.4f}" if n_sym > k else "")
        )
        if k
        else ""
    )
    detail = (
        f"{metric} on the last {ctx.cfg.hpo.train_holdout_bars} bars of {n_sym} symbols after a "
        f"{gap_bars(tp)}-bar gap: {split}; baseline ridge"
    )
    return Score(float(np.mean(vals)), se, n, float(np.mean(base)), detail)


def defaults(cfg, names) -> dict:
    """The config's values of the searched train.<family>.* keys (a list key as the list)."""
    out = {}
    for k in names:
        parts = k.split(".")
        if (
            len(parts) == 3
            and parts[0] == "train"
            and parts[1] in cfg.train
            and parts[2] in cfg.train[parts[1]]
        ):
            out[k] = cfg.train[parts[1]][parts[2]]
    return out


def best_config(params: dict, cfg) -> dict:
    """The best YAML's keys: the family's tuned block (a list key as a one-item list), and that family
    alone to train."""
    from ... import config

    out = {
        k: ([v] if k in config.KEYS and config.KEYS[k].type is list and not isinstance(v, list) else v)
        for k, v in params.items()
    }
    return {**out, "train.families": [cfg.hpo.train_family]}


def objective() -> Objective:
    return Objective(
        "train",
        default_space,
        evaluate,
        directions,
        "train",
        setup,
        best_config,
        holdout=holdout,
        defaults=defaults,
    )
