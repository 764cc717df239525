"""Scan features: what the impulse scan (mpiapp.score) had found by bar t, as known at bar t.

A zig-zag pivot is confirmed only when price later reverses by the threshold, so a pattern whose
last pivot p5 sits at bar t5 is known from `known_bar` >= t5 on (the scan's `patterns` table
records it). A pattern enters the features of bar t only when known_bar <= t, and stays for
`lookback` bars: it counts at bars known_bar .. known_bar + lookback - 1.

Columns at bar t (float64, length n):

    scan_score      best score S among the patterns counting at t; 0 when none
    scan_dir        its direction (+1 bullish, -1 bearish); 0 when none
    scan_age        t - known_bar of that pattern; `lookback` when none

Ties in score go to the pattern known later, then to the lower row of the table (deterministic).
"""

from __future__ import annotations

import numpy as np

SCAN_FEATURES = ("scan_score", "scan_dir", "scan_age")


def scan_features(n: int, known_bar, score, direction, lookback: int) -> np.ndarray:
    """(n, 3) array of SCAN_FEATURES for a series of n bars.

    known_bar (int), score (float), direction (+1/-1): 1-D arrays, one entry per pattern of this
    symbol (any order). Patterns known at or after bar n are ignored. Raises ValueError for
    lookback < 1, arrays of unequal length or a negative known_bar.
    """
    kb = np.asarray(known_bar, dtype=np.int64)
    sc = np.asarray(score, dtype=np.float64)
    dr = np.asarray(direction, dtype=np.float64)
    if lookback < 1:
        raise ValueError(f"scan_features: lookback must be >= 1, got {lookback}")
    if not (kb.shape == sc.shape == dr.shape) or kb.ndim != 1:
        raise ValueError("scan_features: known_bar, score and direction must be 1-D of equal length")
    if kb.size and kb.min() < 0:
        raise ValueError("scan_features: known_bar must be >= 0")
    best = np.full(n, -np.inf)
    best_kb = np.full(n, -1, dtype=np.int64)
    out = np.zeros((n, 3))
    out[:, 2] = lookback
    # visit patterns so that the winner of a tie is the one visited first with a strict '>' update:
    # score descending, then known_bar descending, then table row ascending
    order = np.lexsort((np.arange(kb.size), -kb, -sc))
    for i in order:
        a = int(kb[i])
        if a >= n:
            continue
        b = min(n, a + lookback)
        seg = slice(a, b)
        better = sc[i] > best[seg]
        if not better.any():
            continue
        idx = np.flatnonzero(better) + a
        best[idx] = sc[i]
        best_kb[idx] = a
        out[idx, 0] = sc[i]
        out[idx, 1] = dr[i]
    has = best_kb >= 0
    out[has, 2] = np.arange(n)[has] - best_kb[has]
    return out


def symbol_patterns(table: dict, symbol_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(known_bar, score, direction) of one symbol from a scan `patterns` table (column dict).

    Raises KeyError naming the column when the table has no `known_bar` (a scan file written before
    the scan recorded when each pattern became known cannot be used without look-ahead).
    """
    if "known_bar" not in table:
        raise KeyError(
            "known_bar: the scan's patterns table does not record when each pattern became "
            "known; rerun mpiapp.score with a version that writes known_bar"
        )
    m = np.asarray(table["symbol"]) == symbol_id
    return (
        np.asarray(table["known_bar"])[m],
        np.asarray(table["score"])[m],
        np.asarray(table["direction"])[m],
    )
