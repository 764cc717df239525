"""Standard errors of the IC that respect the data: overlapping labels, and symbols that move together.

A forecast p and the realised h-bar returns y of one symbol over m bars (m >= 2). With a and b the
average ranks of p and y minus their means, the Spearman IC is a sum over bars:

    IC = sum_t u_t,      u_t = a_t b_t / sqrt(sum a^2 * sum b^2)      (`rank_products`)

Per symbol (`ic_se`). Neighbouring labels share h - 1 of their h one-bar returns, so the u_t are not
independent: their autocovariance at lag l is, when p carries no information, the product of the
autocorrelations of the ranks of p and of y at lag l, and y's is 0 from lag h on. The variance of the
sum is estimated by Newey and West (1987, "A simple, positive semi-definite, heteroskedasticity and
autocorrelation consistent covariance matrix", Econometrica 55(3)) with Bartlett weights and lag
L = h - 1, on d_t = u_t - IC / m:

    Var(IC) = sum_t d_t^2 + 2 sum_{l=1..L} (1 - l / (L + 1)) sum_t d_t d_{t-l}

se = sqrt(Var); the t-statistic is IC / se. n_eff = 1 / se^2 is the number of independent (forecast,
outcome) pairs that would give an IC this precise (independent pairs: Var(IC) ~ 1 / m).

Across symbols (`panel_se`). The mean IC of N symbols is sum_t Z_t with Z_t = (1/N) sum_s d_{s,t}
summed over the symbols with a bar at time t; its variance is the same Newey-West sum taken over Z
along the union of the symbols' bar times. This is Driscoll and Kraay (1998, "Consistent covariance
matrix estimation with spatially dependent panel data", Review of Economics and Statistics 80(4)):
the cross-sectional average is formed first, so any correlation between symbols at the same time, and
up to L bars apart, enters the standard error; for N = 1 it is `ic_se`. Symbols on different
calendars are aligned by timestamp (lags then count distinct times of the union).

Same answer at any rank count: the per-time sums over symbols are formed in fixed point (units of
2^-FIXED_BITS, int64), so adding the parts of several ranks in any order gives the same integers.
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import average_ranks

#: fixed-point resolution of the per-time sums: |u_t| <= 3 / m, so 2^50 leaves room for ~10^5 symbols
FIXED_BITS = 50
_SCALE = float(2**FIXED_BITS)


def rank_products(p, y) -> np.ndarray:
    """(m,) u_t with sum(u) == Spearman IC of p and y (1-D, equal length m >= 2); all NaN when
    either side is constant (no IC). Raises ValueError for unequal lengths."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"rank_products: p and y must be 1-D of equal length, got {p.shape}, {y.shape}")
    a = average_ranks(p)
    b = average_ranks(y)
    a -= a.mean()
    b -= b.mean()
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if p.shape[0] < 2 or den == 0:
        return np.full(p.shape[0], np.nan)
    return a * b / den


def newey_west(d, lag: int) -> float:
    """Newey-West (Bartlett) variance of sum(d) for a centred series d (1-D): see the module docstring."""
    d = np.asarray(d, dtype=np.float64)
    if lag < 0:
        raise ValueError(f"newey_west: lag must be >= 0, got {lag}")
    v = float(np.dot(d, d))
    for k in range(1, min(lag, d.shape[0] - 1) + 1):
        v += 2.0 * (1.0 - k / (lag + 1.0)) * float(np.dot(d[k:], d[:-k]))
    return max(v, 0.0)


def centred(u: np.ndarray) -> np.ndarray:
    """u minus its mean (the d_t of the module docstring)."""
    return u - u.mean()


def ic_se(p, y, horizon: int) -> tuple[float, float, float]:
    """(IC, se, n_eff) of forecast p against h-bar returns y of one symbol, bars in time order.

    se: Newey-West with lag horizon - 1 on the rank products; n_eff = 1 / se^2. NaNs when the IC is
    undefined (constant p or y, fewer than 2 bars)."""
    u = rank_products(p, y)
    if u.shape[0] < 2 or not np.isfinite(u).all():
        return float("nan"), float("nan"), float("nan")
    se = math.sqrt(newey_west(centred(u), horizon - 1))
    return float(u.sum()), se, (1.0 / (se * se) if se > 0 else float("nan"))


def to_fixed(d) -> np.ndarray:
    """d as int64 multiples of 2^-FIXED_BITS (rounded to nearest). Raises ValueError when |d| >= 1."""
    d = np.asarray(d, dtype=np.float64)
    if d.size and not float(np.max(np.abs(d))) < 1.0:
        raise ValueError("to_fixed: values must lie in (-1, 1)")
    return np.rint(d * _SCALE).astype(np.int64)


def from_fixed(v) -> float:
    """An int64 fixed-point sum (to_fixed units) as a float."""
    return float(v) / _SCALE


def time_sums(times, values) -> tuple[np.ndarray, np.ndarray]:
    """(unique times ascending, int64 sum of `values` at each) for int64 `times` and int64 `values`
    (fixed point) of equal length; exact, so parts can be summed again in any order."""
    t = np.asarray(times, dtype=np.int64)
    v = np.asarray(values, dtype=np.int64)
    uniq, inv = np.unique(t, return_inverse=True)
    out = np.zeros(uniq.shape[0], dtype=np.int64)
    np.add.at(out, inv, v)
    return uniq, out


def merge_time_sums(parts) -> tuple[np.ndarray, np.ndarray]:
    """The time_sums of several (times, sums) parts together (e.g. one per rank)."""
    parts = list(parts)
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return time_sums(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def panel_se(sums, n_symbols: int, horizon: int) -> float:
    """Driscoll-Kraay standard error of the mean IC of `n_symbols` symbols from the fixed-point sums of
    their centred rank products at each time (time order); NaN for no symbol."""
    if n_symbols < 1:
        return float("nan")
    z = np.asarray(sums, dtype=np.float64) / _SCALE / n_symbols
    return math.sqrt(newey_west(z, horizon - 1))
