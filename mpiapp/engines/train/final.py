"""From the raw per-unit rows to the tables of results/train.h5 (pure functions on column dicts).

Every metric is computed from the out-of-fold predictions: per fold, and per (symbol, family) over
all its folds at once (fold = -1), never averaged from per-fold numbers. Rows are sorted by key, so
the tables do not depend on which rank trained what, or in which order. Each IC comes with its
Newey-West standard error (significance.py); `panel_parts` prepares what the cross-symbol standard
error of each family's mean IC needs, in a form that ranks can add up exactly.
"""

from __future__ import annotations

import numpy as np

from . import significance as sig
from .metrics import BASELINES, METRICS, baseline_predictions, compute
from .families import FAMILIES
from .params import BASELINE_FAMILY

ALL_FOLDS = -1

METRIC_COLUMNS = (
    [
        ("symbol", "i4"),
        ("family", "i4"),
        ("fold", "i4"),
        ("n_train", "i8"),
        ("n_test", "i8"),
        ("n_purged", "i8"),
        ("n_embargoed", "i8"),
    ]
    + [(m, "f8") for m in METRICS]
    + [("ic_se", "f8"), ("ic_n_eff", "f8")]
)
BASELINE_COLUMNS = [("symbol", "i4"), ("baseline", "i4"), ("fold", "i4"), ("n_test", "i8")] + [
    (m, "f8") for m in METRICS
]


def sort_rows(rows: dict, keys: list[str]) -> dict:
    """Rows ordered by the key columns (first key most significant)."""
    if not rows or not len(rows[keys[0]]):
        return rows
    o = np.lexsort(tuple(rows[k] for k in reversed(keys)))
    return {c: np.asarray(v)[o] for c, v in rows.items()}


def _groups(rows: dict, keys: list[str]):
    """(key tuple, slice) of each run of equal keys in rows sorted by keys."""
    n = len(rows[keys[0]]) if rows else 0
    if n == 0:
        return
    k = np.stack([np.asarray(rows[c], dtype=np.int64) for c in keys], axis=1)
    brk = np.flatnonzero(np.any(k[1:] != k[:-1], axis=1)) + 1
    for a, b in zip(np.concatenate(([0], brk)), np.concatenate((brk, [n]))):
        yield tuple(int(x) for x in k[a]), slice(int(a), int(b))


def _table(columns, records: list[dict]) -> dict:
    return {c: np.array([r[c] for r in records], dtype=dt) for c, dt in columns}


def _ic_se(y, p, horizon: int) -> dict:
    _, se, n_eff = sig.ic_se(p, y, horizon)
    return {"ic_se": se, "ic_n_eff": n_eff}


def metrics_table(pred: dict, folds: dict, proba: bool, horizon: int) -> dict:
    """METRIC_COLUMNS rows: each (symbol, family, fold), then each (symbol, family) with fold = -1.

    pred: predictions rows sorted by (symbol, family, fold, bar); folds: the raw folds rows.
    The fold = -1 row sums n_train, n_test, n_purged and n_embargoed over the folds. ic_se / ic_n_eff:
    significance.ic_se with the label horizon.
    """
    info = {
        (int(s), int(f), int(k)): i
        for i, (s, f, k) in enumerate(zip(folds["symbol"], folds["family"], folds["fold"]))
    }
    recs = []
    for (s, f, k), sl in _groups(pred, ["symbol", "family", "fold"]):
        i = info[(s, f, k)]
        r = {"symbol": s, "family": f, "fold": k}
        r.update({c: int(folds[c][i]) for c in ("n_train", "n_test", "n_purged", "n_embargoed")})
        r.update(compute(pred["y"][sl], pred["yhat"][sl], proba))
        r.update(_ic_se(pred["y"][sl], pred["yhat"][sl], horizon))
        recs.append(r)
    counts = ("n_train", "n_test", "n_purged", "n_embargoed")
    sums: dict = {}
    for q in recs:
        tot = sums.setdefault((q["symbol"], q["family"]), dict.fromkeys(counts, 0))
        for c in counts:
            tot[c] += q[c]
    for (s, f), sl in _groups(pred, ["symbol", "family"]):
        r = {"symbol": s, "family": f, "fold": ALL_FOLDS}
        r.update(sums[(s, f)])
        r.update(compute(pred["y"][sl], pred["yhat"][sl], proba))
        r.update(_ic_se(pred["y"][sl], pred["yhat"][sl], horizon))
        recs.append(r)
    return sort_rows(_table(METRIC_COLUMNS, recs), ["symbol", "family", "fold"])


