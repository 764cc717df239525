"""Out-of-sample metrics of a forecast of forward log returns, and the two naive baselines.

All metrics come from the predictions themselves (per fold, and over all out-of-fold predictions
of a symbol at once), never averaged from per-fold numbers.

Regression (y realised log return, p prediction, m samples):
    rmse = sqrt(mean((y - p)^2)); mae = mean(|y - p|)
    ic   = Spearman rank correlation of p and y (Pearson correlation of average ranks; NaN when
           either is constant)
    r2_oos = 1 - sum((y - p)^2) / sum(y^2): against a zero forecast (Gu, Kelly and Xiu, "Empirical
           asset pricing via machine learning", RFS 2020)
Classification (label u = y > 0; for the classification task p is P(u = 1), else p is a return):
    auc       probability that a random up sample is scored above a random down one (Mann-Whitney
              U / (n_up * n_down), ties count one half); NaN when one class is absent
    accuracy  mean([p > cut] == u), cut = 0.5 for probabilities, 0 for returns; equals hit_rate
    log_loss  -mean(u log q + (1 - u) log(1 - q)), q = clip(p, 1e-15, 1 - 1e-15); probabilities only
    base_rate mean(u): what always calling the majority class scores is max(base_rate, 1 - base_rate)
"""

from __future__ import annotations

import numpy as np

METRICS = ("rmse", "mae", "ic", "r2_oos", "auc", "accuracy", "log_loss", "hit_rate", "base_rate")

#: baseline ids of the baselines table
BASELINES = {0: "zero", 1: "historical_mean"}


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..m of x, ties sharing the mean of their ranks (float64)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.ones(xs.shape[0], dtype=bool)
    new[1:] = xs[1:] != xs[:-1]
    grp = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], xs.shape[0])
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    r = np.empty(xs.shape[0])
    r[order] = mean_rank[grp]
    return r


def spearman(a, b) -> float:
    """Spearman rank correlation; NaN when fewer than 2 samples or either side is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape[0] < 2:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt(np.dot(ra, ra) * np.dot(rb, rb))
    return float(np.dot(ra, rb) / den) if den > 0 else float("nan")


def auc(score, label) -> float:
    """Area under the ROC curve of `score` for boolean `label` (Mann-Whitney); NaN with one class."""
    label = np.asarray(label, dtype=bool)
    n1, n0 = int(label.sum()), int((~label).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = average_ranks(np.asarray(score, dtype=np.float64))
    return float((r[label].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def compute(y, p, proba: bool) -> dict:
    """METRICS of predictions p against realised returns y (1-D, equal length m >= 1).

    proba: p are probabilities of an up move (classification task); rmse, mae and r2_oos are then NaN.
    Raises ValueError for unequal lengths or m = 0.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or y.shape[0] == 0:
        raise ValueError(f"metrics: y and p must be 1-D of equal non-zero length, got {y.shape}, {p.shape}")
    u = y > 0
    nan = float("nan")
    out = dict.fromkeys(METRICS, nan)
    if not proba:
        e = y - p
        out["rmse"] = float(np.sqrt(np.mean(e * e)))
        out["mae"] = float(np.mean(np.abs(e)))
        den = float(np.dot(y, y))
        out["r2_oos"] = 1.0 - float(np.dot(e, e)) / den if den > 0 else nan
    else:
        q = np.clip(p, 1e-15, 1 - 1e-15)
        out["log_loss"] = float(-np.mean(np.where(u, np.log(q), np.log1p(-q))))
    out["ic"] = spearman(p, y)
    out["auc"] = auc(p, u)
    hit = float(np.mean((p > (0.5 if proba else 0.0)) == u))
    out["accuracy"] = out["hit_rate"] = hit
    out["base_rate"] = float(np.mean(u))
    return out


def baseline_predictions(level: float, m: int, proba: bool) -> dict:
    """{baseline id: constant predictions of length m} (BASELINES): zero (0, or 0.5 as a probability)
    and the historical mean `level` (the training targets' mean, or their up-rate as a probability)."""
    return {0: np.full(m, 0.5 if proba else 0.0), 1: np.full(m, float(level))}
