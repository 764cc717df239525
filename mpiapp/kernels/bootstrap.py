"""Surrogate bar series by the stationary block bootstrap (Politis & Romano, 1994, "The stationary
bootstrap", JASA 89:1303-1313), for the scan's null distribution (docs/scan.md "Significance").

A series of n bars is cut into its n - 1 bar *moves*: bar b's log-close change from bar b - 1 and its
own log High and Low relative to its close (its wicks). A surrogate keeps bar 0 as it is and follows
it with n - 1 moves drawn in blocks: each block starts at a uniformly drawn move and runs on through
consecutive moves (wrapping from the last to the first); a new block starts at each step with
probability 1 / mean_block, so block lengths are geometric with mean `mean_block`. Consecutive moves
inside a block keep their order, so volatility clustering and short-range dependence up to about
the block length survive, while longer structure (such as a planted impulse spanning 60-300 bars,
cut by blocks of ~20) is broken up. The surrogate's close path is the cumulative sum of the drawn
log changes from bar 0's close; its High/Low are that close times the drawn bar's wicks.

Pure array code: numpy Generator in, arrays out.
"""

from __future__ import annotations

import numpy as np


def stationary_indices(m: int, mean_block: float, rng: np.random.Generator) -> np.ndarray:
    """(m,) int64 indices into 0..m-1 of a stationary bootstrap draw of m items.

    Raises ValueError when mean_block < 1."""
    if mean_block < 1:
        raise ValueError(f"mean block length must be >= 1, not {mean_block}")
    if m <= 0:
        return np.empty(0, dtype=np.int64)
    new = rng.random(m) < 1.0 / mean_block
    new[0] = True
    starts = rng.integers(0, m, size=m)  # one draw per step; used where a block starts
    pos = np.flatnonzero(new)
    block = np.cumsum(new) - 1
    offset = np.arange(m) - pos[block]
    return ((starts[pos][block] + offset) % m).astype(np.int64)


def surrogate_bars(high, low, close, mean_block: float, rng: np.random.Generator):
    """(high, low, close) float64 of one surrogate of a bar series (module docstring).

    Prices must be finite and positive (validated data). Close-only series (high is low is close)
    give close-only surrogates. Raises ValueError for mean_block < 1."""
    close = np.asarray(close, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    lc = np.log(close)
    lh = np.log(high) - lc
    ll = np.log(low) - lc
    n = lc.shape[0]
    idx = stationary_indices(n - 1, mean_block, rng) + 1  # moves are bars 1..n-1
    new_lc = np.empty(n)
    new_lc[0] = lc[0]
    new_lc[1:] = lc[0] + np.cumsum(lc[idx] - lc[idx - 1])
    wh = np.concatenate(([lh[0]], lh[idx]))
    wl = np.concatenate(([ll[0]], ll[idx]))
    c, h, lo = np.exp(new_lc), np.exp(new_lc + wh), np.exp(new_lc + wl)
    c[0], h[0], lo[0] = close[0], high[0], low[0]  # bar 0 exactly as it was
    return h, lo, c
