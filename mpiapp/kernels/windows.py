"""Windows over a symbol's bars, the flat-window pre-filter, and per-window start points.

Windows sit on a fixed grid of bar positions: window g covers bars g*step .. g*step + window_bars - 1,
whatever the series' length, so a window's bars - and everything the scan decides in it - are the same
in the series cut at any later bar (point in time: docs/scan.md "When a pattern is known"). Every
window is complete (`window_bars` bars); the newest (n - window_bars) % step bars wait for the next
grid window. At most `max_windows` (the most recent) are kept, returned in ascending order.
Consecutive window ends are exactly `step` bars apart, which the Numba kernel relies on.

What a window sees of the pivots: those with a bar in it that the zig-zag had confirmed by its last
bar (`known` <= end), a prefix of the pivot sequence since pivots are confirmed in order.
"""

from __future__ import annotations

import math

import numpy as np


def window_step(window_bars: int, overlap: float) -> int:
    """max(1, floor(window_bars * (1 - overlap))), with a 1e-9 guard against 0.9 -> 0.8999..."""
    return max(1, int(math.floor(window_bars * (1.0 - overlap) + 1e-9)))


def window_starts(n_bars: int, window_bars: int, step: int, max_windows: int) -> np.ndarray:
    """Start bars (int64, ascending) of the windows of a series of n_bars bars: the grid positions
    g*step that leave a whole window, the most recent max_windows of them."""
    if n_bars < window_bars:
        return np.empty(0, dtype=np.int64)
    total = (n_bars - window_bars) // step + 1
    first = max(0, total - max_windows)
    return (step * np.arange(first, total, dtype=np.int64)).astype(np.int64)


def visible_pivots(known, we) -> np.ndarray:
    """How many pivots the window ending on bar `we` (inclusive; int or int array) can use: those
    confirmed by then (known <= we). `known` is strictly increasing, so they are a prefix."""
    return np.searchsorted(known, we, side="right")


def _range_max(a: np.ndarray, starts: np.ndarray, width: int, fn) -> np.ndarray:
    """fn-reduce (np.maximum / np.minimum) of a[s : s + width] for each s, via a sparse table."""
    level = a
    span = 1
    while span * 2 <= width:
        level = fn(level[:-span], level[span:])  # level[i] = reduce(a[i : i + 2*span])
        span *= 2
    return fn(level[starts], level[starts + width - span])


def prefilter_stats(close, high, low, piv_t, piv_known, starts, window_bars):
    """(volatility, range, pivot count) of each window.

    volatility: population std of the window_bars - 1 log returns inside the window (from running
    sums centred on the first window's mean return, so a window's value depends neither on the
    other windows asked for nor on any bar after the first window's); range: (max High - min Low)
    / min Low; pivots: pivots with a bar in the window confirmed by its last bar (piv_known).
    """
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size == 0:
        z = np.empty(0)
        return z, z.copy(), np.empty(0, dtype=np.int64)
    lr = np.diff(np.log(np.asarray(close, dtype=np.float64)))
    mu = lr[: window_bars - 1].mean() if lr.size else 0.0
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
    npiv = visible_pivots(piv_known, ends) - np.searchsorted(piv_t, starts, side="left")
    npiv = np.maximum(npiv, 0)
    return vol, rng, npiv.astype(np.int64)


#: flat_reasons bits: why the pre-filter skips a window
FLAT_VOLATILITY, FLAT_RANGE, FLAT_PIVOTS = 1, 2, 4


def flat_mask(vol, rng, npiv, min_vol, min_range, min_pivots) -> np.ndarray:
    """True where a window is skipped by the pre-filter."""
    return flat_reasons(vol, rng, npiv, min_vol, min_range, min_pivots) != 0


def flat_reasons(vol, rng, npiv, min_vol, min_range, min_pivots) -> np.ndarray:
    """int8 per window: FLAT_VOLATILITY | FLAT_RANGE | FLAT_PIVOTS for each test the window fails
    (0: scanned). min_vol, min_range: scalars or one value per window."""
    return (
        (np.asarray(vol < min_vol, dtype=np.int8) * FLAT_VOLATILITY)
        | (np.asarray(rng < min_range, dtype=np.int8) * FLAT_RANGE)
        | (np.asarray(npiv < min_pivots, dtype=np.int8) * FLAT_PIVOTS)
    ).astype(np.int8)


def start_points(piv_t, piv_kind, piv_price, piv_known, ws: int, we: int, d: int, k: int) -> list[int]:
    """Pivot indices of the start pivots of direction d in bars [ws, we] confirmed by bar we, in
    bar order.

    Bullish (d=+1) starts are lows, bearish (d=-1) highs. k = 0: all of them; k > 0: the k most
    extreme (lowest lows / highest highs; equal prices: earlier bar first).
    """
    a = int(np.searchsorted(piv_t, ws, side="left"))
    b = int(visible_pivots(piv_known, we))
    cand = [i for i in range(a, b) if piv_kind[i] == -d]
    if k > 0:
        cand.sort(key=lambda i: (d * piv_price[i], piv_t[i]))
        cand = sorted(cand[:k])
    return cand
