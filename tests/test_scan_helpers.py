"""Shared helpers of the scan tests (series builders; no expected values). No tests here."""

from __future__ import annotations

import numpy as np

from mpiapp.engines.scan import ScanParams
from mpiapp.io.series import Series

DAY = 86_400 * 10**9
BACKENDS = ("numpy", "numba", "xp-numpy")


def path_series(points, symbol="P") -> Series:
    """Close-only series through (bar, price) turning points, linear in between."""
    bars = [b for b, _ in points]
    n = bars[-1] + 1
    close = np.interp(np.arange(n), bars, [float(p) for _, p in points])
    t = np.arange(n, dtype=np.int64) * DAY
    return Series(symbol, t, close, close, close, close, "hand", has_ohlc=False)


def ohlc_series(high, low, close=None, symbol="O") -> Series:
    high = np.asarray(high, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    close = (high + low) / 2 if close is None else np.asarray(close, dtype=np.float64)
    t = np.arange(high.shape[0], dtype=np.int64) * DAY
    return Series(symbol, t, close.copy(), high, low, close, "hand", has_ohlc=True)


def random_walk(n, seed, vol=0.012, ohlc=True, symbol="R") -> Series:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    t = np.arange(n, dtype=np.int64) * DAY
    if not ohlc:
        return Series(symbol, t, close, close, close, close, "rw", has_ohlc=False)
    opn = np.r_[close[0], close[:-1]]
    high = np.maximum(opn, close) * (1 + np.abs(rng.normal(0, vol / 4, n)))
    low = np.minimum(opn, close) * (1 - np.abs(rng.normal(0, vol / 4, n)))
    return Series(symbol, t, opn, high, low, close, "rw", has_ohlc=True)


def one_window(n, **kw) -> ScanParams:
    """Params with a single window covering all n bars and no pre-filter; thresholds as given
    (scale fixed: the hand cases are worked out with fixed percentages)."""
    base = dict(
        window_bars=n, window_overlap_ratio=0.0, max_windows=1, skip_flat_windows=False, scale="fixed"
    )
    base.update(kw)
    return ScanParams(**base)


def stats_of(scan, w=0) -> dict:
    keys = (
        "rejected_extreme",
        "rejected_start",
        "rejected_r1",
        "rejected_r2",
        "rejected_r3",
        "rejected_r4",
        "visited",
        "valid",
        "kept",
    )
    return {k: int(scan.windows[k][w]) for k in keys}


def stats(ext=0, r1=0, r2=0, r3=0, r4=0, visited=0, valid=0, kept=0, start=0):
    """Expected window counters (short names)."""
    return dict(
        rejected_extreme=ext,
        rejected_start=start,
        rejected_r1=r1,
        rejected_r2=r2,
        rejected_r3=r3,
        rejected_r4=r4,
        visited=visited,
        valid=valid,
        kept=kept,
    )


def bars_of(scan, row) -> tuple:
    return tuple(int(scan.patterns[f"t{k}"][row]) for k in range(6))
