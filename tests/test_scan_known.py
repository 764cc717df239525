"""`known_bar`: the bar at which a pattern's last pivot p5 was confirmed by the zig-zag.

Hand case worked out below; then the defining property on random series: the zig-zag run on the
bars up to known_bar alone has p5 as a pivot, and on the bars before it does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.engines.scan import ScanParams, scan_symbol, symbol_pivots
from test_scan_helpers import BACKENDS, one_window, path_series, random_walk

# The ideal bullish impulse of test_scan_hand.py, with a slower final leg: 148 at bar 44 down to
# 130 at bar 60 (-1.125 per bar). Close-only, linear between turning points, pivot_pct = 0.02.
# Confirmation bars (percent mode: a high H is confirmed when a later low reaches H / 1.02, a low
# L when a later high reaches 1.02 L):
#   p0 100 @ 0 : needs 102      -> bar 1 is 102                      -> 1
#   p1 120 @ 10: needs 117.647  -> bar 11 is 118, bar 12 is 116      -> 12
#   p2 108 @ 16: needs 110.16   -> bar 17 is 108 + 32/14 = 110.29    -> 17
#   p3 140 @ 30: needs 137.255  -> bar 31 is 137                     -> 31
#   p4 128 @ 34: needs 130.56   -> bar 35 is 130, bar 36 is 132      -> 36
#   p5 148 @ 44: needs 145.098  -> bars 45, 46, 47: 146.875, 145.75, 144.625 -> 47
SLOW = [(0, 100), (10, 120), (16, 108), (30, 140), (34, 128), (44, 148), (60, 130)]
KNOWN = [1, 12, 17, 31, 36, 47]


@pytest.mark.parametrize("backend", BACKENDS)
def test_known_bar_by_hand(backend):
    s = path_series(SLOW)
    r = scan_symbol(s, one_window(len(s), pivot_pct=0.02, scan_pattern_types=["bullish"]), backend)
    assert r.pivots["t"].tolist() == [0, 10, 16, 30, 34, 44]
    assert r.pivots["known"].tolist() == KNOWN
    assert len(r) == 1
    assert int(r.patterns["t5"][0]) == 44 and int(r.patterns["known_bar"][0]) == 47


def _pivot_bars(series, upto, params, backend):
    """Pivot bars of the zig-zag run on bars 0..upto-1 only."""
    h, l, c = (np.asarray(a[:upto], dtype=np.float64) for a in (series.high, series.low, series.close))
    return symbol_pivots(h, l, c, params, backend).t.tolist()


@pytest.mark.parametrize("mode", ["percent", "atr"])
def test_known_bar_is_the_first_bar_that_confirms_p5(mode):
    for seed in (3, 4):
        s = random_walk(900, seed, vol=0.015)
        p = ScanParams(window_bars=300, window_overlap_ratio=0.9, pivot_mode=mode, atr_multiple=2.5,
                       up_to=3)
        r = scan_symbol(s, p, "numba")
        assert len(r) > 5
        for row in range(0, len(r), max(1, len(r) // 8)):
            t5, kb = int(r.patterns["t5"][row]), int(r.patterns["known_bar"][row])
            assert kb > t5
            assert t5 in _pivot_bars(s, kb + 1, p, "numpy")  # bars 0..kb confirm p5
            assert t5 not in _pivot_bars(s, kb, p, "numpy")  # bars 0..kb-1 do not
        # the same column in every backend
        for b in ("numpy", "xp-numpy"):
            other = scan_symbol(s, p, b)
            assert np.array_equal(other.patterns["known_bar"], r.patterns["known_bar"])
