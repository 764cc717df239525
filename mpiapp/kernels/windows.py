"""Windows over a symbol's bars, the flat-window pre-filter, and per-window start points.

Windows are anchored at the end of the series: the last window ends on the last bar and the others
step back by `step` bars; at most `max_windows` (the most recent) are kept and they are returned in
ascending order. Every window is complete (`window_bars` bars); the oldest (n - window_bars) % step
bars at the start of the series that do not fill a step are covered by fewer windows (possibly none).
Consecutive window ends are exactly `step` bars apart, which the Numba kernel relies on.
"""

from __future__ import annotations

import math

import numpy as np


def window_step(window_bars: int, overlap: float) -> int:
    """max(1, floor(window_bars * (1 - overlap))), with a 1e-9 guard against 0.9 -> 0.8999..."""
    return max(1, int(math.floor(window_bars * (1.0 - overlap) + 1e-9)))


def window_starts(n_bars: int, window_bars: int, step: int, max_windows: int) -> np.ndarray:
    """Start bars (int64, ascending) of the windows of a series of n_bars bars."""
    if n_bars < window_bars:
        return np.empty(0, dtype=np.int64)
    count = min(max_windows, (n_bars - window_bars) // step + 1)
    last = n_bars - window_bars
    return (last - step * np.arange(count - 1, -1, -1, dtype=np.int64)).astype(np.int64)


def _range_max(a: np.ndarray, starts: np.ndarray, width: int, fn) -> np.ndarray:
    """fn-reduce (np.maximum / np.minimum) of a[s : s + width] for each s, via a sparse table."""
    level = a
    span = 1
    while span * 2 <= width:
        level = fn(level[:-span], level[span:])  # level[i] = reduce(a[i : i + 2*span])
        span *= 2
    return fn(level[starts], level[starts + width - span])


def prefilter_stats(close, high, low, piv_t, starts, window_bars):
    """(volatility, range, pivot count) of each window.

    volatility: population std of the window_bars - 1 log returns inside the window (computed from
    running sums of the whole series, so a window's value does not depend on which other windows
    are asked for); range: (max High - min Low) / min Low; pivots: pivots with a bar in the window.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size == 0:
        z = np.empty(0)
        return z, z.copy(), np.empty(0, dtype=np.int64)
    lr = np.diff(np.log(np.asarray(close, dtype=np.float64)))
    mu = lr.mean() if lr.size else 0.0
    x = lr - mu  # centred first: the running-sum variance loses nothing to cancellation
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    m = window_bars - 1
    s1 = c1[starts + m] - c1[starts]
    s2 = c2[starts + m] - c2[starts]
    var = np.maximum(s2 / m - (s1 / m) ** 2, 0.0)
    vol = np.sqrt(var)
    hi = _range_max(np.asarray(high, dtype=np.float64), starts, window_bars, np.maximum)
    lo = _range_max(np.asarray(low, dtype=np.float64), starts, window_bars, np.minimum)
    rng = (hi - lo) / lo
    ends = starts + window_bars - 1
    npiv = np.searchsorted(piv_t, ends, side="right") - np.searchsorted(piv_t, starts, side="left")
    return vol, rng, npiv.astype(np.int64)


def flat_mask(vol, rng, npiv, min_vol, min_range, min_pivots) -> np.ndarray:
    """True where a window is skipped by the pre-filter."""
    return (vol < min_vol) | (rng < min_range) | (npiv < min_pivots)


def start_points(piv_t, piv_kind, piv_price, ws: int, we: int, d: int, k: int) -> list[int]:
    """Pivot indices of the start pivots of direction d in bars [ws, we], in bar order.

    Bullish (d=+1) starts are lows, bearish (d=-1) highs. k = 0: all of them; k > 0: the k most
    extreme (lowest lows / highest highs; equal prices: earlier bar first).
    """
    a = int(np.searchsorted(piv_t, ws, side="left"))
    b = int(np.searchsorted(piv_t, we, side="right"))
    cand = [i for i in range(a, b) if piv_kind[i] == -d]
    if k > 0:
        cand.sort(key=lambda i: (d * piv_price[i], piv_t[i]))
        cand = sorted(cand[:k])
    return cand
