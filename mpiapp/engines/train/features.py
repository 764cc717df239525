"""Price features and forward-return targets of one symbol: pure NumPy, causal by construction.

Every feature at bar t is a function of bars 0..t only, computed row by row (each rolling window
reduced on its own through a strided view, never a running sum carried across the series), so the
value at t is bit-identical whether the series ends at t or goes on: the no-look-ahead test checks
exactly that. Bars without full history are NaN and are dropped as warm-up rows.

Features (n = bars; C close, H high, L low, V volume; log = natural log):

    ret_k      log(C[t] / C[t-k])                           k in RET_LAGS
    vol_w      std (ddof=1) of the w one-bar log returns ending at t           w in VOL_WINDOWS
    atr_14     mean true range of the 14 bars ending at t, divided by C[t]     (High/Low only)
    range_pos  (C[t] - min L) / (max H - min L) over the 14 bars ending at t   (High/Low only; 0.5 when flat)
    vol_z      (V[t] - mean V) / std V (ddof=1) over the 20 bars ending at t   (volume only; 0 when flat)
    ma_dist_w  log(C[t] / mean C over the w bars ending at t)                 w in MA_WINDOWS

True range (Wilder 1978): max(H - L, |H - C[t-1]|, |L - C[t-1]|); it needs C[t-1], so atr_14 starts
at bar 14. Targets (`targets`): y[t] = log(C[t+h] / C[t]), label interval [t+1, t+h]; the
classification target is y > 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

RET_LAGS = (1, 5, 10, 20)
VOL_WINDOWS = (10, 20, 60)
MA_WINDOWS = (10, 50, 200)
ATR_PERIOD = 14
VOLUME_WINDOW = 20


def feature_names(has_ohlc: bool, has_volume: bool) -> list[str]:
    """Column names in the order `price_features` returns them."""
    names = [f"ret_{k}" for k in RET_LAGS] + [f"vol_{w}" for w in VOL_WINDOWS]
    if has_ohlc:
        names += [f"atr_{ATR_PERIOD}", "range_pos"]
    if has_volume:
        names += [f"vol_z_{VOLUME_WINDOW}"]
    return names + [f"ma_dist_{w}" for w in MA_WINDOWS]


def _rolling(x: np.ndarray, w: int, fn) -> np.ndarray:
    """fn over each window of w values ending at t (NaN for t < w - 1); each window reduced alone."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= w:
        out[w - 1 :] = fn(sliding_window_view(x, w), axis=1)
    return out


def _lagged_log_return(logc: np.ndarray, k: int) -> np.ndarray:
    out = np.full(logc.shape[0], np.nan)
    out[k:] = logc[k:] - logc[:-k]
    return out


def _std1(a, axis):
    return np.std(a, axis=axis, ddof=1)


