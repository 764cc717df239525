"""Summaries across seeds and problems: medians with bootstrap intervals, performance profiles.

- Median over the `repeats` seeds of a cell group, with a percentile bootstrap interval of the
  median (Efron & Tibshirani 1993, ch. 13): B resamples with replacement from a seeded generator,
  interval = the (alpha/2, 1 - alpha/2) quantiles of the resampled medians. Quantiles use the
  inverted-CDF rule, so a missed target (inf) stays inf instead of turning into nan. With 3 seeds
  the interval is coarse (it can only take values among the 3); it says so by its width.
- Performance profile (Dolan & More 2002, "Benchmarking optimization software with performance
  profiles"): for solvers s and problems p with cost t[p, s] (inf = target missed), the ratio
  r[p, s] = t[p, s] / min_s t[p, s]; rho_s(tau) = share of problems with r[p, s] <= tau. A problem
  that no solver solved counts as a failure for all of them.
"""

from __future__ import annotations

import numpy as np


def median_ci(values, B: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(median, lo, hi) of values (1-D; inf allowed). Raises ValueError on an empty input."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("median_ci of no values")
    med = float(np.median(v))
    if v.size == 1:
        return med, med, med
    rng = np.random.default_rng(seed)
    res = v[rng.integers(0, v.size, size=(B, v.size))]
    meds = np.sort(res, axis=1)[:, (v.size - 1) // 2]  # lower median: defined with inf values
    lo = float(np.quantile(meds, alpha / 2, method="inverted_cdf"))
    hi = float(np.quantile(meds, 1 - alpha / 2, method="inverted_cdf"))
    return med, lo, hi


def performance_profile(t: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """rho (n_solvers, len(taus)) from costs t (n_problems, n_solvers); inf/nan = not solved."""
    t = np.where(np.isfinite(t), t, np.inf)
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(
            np.isfinite(best) & (best > 0), t / best, np.where(np.isfinite(t) & (best == 0), 1.0, np.inf)
        )
    r = np.where(np.isfinite(t), r, np.inf)
    return np.array([[float(np.mean(r[:, s] <= tau)) for tau in taus] for s in range(t.shape[1])])


def default_taus(t: np.ndarray, points: int = 60) -> np.ndarray:
    """1 .. the largest finite ratio (at least 10), geometric: the x axis of a profile."""
    t = np.where(np.isfinite(t), t, np.inf)
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(np.isfinite(best), t / best, np.nan)
    top = np.nanmax(r[np.isfinite(r)]) if np.isfinite(r).any() else 10.0
    return np.geomspace(1.0, max(10.0, float(top) * 1.05), points)
