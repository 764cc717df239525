"""From the raw per-unit rows to the tables of results/train.h5 (pure functions on column dicts).

Every metric is computed from the out-of-fold predictions: per fold, and per (symbol, family) over
all its folds at once (fold = -1), never averaged from per-fold numbers. Rows are sorted by key, so
the tables do not depend on which rank trained what, or in which order.
"""

from __future__ import annotations

import numpy as np

from .metrics import BASELINES, METRICS, baseline_predictions, compute

ALL_FOLDS = -1

METRIC_COLUMNS = [("symbol", "i4"), ("family", "i4"), ("fold", "i4"), ("n_train", "i8"), ("n_test", "i8"),
                  ("n_purged", "i8"), ("n_embargoed", "i8")] + [(m, "f8") for m in METRICS]
BASELINE_COLUMNS = [("symbol", "i4"), ("baseline", "i4"), ("fold", "i4"), ("n_test", "i8")] + [
    (m, "f8") for m in METRICS]


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


def metrics_table(pred: dict, folds: dict, proba: bool) -> dict:
    """METRIC_COLUMNS rows: each (symbol, family, fold), then each (symbol, family) with fold = -1.

    pred: predictions rows sorted by (symbol, family, fold, bar); folds: the raw folds rows.
    The fold = -1 row sums n_train, n_test, n_purged and n_embargoed over the folds.
    """
    info = {(int(s), int(f), int(k)): i for i, (s, f, k) in enumerate(zip(folds["symbol"], folds["family"],
                                                                          folds["fold"]))}
    recs = []
    for (s, f, k), sl in _groups(pred, ["symbol", "family", "fold"]):
        i = info[(s, f, k)]
        r = {"symbol": s, "family": f, "fold": k}
        r.update({c: int(folds[c][i]) for c in ("n_train", "n_test", "n_purged", "n_embargoed")})
        r.update(compute(pred["y"][sl], pred["yhat"][sl], proba))
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
        recs.append(r)
    return sort_rows(_table(METRIC_COLUMNS, recs), ["symbol", "family", "fold"])


def baselines_table(pred: dict, folds: dict, proba: bool) -> dict:
    """BASELINE_COLUMNS rows: the zero and historical-mean forecasts (metrics.BASELINES) per symbol and
    fold, and over all folds (fold = -1); the historical mean is each fold's own training mean (its
    up-rate for classification). y of a (symbol, fold) comes from the lowest family that has it (all
    families see the same y)."""
    level = {(int(s), int(k)): float(up if proba else mu)
             for s, k, mu, up in zip(folds["symbol"], folds["fold"], folds["train_mean"], folds["train_up"])}
    by_fold = sort_rows(pred, ["symbol", "fold", "family", "bar"])
    recs, ys, preds = [], {}, {}
    for (s, k), sl in _groups(by_fold, ["symbol", "fold"]):
        fam = by_fold["family"][sl]
        y = by_fold["y"][sl][fam == fam[0]]
        base = baseline_predictions(level[(s, k)], y.shape[0], proba)
        for b in BASELINES:
            recs.append({"symbol": s, "baseline": b, "fold": k, "n_test": y.shape[0], **compute(y, base[b], proba)})
            preds.setdefault((s, b), []).append(base[b])
        ys.setdefault(s, []).append(y)
    for s, parts in ys.items():
        y_all = np.concatenate(parts)
        for b in BASELINES:
            recs.append({"symbol": s, "baseline": b, "fold": ALL_FOLDS, "n_test": y_all.shape[0],
                         **compute(y_all, np.concatenate(preds[(s, b)]), proba)})
    return sort_rows(_table(BASELINE_COLUMNS, recs), ["symbol", "baseline", "fold"])
