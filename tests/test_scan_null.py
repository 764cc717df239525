"""p-values against block-bootstrap surrogates (docs/scan.md "Significance"): the bootstrap, the
p-value formula, the same answer at any partition and backend, seeds from the symbol, and coarse
calibration / power (the full figures: bench/scan_null.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.engines.scan import ScanParams, merge, scan_symbol
from mpiapp.engines.scan import null as nl
from mpiapp.io import synthetic
from mpiapp.io.series import Series
from mpiapp.kernels import bootstrap as bs
from mpiapp.kernels.strength import wave_efficiency
from test_scan_helpers import random_walk


def test_stationary_indices_are_blocks_of_geometric_length():
    rng = np.random.default_rng(5)
    m, L = 20_000, 20.0
    idx = bs.stationary_indices(m, L, rng)
    assert idx.dtype == np.int64 and idx.min() >= 0 and idx.max() < m
    cont = idx[1:] == (idx[:-1] + 1) % m  # inside a block: the next move
    starts = m - int(cont.sum())  # blocks (a new block may by chance continue: at most 1/m each)
    assert abs(m / starts - L) < 0.1 * L  # geometric mean length L (seeded draw; ~2.2 % se)
    with pytest.raises(ValueError):
        bs.stationary_indices(10, 0.5, rng)


def test_surrogate_bars_reuse_whole_bar_moves():
    rng = np.random.default_rng(1)
    n = 400
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * np.exp(rng.uniform(0, 0.01, n))
    low = close * np.exp(-rng.uniform(0, 0.01, n))
    h, lo, c = bs.surrogate_bars(high, low, close, 10.0, np.random.default_rng(2))
    assert c[0] == close[0] and h[0] == pytest.approx(high[0]) and lo[0] == pytest.approx(low[0])
    r, r0 = np.diff(np.log(c)), np.diff(np.log(close))
    wh, wh0 = np.log(h / c)[1:], np.log(high / close)[1:]
    # every surrogate move is one of the original's moves, with that bar's own wick
    for k in range(n - 1):
        j = int(np.argmin(np.abs(r0 - r[k])))
        assert abs(r0[j] - r[k]) < 1e-12 and abs(wh0[j] - wh[k]) < 1e-12
    assert np.all(h >= c * (1 - 1e-12)) and np.all(lo <= c * (1 + 1e-12))


def test_p_value_formula_by_hand():
    null = np.sort(np.array([-np.inf, 0.1, 0.5, 0.5, 0.9]))
    # q = 0.5: three values >= 0.5 -> (1 + 3) / (1 + 5); q = 1: none -> 1/6; q = -1: all but -inf
    # (-inf < -1) -> 5/6; NaN stays NaN
    p = nl.p_values([0.5, 1.0, -1.0, np.nan], null)
    assert p[:3].tolist() == pytest.approx([4 / 6, 1 / 6, 5 / 6]) and np.isnan(p[3])


def test_wave_efficiency_by_hand():
    # log path 0 -> 0.1 straight (efficiency 1), then 0.1 -> 0 via 0.2 (net 0.1, path 0.3: 1/3),
    # then three straight legs
    lc = np.array([0.0, 0.05, 0.1, 0.2, 0.1, 0.0, 0.1, 0.0, 0.1])
    e = wave_efficiency(np.exp(lc), np.array([[0, 2, 5, 6, 7, 8]]))
    assert e[0] == pytest.approx((1 + 1 / 3 + 1 + 1 + 1) / 5)


def _small(**kw):
    base = dict(window_bars=150, window_overlap_ratio=0.9, max_windows=40, null_samples=4, up_to=3)
    base.update(kw)
    return ScanParams(**base)


def test_p_values_same_at_any_partition_and_backend():
    s = random_walk(500, 21, vol=0.015)
    p = _small()
    whole = scan_symbol(s, p, "numba")
    assert np.isfinite(whole.patterns["p_value"]).all() and len(whole) > 5
    pieces = merge([scan_symbol(s, p, "numba", window_range=r) for r in ((15, 24), (0, 7), (7, 15))])
    assert whole.equals(pieces, rtol=0.0)
    for b in ("numpy", "xp-numpy"):
        assert whole.equals(scan_symbol(s, p, b), rtol=1e-9), b


def test_surrogates_seeded_by_symbol_name_and_seed_only():
    s = random_walk(500, 22, vol=0.015, symbol="AAA")
    twin = Series("BBB", s.time, s.open, s.high, s.low, s.close, "rw", has_ohlc=True)
    p = _small()
    a1, a2 = scan_symbol(s, p, "numba"), scan_symbol(s, p, "numba")
    b = scan_symbol(twin, p, "numba")
    c = scan_symbol(s, _small(null_seed=1), "numba")
    assert np.array_equal(a1.patterns["p_value"], a2.patterns["p_value"])
    assert not np.array_equal(a1.patterns["p_value"], b.patterns["p_value"])
    assert not np.array_equal(a1.patterns["p_value"], c.patterns["p_value"])
    off = scan_symbol(s, _small(null_samples=0), "numba")
    assert np.isnan(off.patterns["p_value"]).all() and np.isnan(off.windows["best_p_value"]).all()


def test_coarse_calibration_and_power():
    """Random walks: windows whose best pattern has p < 0.1 are not much more than 10 %; planted
    impulses mostly get p < 0.05. (Measured properly by bench/scan_null.py.)"""
    p = ScanParams(null_samples=10)
    below = total = 0
    for i in range(8):
        s = random_walk(1500, 100 + i, vol=0.012, symbol=f"R{i}")
        bp = np.nan_to_num(scan_symbol(s, p, "numba").windows["best_p_value"], nan=1.0)
        below += int(np.sum(bp < 0.1))
        total += bp.size
    assert total > 500 and below / total < 0.2
    sig = n = 0
    for i in range(6):
        s, truth = synthetic.generate(0, i, 2000, 1.0, 0.1, 6)
        pats = scan_symbol(s, p, "numba").patterns
        t = np.stack([pats[f"t{k}"] for k in range(6)], axis=1)
        for imp in truth:
            n += 1
            near = np.all(np.abs(t - np.asarray(imp.t)) <= 2, axis=1) & (pats["direction"] == imp.direction)
            sig += bool(near.any() and pats["p_value"][near].min() < 0.05)
    assert n >= 10 and sig / n >= 0.8
