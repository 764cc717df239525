"""Significance of a pattern: an empirical p-value against surrogate series of the same symbol.

The null: `null_samples` surrogates of the symbol's bars by the stationary block bootstrap
(mpiapp.kernels.bootstrap; mean block `null_block_bars`), seeded from (null_seed, the symbol's name)
only, so any rank, partition or backend draws the same surrogates. Each surrogate has the symbol's
bar count, hence the same windows, and is scanned with the same configuration. Every window of every
surrogate gives one value: the largest statistic among its top-k patterns (-inf for a window with
none, or skipped by the pre-filter). Those B x W values are the null sample.

The statistic (`null_statistic`): "strength" = S x E (E: the mean efficiency ratio of the five
waves, mpiapp.kernels.strength), or "score" = S.

p-value of a pattern with statistic q: (1 + #{null values >= q}) / (1 + B W) — the estimated
probability that a window of this size, in a series with this symbol's own bar moves re-drawn in
blocks (volatility clustering kept, longer structure broken), holds among its top-k a pattern whose
statistic is at least q. The +1 terms (Davison & Hinkley, "Bootstrap Methods", 1997, eq. 4.11) make
it never 0 and keep it valid (P(p <= a) <= a when the window is exchangeable with the surrogate
windows). For the window's own best pattern this is a test at the window level; the window's
most extreme statistic is what the null sample records, so the test is not fooled by the number of
candidates a window holds.
"""

from __future__ import annotations

import threading
import time
import zlib

import numpy as np

from ...kernels import bootstrap

STATISTICS = ("strength", "score")


def statistic(kind: str, score, efficiency) -> np.ndarray:
    """The null statistic of patterns (score S, wave efficiency E). Raises ValueError for an
    unknown kind."""
    if kind == "strength":
        return np.asarray(score, dtype=np.float64) * np.asarray(efficiency, dtype=np.float64)
    if kind == "score":
        return np.asarray(score, dtype=np.float64)
    raise ValueError(f"null statistic must be one of {', '.join(STATISTICS)}, not {kind!r}")


def surrogates(symbol: str, high, low, close, samples: int, block: float, seed: int):
    """Yield `samples` surrogate (high, low, close) of one symbol; the b-th depends only on
    (seed, symbol, b)."""
    for b in range(samples):
        rng = np.random.default_rng([int(seed), zlib.crc32(symbol.encode("utf-8")), b])
        yield bootstrap.surrogate_bars(high, low, close, block, rng)


def p_values(q, null_sorted: np.ndarray) -> np.ndarray:
    """(1 + #{null >= q}) / (1 + len(null)) for each q; null_sorted ascending (-inf allowed);
    NaN where q is NaN."""
    q = np.asarray(q, dtype=np.float64)
    n = null_sorted.shape[0]
    ge = n - np.searchsorted(null_sorted, q, side="left")
    p = (1.0 + ge) / (1.0 + n)
    return np.where(np.isnan(q), np.nan, p)


class NullCache:
    """Null samples of recent symbols, so the window-range units of one symbol that run on one
    rank draw and scan its surrogates once. Keyed by everything the sample depends on."""

    def __init__(self, size: int = 4):
        self.size = size
        self._d: dict = {}
        self._lock = threading.Lock()  # units of a rank may run in threads (work.loop)

    def get(self, key, make):
        with self._lock:
            if key in self._d:
                return self._d[key], 0.0
        t0 = time.perf_counter()
        val = make()
        with self._lock:
            if key not in self._d and len(self._d) >= self.size:
                self._d.pop(next(iter(self._d)))
            self._d[key] = val
        return val, time.perf_counter() - t0


CACHE = NullCache()