def baselines_table(pred: dict, folds: dict, proba: bool) -> dict:
    """BASELINE_COLUMNS rows: the zero and historical-mean forecasts (metrics.BASELINES) per symbol and
    fold, and over all folds (fold = -1); the historical mean is each fold's own training mean (its
    up-rate for classification). y of a (symbol, fold) comes from the lowest family that has it (all
    families see the same y)."""
    level = {
        (int(s), int(k)): float(up if proba else mu)
        for s, k, mu, up in zip(folds["symbol"], folds["fold"], folds["train_mean"], folds["train_up"])
    }
    by_fold = sort_rows(pred, ["symbol", "fold", "family", "bar"])
    recs, ys, preds = [], {}, {}
    for (s, k), sl in _groups(by_fold, ["symbol", "fold"]):
        fam = by_fold["family"][sl]
        y = by_fold["y"][sl][fam == fam[0]]
        base = baseline_predictions(level[(s, k)], y.shape[0], proba)
        for b in BASELINES:
            recs.append(
                {"symbol": s, "baseline": b, "fold": k, "n_test": y.shape[0], **compute(y, base[b], proba)}
            )
            preds.setdefault((s, b), []).append(base[b])
        ys.setdefault(s, []).append(y)
    for s, parts in ys.items():
        y_all = np.concatenate(parts)
        for b in BASELINES:
            recs.append(
                {
                    "symbol": s,
                    "baseline": b,
                    "fold": ALL_FOLDS,
                    "n_test": y_all.shape[0],
                    **compute(y_all, np.concatenate(preds[(s, b)]), proba),
                }
            )
    return sort_rows(_table(BASELINE_COLUMNS, recs), ["symbol", "baseline", "fold"])


def panel_parts(pred: dict) -> dict:
    """What this rank's symbols add to each family's cross-symbol IC standard error (significance.py).

    pred: predictions rows sorted by (symbol, family, fold, bar). Returns {family id: {"ic": (times,
    fixed-point sums of the centred rank products at each time, symbols, fixed-point sum of their ICs),
    "vs_ridge": the same for the family's rank products minus ridge's}}: only symbols with a defined IC
    count, and for vs_ridge only symbols whose family and ridge forecasts cover the same bars. The parts
    of several ranks add up exactly (merge_panel_parts); `panel_stats` turns them into figures.
    """
    ridge = FAMILIES[BASELINE_FAMILY][0]
    per: dict = {}
    for (s, f), sl in _groups(pred, ["symbol", "family"]):
        u = sig.rank_products(pred["yhat"][sl], pred["y"][sl])
        if u.shape[0] >= 2 and np.isfinite(u).all():
            per[(s, f)] = (
                np.asarray(pred["bar"][sl]),
                np.asarray(pred["time"][sl]),
                sig.to_fixed(sig.centred(u)),
                int(sig.to_fixed([u.sum()])[0]),
            )
    cols: dict = {}
    for (s, f), (bars, times, d, ic) in per.items():
        cols.setdefault((f, "ic"), []).append((times, d, ic))
        base = per.get((s, ridge))
        if f != ridge and base is not None and np.array_equal(base[0], bars):
            cols.setdefault((f, "vs_ridge"), []).append((times, d - base[2], ic - base[3]))
    out: dict = {}
    for (f, kind), parts in cols.items():
        t, v = sig.merge_time_sums((p[0], p[1]) for p in parts)
        out.setdefault(f, {})[kind] = (t, v, len(parts), sum(p[2] for p in parts))
    return out


def merge_panel_parts(parts) -> dict:
    """panel_parts of several ranks as one (the same at any rank count: integer sums)."""
    out: dict = {}
    for part in parts:
        for f, e in part.items():
            for k, entry in e.items():
                out.setdefault(f, {}).setdefault(k, []).append(entry)
    return {
        f: {
            k: (
                *sig.merge_time_sums((q[0], q[1]) for q in lst),
                sum(q[2] for q in lst),
                sum(q[3] for q in lst),
            )
            for k, lst in e.items()
        }
        for f, e in out.items()
    }


def panel_stats(entry, horizon: int) -> dict:
    """{mean, se, t, n_eff, symbols} of one merged panel entry: the mean over its symbols (of the IC,
    or of the IC minus ridge's) and its Driscoll-Kraay standard error (significance.panel_se)."""
    nan = float("nan")
    if entry is None or entry[2] == 0:
        return {"mean": nan, "se": nan, "t": nan, "n_eff": nan, "symbols": 0}
    _, sums, n, total = entry
    mean = sig.from_fixed(total) / n
    se = sig.panel_se(sums, n, horizon)
    return {
        "mean": mean,
        "se": se,
        "t": mean / se if se > 0 else nan,
        "n_eff": 1.0 / (se * se) if se > 0 else nan,
        "symbols": n,
    }
