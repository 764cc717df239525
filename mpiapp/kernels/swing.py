"""The swing that ends at each pivot: how far price had moved the other way since it was last beyond
the pivot. Used by the start rule (docs/scan.md "Start points").

For a low pivot q at bar t with price P (a bullish start): `back` is the last bar b < t with
Low[b] < P (strictly beyond), and the swing is max(High[b+1 .. t-1]) - P: the decline that ended
at q, measured from the highest price since the market was last below P. A high pivot (a bearish
start) mirrors it: the last bar with High > P, and P - min(Low[b+1 .. t-1]). When no earlier bar is
beyond P (the pivot is the extreme of all history before it), the swing is +inf: the data cannot
bound the move, and the pivot is treated as the end of a move of any size. When b = t - 1 (the
previous bar is already beyond P, which a zig-zag pivot never has), the swing is 0.

`swing_core` is scalar code: the same source runs as plain Python (the reference) and compiled by
Numba (mpiapp.kernels.numba_scan), with identical results (only max/min of input values).
"""

from __future__ import annotations

import numpy as np


def swing_core(high, low, t, kind, out):
    """Fill out[k] (float64) with the swing ending at pivot k; kind +1 high, -1 low.

    Walks back from each pivot until a bar beyond it: O(sum of those distances), at most
    O(pivots x bars) for a series that only makes new extremes.
    """
    for k in range(t.shape[0]):
        tk = t[k]
        if kind[k] < 0:
            p = low[tk]
            best = -np.inf
            b = tk - 1
            while b >= 0 and low[b] >= p:
                if high[b] > best:
                    best = high[b]
                b -= 1
            if b < 0:
                out[k] = np.inf
            elif best == -np.inf:
                out[k] = 0.0
            else:
                out[k] = best - p
        else:
            p = high[tk]
            best = np.inf
            b = tk - 1
            while b >= 0 and high[b] <= p:
                if low[b] < best:
                    best = low[b]
                b -= 1
            if b < 0:
                out[k] = np.inf
            elif best == np.inf:
                out[k] = 0.0
            else:
                out[k] = p - best
    return out


def swings(high, low, t, kind, core=swing_core) -> np.ndarray:
    """(n_pivots,) float64 swing ending at each pivot (see the module docstring); `core` is
    swing_core or its Numba twin."""
    out = np.empty(t.shape[0], dtype=np.float64)
    core(
        np.ascontiguousarray(high, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.ascontiguousarray(t, dtype=np.int64),
        np.ascontiguousarray(kind, dtype=np.int8),
        out,
    )
    return out
