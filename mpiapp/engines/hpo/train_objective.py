"""The `train` objective: one model family's `train.<family>.*` parameters scored by purged CV.

Data: the first hpo.train_symbols symbols of data.source (the train job's source, default the
embedded real series) that have enough bars for the folds, each cut to its last hpo.train_bars bars.
Features, targets and purged folds (train.horizon, train.cv.*) are built once per rank in `setup` by
the train engine's own functions (dataset.symbol_data) and reused by every trial.

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
from .objectives import Objective

#: default space per family: the keys of train.<family>.* (few hundred trees at most)
SPACES = {
    "lgbm": {
        "train.lgbm.n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
        "train.lgbm.learning_rate": {"type": "float", "low": 0.005, "high": 0.2, "log": True},
        "train.lgbm.num_leaves": {"type": "int", "low": 4, "high": 64, "log": True},
        "train.lgbm.min_data_in_leaf": {"type": "int", "low": 10, "high": 200, "log": True},
        "train.lgbm.feature_fraction": {"type": "float", "low": 0.3, "high": 1.0},
    },
    "xgb": {
        "train.xgb.n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
        "train.xgb.learning_rate": {"type": "float", "low": 0.005, "high": 0.2, "log": True},
        "train.xgb.max_depth": {"type": "int", "low": 2, "high": 8},
        "train.xgb.min_child_weight": {"type": "float", "low": 0.5, "high": 20.0, "log": True},
        "train.xgb.subsample": {"type": "float", "low": 0.5, "high": 1.0},
    },
    "rf": {
        "train.rf.n_estimators": {"type": "int", "low": 50, "high": 400, "log": True},
        "train.rf.num_leaves": {"type": "int", "low": 4, "high": 128, "log": True},
        "train.rf.min_data_in_leaf": {"type": "int", "low": 5, "high": 200, "log": True},
        "train.rf.bagging_fraction": {"type": "float", "low": 0.3, "high": 0.95},
        "train.rf.feature_fraction": {"type": "float", "low": 0.3, "high": 1.0},
    },
    "mlp": {
        "train.mlp.epochs": {"type": "int", "low": 5, "high": 50, "log": True},
        "train.mlp.batch_size": {"type": "categorical", "choices": [64, 128, 256]},
        "train.mlp.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "train.mlp.weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
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


def _tail(series, bars: int):
    """The last `bars` bars of a Series (all when bars is 0 or the series is shorter)."""
    if not bars or len(series) <= bars:
        return series
    cut = {f.name: getattr(series, f.name)[-bars:] for f in dataclasses.fields(series)
           if isinstance(getattr(series, f.name), np.ndarray)}  # fmt: skip
    return dataclasses.replace(series, **cut)


def setup(cfg) -> dict:
    """Per rank, once: the family's library, the train parameters, and each symbol's features and
    folds. Raises ValueError (exit 2 on every rank) for a missing library, a bad data source, no
    symbol long enough, or rmse with the classification task."""
    from ...io import sources
    from ..train import families as fam
    from ..train.cv import FoldError
    from ..train.dataset import symbol_data
    from ..train.job import _import_libraries, resolve_device, short_reason
    from ..train.params import TrainParams, family_params

    h, d = cfg.hpo, cfg.data
    family = h.train_family
    if h.train_metric == "rmse" and cfg.train.task == "classification":
        raise ValueError("hpo.train_metric=rmse needs train.task=regression (classification predicts probabilities)")
    miss = fam.missing_libraries([family])
    if miss:
        raise ValueError("train objective: " + miss[0])
    base = TrainParams.from_config(cfg.train)
    params = dataclasses.replace(base, families=(family,), params={family: family_params(cfg.train, family)})
    _import_libraries([family])  # after the thread plan set OMP_NUM_THREADS; the job enforces it next
    device = resolve_device(params.device, [family])
    src = sources.open_from_config(cfg, min_bars=1)
    symbols = []
    for name, n_bars in src.index():
        if len(symbols) == h.train_symbols:
            break
        if short_reason(min(n_bars, h.train_bars or n_bars), params) is not None:
            continue
        series = src.try_load(name) if d.skip_bad_symbols else src.load(name)
        if series is None:
            continue
        try:
            symbols.append((name, symbol_data(_tail(series, h.train_bars), params)))
        except FoldError:
            continue
    src.close()
    if not symbols:
        raise ValueError(f"train objective: no symbol of {d.source} has enough bars for the folds "
                         f"(hpo.train_bars = {h.train_bars}, train.cv.n_folds = {params.cv.n_folds})")
    return {"family": family, "params": params, "symbols": symbols, "device": device,
            "threads": params.model_threads(_threads())}


def trial_params(state: dict, params: dict, seed: int):
    """TrainParams of one trial: the family's block with the trial's values on top, seeded by the
    trial. Raises ValueError for a parameter that is not a train.<family>.* key."""
    family = state["family"]
    prefix = f"train.{family}."
    bad = [k for k in params if not k.startswith(prefix) or k[len(prefix):] not in state["params"].params[family]]
    if bad:
        raise ValueError(f"the train objective (hpo.train_family={family}) tunes {prefix}* keys only, not {bad}")
    block = dict(state["params"].params[family])
    block.update({k[len(prefix):]: v for k, v in params.items()})
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


def best_config(params: dict, cfg) -> dict:
    """The best YAML's keys: the family's tuned block, and that family alone to train."""
    return {**params, "train.families": [cfg.hpo.train_family]}


def objective() -> Objective:
    return Objective("train", default_space, evaluate, directions, "train", setup, best_config)
