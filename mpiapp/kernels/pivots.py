"""Zig-zag pivots over High/Low bars (Close where a series has no High/Low).

Definition (docs/scan.md, "Pivots"):

* A swing from a low L to a high H is *significant* when
  - percent mode: H >= L * (1 + pct)  and, going down, L <= H / (1 + pct)  (a symmetric, log-price
    threshold: a swing is significant when |log(H/L)| >= log(1 + pct));
  - ATR mode: H >= L + m * ATR[j]  and, going down, L <= H - m * ATR[j], with j the bar being
    tested and ATR the simple mean of the true range over the last `atr_period` bars (fewer at the
    start of the series);
  - scaled percent mode (percent with scale "volatility", the default): as percent mode with the
    fraction of bar j, pct * sigma[j] / reference, sigma[j] the trailing volatility of the log Close
    returns up to bar j (`trailing_volatility`): no reversal is confirmed before sigma is known.
  Passing the previous pivot (a high above the last high pivot while going down, a low below the last
  low pivot while going up) also confirms a reversal.
* While a trend runs, the tracked extreme moves to every strictly more extreme bar (ties keep the
  earliest bar); a reversal confirms the tracked extreme as a pivot and the new swing starts at the
  most extreme opposite price seen since that pivot (earliest bar on ties).
* Only confirmed pivots are returned: the running extreme at the end of the series is not a pivot.
* Pivots strictly alternate high/low, their bar indices strictly increase, and each high pivot's
  High is >= the High of every bar strictly between its two neighbouring pivots (each low pivot's
  Low <= every Low there). The one exception is an "outside" bar whose range covers both a new
  extreme and the previous pivot: it extends the trend and its other side is ignored.

`zigzag_core` is written with scalar operations only, so the same source runs as plain Python (the
reference) and compiled by Numba (`mpiapp.kernels.numba_scan`) with bit-identical results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIGH = 1  #: pivot kind of a swing high
LOW = -1  #: pivot kind of a swing low

MODE_PERCENT = 0
MODE_ATR = 1
MODE_SCALED = 2

#: the trailing volatility needs this many returns before it is used (earlier bars: unknown)
SCALE_MIN_RETURNS = 20


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(H - L, |H - C[-1]|, |L - C[-1]|); the first bar uses H - L."""
    tr = np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64)
    if tr.shape[0] > 1:
        pc = close[:-1]
        tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - pc), np.abs(low[1:] - pc)))
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average of the true range over `period` bars (expanding over the first bars)."""
    tr = true_range(high, low, close)
    n = tr.shape[0]
    cs = np.concatenate(([0.0], np.cumsum(tr)))
    out = np.empty(n, dtype=np.float64)
    k = min(period, n)
    out[:k] = cs[1 : k + 1] / np.arange(1, k + 1)
    if n > period:
        out[period:] = (cs[period + 1 :] - cs[1 : n - period + 1]) / period
    return out


def zigzag_core(high, low, mode, pct, thr, out_t, out_kind, out_known):
    """Fill out_t / out_kind / out_known with the confirmed pivots; return their count.

    high, low: float64 bars; mode: MODE_PERCENT, MODE_ATR or MODE_SCALED; pct: the percent
    threshold (fraction); thr: per-bar threshold, absolute (m * ATR) in ATR mode, a fraction of
    price in scaled mode (inf: no reversal can be confirmed at that bar); out_t (int64), out_kind (int8),
    out_known (int64): at least len(high) long. out_known[k] is the bar j at which pivot k was
    confirmed: the zig-zag run on bars 0..j alone already returns pivot k, on bars 0..j-1 it does
    not (the algorithm is online: it reads bar j only at step j and never revises a pivot); always
    out_known[k] > out_t[k]. Scalar code only (compiled unchanged by Numba).
    """
    n = high.shape[0]
    if n < 2:
        return 0
    f = 1.0 + pct
    inf = np.inf
    npiv = 0
    trend = 0  # 0 undecided, +1 rising (tracking a high), -1 falling (tracking a low)
    H = high[0]
    h = 0
    L = low[0]
    lo_i = 0
    mn = inf  # lowest low after the tracked high (trend +1; trend 0: after h)
    mni = -1
    mx = -inf  # highest high after the tracked low (trend -1; trend 0: after lo_i)
    mxi = -1
    last = 0.0  # price of the last confirmed pivot
    for j in range(1, n):
        hj = high[j]
        lj = low[j]
        if trend == 0:
            if hj > H:
                H = hj
                h = j
                mn = inf
                mni = -1
            elif lj < mn:
                mn = lj
                mni = j
            if lj < L:
                L = lj
                lo_i = j
                mx = -inf
                mxi = -1
            elif hj > mx:
                mx = hj
                mxi = j
            if mode == 0:
                need = L * f
            elif mode == 2:
                need = L * (1.0 + thr[j])
            else:
                need = L + thr[j]
            if H >= need and H > L and h != lo_i:
                if lo_i < h:  # the low came first: pivot low, now rising
                    out_t[npiv] = lo_i
                    out_kind[npiv] = -1
                    out_known[npiv] = j
                    npiv += 1
                    last = L
                    trend = 1
                else:  # the high came first: pivot high, now falling
                    out_t[npiv] = h
                    out_kind[npiv] = 1
                    out_known[npiv] = j
                    npiv += 1
                    last = H
                    trend = -1
            continue
        if trend == 1:
            if hj > H:
                H = hj
                h = j
                mn = inf
                mni = -1
                continue
            if lj < mn:
                mn = lj
                mni = j
            if mode == 0:
                need = H / f
            elif mode == 2:
                need = H / (1.0 + thr[j])
            else:
                need = H - thr[j]
            if (mn <= need and mn < H) or mn < last:
                out_t[npiv] = h
                out_kind[npiv] = 1
                out_known[npiv] = j
                npiv += 1
                last = H
                trend = -1
                L = mn
                lo_i = mni
                mx = -inf
                mxi = -1
                for u in range(lo_i + 1, j + 1):
                    if high[u] > mx:
                        mx = high[u]
                        mxi = u
            continue
        # trend == -1
        if lj < L:
            L = lj
            lo_i = j
            mx = -inf
            mxi = -1
            continue
        if hj > mx:
            mx = hj
            mxi = j
        if mode == 0:
            need = L * f
        elif mode == 2:
            need = L * (1.0 + thr[j])
        else:
            need = L + thr[j]
        if (mx >= need and mx > L) or mx > last:
            out_t[npiv] = lo_i
            out_kind[npiv] = -1
            out_known[npiv] = j
            npiv += 1
            last = L
            trend = 1
            H = mx
            h = mxi
            mn = inf
            mni = -1
            for u in range(h + 1, j + 1):
                if low[u] < mn:
                    mn = low[u]
                    mni = u
    return npiv


@dataclass(frozen=True)
class Pivots:
    """A symbol's pivot sequence: bar index, kind (+1 high / -1 low) and price (High or Low)."""

    t: np.ndarray  # int64, strictly increasing bar indices
    kind: np.ndarray  # int8, strictly alternating +1 / -1
    price: np.ndarray  # float64: high[t] for highs, low[t] for lows
    known: np.ndarray  # int64: the bar at which each pivot was confirmed (zigzag_core), > t

    def __len__(self) -> int:
        return int(self.t.shape[0])