def price_features(close, high=None, low=None, volume=None) -> tuple[np.ndarray, list[str]]:
    """(X, names): X float64 of shape (n, n_features), NaN where a feature lacks history.

    close/high/low/volume: 1-D float arrays of length n (positive prices). high/low None (or equal to
    close) = a close-only series: no ATR or range position. volume None or all zero: no volume
    z-score. Raises ValueError for unequal lengths or non-positive prices.
    """
    c = np.asarray(close, dtype=np.float64)
    n = c.shape[0]
    has_ohlc = (
        high is not None and low is not None and not (np.array_equal(high, c) and np.array_equal(low, c))
    )
    has_vol = volume is not None and np.any(np.asarray(volume) > 0)
    for a in (high, low, volume):
        if a is not None and np.shape(a) != (n,):
            raise ValueError(f"price_features: arrays of unequal length ({np.shape(a)} vs {n})")
    if n and not np.all(c > 0):
        raise ValueError("price_features: close prices must be positive")
    logc = np.log(c)
    r1 = _lagged_log_return(logc, 1)
    cols = [_lagged_log_return(logc, k) for k in RET_LAGS]
    # vol_w at t: the w returns r1[t-w+1..t] exist only from t = w
    for w in VOL_WINDOWS:
        v = np.full(n, np.nan)
        if n > w:
            v[w:] = _std1(sliding_window_view(r1[1:], w), axis=1)
        cols.append(v)
    if has_ohlc:
        h, lo = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
        tr = np.full(n, np.nan)
        if n > 1:
            pc = c[:-1]
            tr[1:] = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - pc), np.abs(lo[1:] - pc)))
        cols.append(_rolling(tr, ATR_PERIOD, np.mean) / c)
        hh = _rolling(h, ATR_PERIOD, np.max)
        ll = _rolling(lo, ATR_PERIOD, np.min)
        span = hh - ll
        with np.errstate(invalid="ignore", divide="ignore"):
            pos = np.where(span > 0, (c - ll) / np.where(span > 0, span, 1.0), 0.5)
        cols.append(np.where(np.isnan(span), np.nan, pos))
    if has_vol:
        v = np.asarray(volume, dtype=np.float64)
        m = _rolling(v, VOLUME_WINDOW, np.mean)
        s = _rolling(v, VOLUME_WINDOW, _std1)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(s > 0, (v - m) / np.where(s > 0, s, 1.0), 0.0)
        cols.append(np.where(np.isnan(s), np.nan, z))
    for w in MA_WINDOWS:
        cols.append(logc - np.log(_rolling(c, w, np.mean)))
    X = np.stack(cols, axis=1) if n else np.zeros((0, len(cols)))
    return X, feature_names(has_ohlc, has_vol)


def targets(close, horizon: int) -> np.ndarray:
    """y[t] = log(C[t+h] / C[t]) (float64, length n); NaN for the last h bars (label not yet known).

    The sample at bar t has label interval [t+1, t+h]. Raises ValueError for horizon < 1.
    """
    if horizon < 1:
        raise ValueError(f"targets: horizon must be >= 1, got {horizon}")
    logc = np.log(np.asarray(close, dtype=np.float64))
    y = np.full(logc.shape[0], np.nan)
    if logc.shape[0] > horizon:
        y[:-horizon] = logc[horizon:] - logc[:-horizon]
    return y


@dataclass(frozen=True)
class Dataset:
    """The samples of one symbol after warm-up rows are dropped.

    X: (m, f) float64; y: (m,) forward log return; bars: (m,) int64 bar index of each sample (label
    interval [bar+1, bar+horizon]); names: f feature names; n_bars: bars of the series;
    dropped_warmup: rows dropped for missing feature history; dropped_tail: the last rows without a
    label (horizon bars).
    """

    X: np.ndarray
    y: np.ndarray
    bars: np.ndarray
    names: list
    n_bars: int
    horizon: int
    dropped_warmup: int
    dropped_tail: int

    def __len__(self) -> int:
        return int(self.y.shape[0])


def build_dataset(X: np.ndarray, names: list, close, horizon: int) -> Dataset:
    """Keep the rows whose features are all finite and whose label is known.

    X: (n, f) features (price and scan features side by side); close: (n,) prices for the target.
    """
    y = targets(close, horizon)
    n = y.shape[0]
    feat_ok = np.all(np.isfinite(X), axis=1)
    lab_ok = np.isfinite(y)
    keep = feat_ok & lab_ok
    bars = np.flatnonzero(keep).astype(np.int64)
    return Dataset(
        X=X[keep],
        y=y[keep],
        bars=bars,
        names=list(names),
        n_bars=n,
        horizon=int(horizon),
        dropped_warmup=int(np.sum(~feat_ok & lab_ok)),
        dropped_tail=int(np.sum(~lab_ok)),
    )


def warmup_bars() -> int:
    """Bars without a full feature history at the start of any series (the longest look-back)."""
    return max(max(RET_LAGS), max(VOL_WINDOWS), max(MA_WINDOWS) - 1, ATR_PERIOD)
