"""The score S = wF*F + wT*T + wA*A + wC*C of one impulse candidate that keeps the hard rules R1-R4
(the rules prune the candidate search itself: reference.py, numba_scan.py).

Two implementations with the same operations in the same order, so that results agree bit for bit
where the hardware rounds the same way:

* `score_terms` - scalar code (plain Python for the reference; compiled unchanged by Numba);
* `score_batch` - the same formulas on arrays, written against an array module `xp` (numpy or cupy).

Conventions: d = +1 bullish, -1 bearish; p0..p5 pivot prices, t0..t5 pivot bar indices (durations
are counted in bars); Li = |pi - p(i-1)|, Di = ti - t(i-1). Weights are the config weights divided
by their sum (so S is in [0, 1]; with the default weights this changes nothing).
"""

from __future__ import annotations

import numpy as np

#: Fibonacci bands: (ratio name, lo, hi, ideal m)
BANDS = (
    ("r2", 0.382, 0.786, 0.618),  # L2 / L1
    ("r3", 1.0, 2.618, 1.618),  # L3 / L1
    ("r4", 0.236, 0.5, 0.382),  # L4 / L3
    ("r5", 0.618, 1.618, 1.0),  # L5 / L1
)


def smallest_wave(tol: float) -> float:
    """The smallest wave, as a fraction of wave 1, that an impulse can have with every ratio inside
    its Fibonacci band widened by `tol` (a ratio outside scores 0 in F): wave 2 (r2_lo - tol) L1,
    wave 3 (r3_lo - tol) L1, wave 4 (r4_lo - tol)(r3_lo - tol) L1, wave 5 (r5_lo - tol) L1. With
    the bands above and tol 0.05: wave 4, 0.186 x 0.95 = 0.1767. The start rule's default bound
    (docs/scan.md "Start points")."""
    lo = {name: band_lo - tol for name, band_lo, _, _ in BANDS}
    return max(0.0, min(lo["r2"], lo["r3"], lo["r4"] * lo["r3"], lo["r5"]))


#: names of the score outputs, in the order score_terms returns them
TERMS = ("S", "F", "T", "A", "C", "r2", "r3", "r4", "r5")


def score_terms(p0, p1, p2, p3, p4, p5, t0, t1, t2, t3, t4, t5, tol, wF, wT, wA, wC):
    """(S, F, T, A, C, r2, r3, r4, r5) of one candidate that satisfies R1-R4 (scalars)."""
    L1 = abs(p1 - p0)
    L2 = abs(p2 - p1)
    L3 = abs(p3 - p2)
    L4 = abs(p4 - p3)
    L5 = abs(p5 - p4)
    r2 = L2 / L1
    r3 = L3 / L1
    r4 = L4 / L3
    r5 = L5 / L1
    # Fibonacci fit: mean of four band scores
    F = 0.0
    for k in range(4):
        if k == 0:
            r, lo, hi, m = r2, 0.382, 0.786, 0.618
        elif k == 1:
            r, lo, hi, m = r3, 1.0, 2.618, 1.618
        elif k == 2:
            r, lo, hi, m = r4, 0.236, 0.5, 0.382
        else:
            r, lo, hi, m = r5, 0.618, 1.618, 1.0
        s = 0.0
        if r >= lo - tol and r <= hi + tol:
            s = 1.0 - 0.5 * abs(r - m) / ((hi - lo) / 2.0)
            s = min(max(s, 0.0), 1.0)
        F = F + s
    F = F / 4.0
    # time (integer comparisons: 0.5 <= D5/D1 <= 1.5  <=>  D1 <= 2*D5 <= 3*D1)
    D1 = t1 - t0
    D2 = t2 - t1
    D3 = t3 - t2
    D4 = t4 - t3
    D5 = t5 - t4
    T = 0.5
    if D3 >= D1:
        T = T + 0.25
    if 2 * D5 >= D1 and 2 * D5 <= 3 * D1:
        T = T + 0.25
    # alternation
    a1 = min(1.0, 2.0 * abs(r2 - r4))
    a2 = min(1.0, abs(D2 - D4) / max(D2, D4))
    A = 0.5 * (a1 + a2)
    # channel: line through (t2, p2), (t4, p4); its parallel through (t3, p3), read at t5
    slope = (p4 - p2) / (t4 - t2)
    par = p3 + slope * (t5 - t3)
    C = 1.0 - abs(p5 - par) / L3
    C = min(max(C, 0.0), 1.0)
    S = ((wF * F + wT * T) + wA * A) + wC * C
    return S, F, T, A, C, r2, r3, r4, r5


def score_batch(xp, p, t, tol, wF, wT, wA, wC):
    """score_terms on arrays: p (N, 6) float64 prices, t (N, 6) int64 bars, on module xp.

    Returns a dict of (N,) float64 arrays keyed by TERMS. Same operation order as score_terms.
    """
    p0, p1, p2, p3, p4, p5 = (p[:, k] for k in range(6))
    t0, t1, t2, t3, t4, t5 = (t[:, k] for k in range(6))
    L1 = xp.abs(p1 - p0)
    L2 = xp.abs(p2 - p1)
    L3 = xp.abs(p3 - p2)
    L4 = xp.abs(p4 - p3)
    L5 = xp.abs(p5 - p4)
    r2 = L2 / L1
    r3 = L3 / L1
    r4 = L4 / L3
    r5 = L5 / L1
    F = None
    for (_, lo, hi, m), r in zip(BANDS, (r2, r3, r4, r5)):
        inband = (r >= lo - tol) & (r <= hi + tol)
        s = 1.0 - 0.5 * xp.abs(r - m) / ((hi - lo) / 2.0)
        s = xp.minimum(xp.maximum(s, 0.0), 1.0)
        s = xp.where(inband, s, 0.0)
        F = s if F is None else F + s
    F = F / 4.0
    D1 = t1 - t0
    D2 = t2 - t1
    D3 = t3 - t2
    D4 = t4 - t3
    D5 = t5 - t4
    T = 0.5 + 0.25 * (D3 >= D1) + 0.25 * ((2 * D5 >= D1) & (2 * D5 <= 3 * D1))
    a1 = xp.minimum(1.0, 2.0 * xp.abs(r2 - r4))
    a2 = xp.minimum(1.0, xp.abs(D2 - D4) / xp.maximum(D2, D4))
    A = 0.5 * (a1 + a2)
    slope = (p4 - p2) / (t4 - t2)
    par = p3 + slope * (t5 - t3)
    C = 1.0 - xp.abs(p5 - par) / L3
    C = xp.minimum(xp.maximum(C, 0.0), 1.0)
    S = ((wF * F + wT * T) + wA * A) + wC * C
    return dict(S=S, F=F, T=T.astype(xp.float64), A=A, C=C, r2=r2, r3=r3, r4=r4, r5=r5)


def score_rows(p, t, tol, wF, wT, wA, wC) -> dict:
    """score_terms over rows of p (N, 6), t (N, 6) with plain Python scalars (reference path)."""
    n = p.shape[0]
    out = {k: np.empty(n, dtype=np.float64) for k in TERMS}
    for i in range(n):
        vals = score_terms(*(float(x) for x in p[i]), *(int(x) for x in t[i]), tol, wF, wT, wA, wC)
        for k, v in zip(TERMS, vals):
            out[k][i] = v
    return out