def trailing_volatility(close, bars: int) -> np.ndarray:
    """sigma[j]: population std of the log Close returns of bars max(1, j - bars + 1) .. j (the
    last `bars` returns known at the close of bar j; fewer at the start), NaN while fewer than
    SCALE_MIN_RETURNS returns are known. (n,) float64; reads no bar after j. Running sums centred
    on the mean of the first SCALE_MIN_RETURNS returns (known before any sigma is used), so the
    value at j is the same whatever follows j."""
    c = np.asarray(close, dtype=np.float64)
    n = c.shape[0]
    out = np.full(n, np.nan)
    if n <= SCALE_MIN_RETURNS:
        return out
    r = np.diff(np.log(c))  # r[k - 1]: the return of bar k
    x = r - r[:SCALE_MIN_RETURNS].mean()
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    j = np.arange(SCALE_MIN_RETURNS, n)
    a = np.maximum(0, j - int(bars))  # returns r[a .. j-1] are bars a+1 .. j
    m = (j - a).astype(np.float64)
    s1 = c1[j] - c1[a]
    s2 = c2[j] - c2[a]
    out[SCALE_MIN_RETURNS:] = np.sqrt(np.maximum(s2 / m - (s1 / m) ** 2, 0.0))
    return out


def scale_factor(close, bars: int, reference: float) -> np.ndarray:
    """sigma[j] / reference for every bar j (trailing_volatility; NaN where unknown): what a
    threshold made for a series of volatility `reference` is multiplied by under scale
    "volatility"."""
    return trailing_volatility(close, bars) / float(reference)


