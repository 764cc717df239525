"""Array-module (xp) backend: candidates enumerated on the CPU (the Numba search), scored in batches
of `batch` candidates with `score.score_batch` on xp (cupy on a GPU; numpy in CI).

Importing this module imports numba (through numba_scan); cupy is never imported here - the caller
passes the module.
"""

from __future__ import annotations

import numpy as np

from . import numba_scan
from .score import TERMS, score_batch


def _to_host(xp, a) -> np.ndarray:
    if xp is np:
        return np.asarray(a)
    return xp.asnumpy(a)


class XPScorer:
    """Scores candidate rows (pivot indices) on xp, `batch` rows at a time."""

    def __init__(self, xp, t, price, batch, tol, weights):
        self.xp = xp
        self.t = xp.asarray(np.ascontiguousarray(t, dtype=np.int64))
        self.p = xp.asarray(np.ascontiguousarray(price, dtype=np.float64))
        self.batch = max(1, int(batch))
        self.tol = float(tol)
        self.w = tuple(float(x) for x in weights)

    def terms(self, idx: np.ndarray) -> np.ndarray:
        """(N, 9) in TERMS order."""
        xp = self.xp
        n = idx.shape[0]
        out = np.empty((n, len(TERMS)), dtype=np.float64)
        for a in range(0, n, self.batch):
            b = min(n, a + self.batch)
            ib = xp.asarray(np.ascontiguousarray(idx[a:b], dtype=np.int64))
            res = score_batch(xp, self.p[ib], self.t[ib], self.tol, *self.w)
            for k, name in enumerate(TERMS):
                out[a:b, k] = _to_host(xp, res[name])
        return out

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        """S of each row."""
        xp = self.xp
        n = idx.shape[0]
        out = np.empty(n, dtype=np.float64)
        for a in range(0, n, self.batch):
            b = min(n, a + self.batch)
            ib = xp.asarray(np.ascontiguousarray(idx[a:b], dtype=np.int64))
            out[a:b] = _to_host(xp, score_batch(xp, self.p[ib], self.t[ib], self.tol, *self.w)["S"])
        return out


def scan_windows(
    t,
    kind,
    price,
    known,
    seg_hi,
    seg_lo,
    glob_starts,
    window_bars,
    step,
    w0,
    w1,
    skip,
    *,
    xp=np,
    batch=65536,
    tol,
    weights,
    **kw,
):
    """numba_scan.scan_windows with S computed on xp in batches."""
    scorer = XPScorer(xp, t, price, batch, tol, weights)
    return numba_scan.scan_windows(
        t,
        kind,
        price,
        known,
        seg_hi,
        seg_lo,
        glob_starts,
        window_bars,
        step,
        w0,
        w1,
        skip,
        tol=tol,
        weights=weights,
        scorer=scorer,
        **kw,
    )