def threshold_args(high, low, close, mode: str, pct: float, atr_period: int, atr_multiple: float, scale=None):
    """(mode code, pct, per-bar threshold array) for zigzag_core. scale: None (fixed thresholds)
    or the per-bar scale factor (scale_factor) that multiplies the percent threshold."""
    if mode == "percent" and scale is not None:
        thr = np.where(np.isfinite(scale), float(pct) * np.nan_to_num(scale, nan=0.0), np.inf)
        return MODE_SCALED, float(pct), np.ascontiguousarray(thr, dtype=np.float64)
    if mode == "percent":
        return MODE_PERCENT, float(pct), np.zeros(1, dtype=np.float64)
    if mode == "atr":
        return MODE_ATR, 0.0, atr_multiple * atr(high, low, close, atr_period)
    raise ValueError(f"pivot mode must be 'percent' or 'atr', not {mode!r}")


def pivots(
    high,
    low,
    close,
    *,
    mode="percent",
    pct=0.03,
    atr_period=14,
    atr_multiple=2.0,
    scale=None,
    core=zigzag_core,
) -> Pivots:
    """Zig-zag pivots of one series. `core` is zigzag_core or its Numba-compiled twin; scale: None
    or the per-bar factor of the percent threshold (scale_factor)."""
    high = np.ascontiguousarray(high, dtype=np.float64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    close = np.ascontiguousarray(close, dtype=np.float64)
    m, p, thr = threshold_args(high, low, close, mode, pct, atr_period, atr_multiple, scale)
    n = high.shape[0]
    out_t = np.empty(max(n, 1), dtype=np.int64)
    out_k = np.empty(max(n, 1), dtype=np.int8)
    out_j = np.empty(max(n, 1), dtype=np.int64)
    k = int(core(high, low, m, p, thr, out_t, out_k, out_j))
    t = out_t[:k].copy()
    kind = out_k[:k].copy()
    price = np.where(kind == HIGH, high[t], low[t]) if k else np.empty(0, dtype=np.float64)
    return Pivots(t=t, kind=kind, price=np.ascontiguousarray(price, dtype=np.float64), known=out_j[:k].copy())


def segment_extremes(high, low, t) -> tuple[np.ndarray, np.ndarray]:
    """seg_hi[k] = max(high[t[k] .. t[k+1]]), seg_lo[k] = min(low[...]) (both ends included).

    A wave from pivot a to pivot b spans bars t[a]..t[b]; its highest High is max(seg_hi[a:b]).
    """
    if t.shape[0] < 2:
        return np.empty(0), np.empty(0)
    # reduceat gives the bars t[k] .. t[k+1]-1; then the end bar t[k+1] itself
    hi = np.maximum(np.maximum.reduceat(high, t)[:-1], high[t[1:]])
    lo = np.minimum(np.minimum.reduceat(low, t)[:-1], low[t[1:]])
    return np.ascontiguousarray(hi, dtype=np.float64), np.ascontiguousarray(lo, dtype=np.float64)
