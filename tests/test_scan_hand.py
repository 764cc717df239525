"""Hand-computed scan cases (docs/scan.md, "The impulse"): pivots, candidates, rule outcomes and every score term.

Every expected number below is worked out by hand in the comments; nothing is read back from the
code. Price paths are close-only and linear between the listed (bar, price) turning points, so
pivots sit exactly on the turning points and each wave's end is trivially the extreme of its bars.
Each case runs on all three backends (numpy reference, numba, array-module path on numpy).
"""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.engines.scan import ScanParams, scan_symbol, sort_patterns, window_starts
from test_scan_helpers import BACKENDS, bars_of, ohlc_series, one_window, path_series, stats, stats_of

REL = 1e-9

# ------------------------------------------------------------------------------------------------
# The "ideal" bullish impulse used by several cases.
#   p = 100, 120, 108, 140, 128, 148 at t = 0, 10, 16, 30, 34, 44; then down to 130 at bar 50
#   (that last leg confirms p5 as a pivot; the running low at bar 50 is not a pivot).
#   L1 = 20, L2 = 12, L3 = 32, L4 = 12, L5 = 20;  D1 = 10, D2 = 6, D3 = 14, D4 = 4, D5 = 10
# Rules: R1 108 > 100; R2 32 >= min(20, 20); R3 128 > 120; R4 140 > 120 and 148 > 140: all hold.
# F: r2 = 12/20 = 0.6   band [0.382, 0.786] half-width 0.202, m 0.618: s2 = 1 - 0.5*0.018/0.202
#    r3 = 32/20 = 1.6   band [1.0, 2.618]   half-width 0.809, m 1.618: s3 = 1 - 0.5*0.018/0.809
#    r4 = 12/32 = 0.375 band [0.236, 0.5]   half-width 0.132, m 0.382: s4 = 1 - 0.5*0.007/0.132
#    r5 = 20/20 = 1.0   m 1.0: s5 = 1
# T: D3 = 14 >= D1 = 10 (+0.25); D5/D1 = 1.0 in [0.5, 1.5] (+0.25): T = 1.0
# A: 0.5 * (min(1, 2*|0.6 - 0.375|) + |6 - 4| / 6) = 0.5 * (0.45 + 1/3)
# C: slope (128 - 108) / (34 - 16) = 20/18; parallel at t5: 140 + (20/18)*(44 - 30) = 140 + 280/18
#    |148 - (140 + 280/18)| = 136/18;  C = 1 - (136/18)/32 = 1 - 136/576
IDEAL = [(0, 100), (10, 120), (16, 108), (30, 140), (34, 128), (44, 148), (50, 130)]
F_IDEAL = ((1 - 0.009 / 0.202) + (1 - 0.009 / 0.809) + (1 - 0.0035 / 0.132) + 1.0) / 4
T_IDEAL = 1.0
A_IDEAL = 0.5 * (0.45 + 1 / 3)
C_IDEAL = 1 - 136 / 576
S_IDEAL = 0.4 * F_IDEAL + 0.2 * T_IDEAL + 0.2 * A_IDEAL + 0.2 * C_IDEAL  # = 0.8228916...


def scan(points, backend, **kw):
    """Scan with the start rule off unless a case sets it (the cases below were worked out for
    the search itself; the start rule has its own cases at the end)."""
    s = path_series(points)
    kw.setdefault("start_swing_ratio", 0.0)
    return scan_symbol(s, one_window(len(s), pivot_pct=0.02, **kw), backend)


def terms(scan_, row=0):
    return {k: float(scan_.patterns[k][row]) for k in ("score", "F", "T", "A", "C")}


def approx_terms(S, F, T, A, C):
    return {k: pytest.approx(v, rel=REL, abs=1e-12) for k, v in dict(score=S, F=F, T=T, A=A, C=C).items()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_ideal_bullish_impulse(backend):
    r = scan(IDEAL, backend, scan_pattern_types=["bullish"], up_to=2, max_start_points=3)
    # pivots: the six turning points; the final running low (bar 50) is not confirmed
    assert r.pivots["t"].tolist() == [0, 10, 16, 30, 34, 44]
    assert r.pivots["kind"].tolist() == [-1, 1, -1, 1, -1, 1]
    assert r.pivots["price"].tolist() == [100, 120, 108, 140, 128, 148]
    # Search (bullish starts = lows by price: 0 (100), 2 (108), 4 (128); up_to = 2):
    #  start 0: (0,1,2,3,4,5) complete -> visited 1, valid 1. Wave 2 from pivot 1 skipping one swing
    #    ends at pivot 4 (128) but bars 10..34 reach down to 108: extreme rejection (1).
    #    Wave 1 to pivot 3 (140, a record over bars 0..30) and on to 4, 5 runs out of pivots; wave 1 to
    #    pivot 5 (148) too. Start 2: 2,3,4,5 then no pivot 6. Start 4: 4,5 then nothing.
    assert stats_of(r) == stats(ext=1, visited=1, valid=1, kept=1)
    assert len(r) == 1 and bars_of(r, 0) == (0, 10, 16, 30, 34, 44)
    assert r.patterns["direction"][0] == 1
    ratios = [float(r.patterns[f"r{k}"][0]) for k in (2, 3, 4, 5)]
    assert ratios == pytest.approx([0.6, 1.6, 0.375, 1.0], rel=REL)
    assert terms(r) == approx_terms(S_IDEAL, F_IDEAL, T_IDEAL, A_IDEAL, C_IDEAL)
    assert r.patterns["window"][0] == 0 and r.patterns["n_windows"][0] == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_ideal_both_directions_counts_bearish_rejections(backend):
    r = scan(IDEAL, backend, up_to=2, max_start_points=3)
    # Bearish starts = highs by price: 5 (148), 3 (140), 1 (120).
    #  5: no pivot after it.  3: wave 1 down to 4 (128) ok; wave 2 up to 5 (148): R1 needs
    #     p2 < p0, 148 < 140 fails -> R1 (1).  1: wave 1 to 2 (108); wave 2 to 3 (140): 140 < 120
    #     fails -> R1; wave 2 to 5 (148 record over bars 16..44): fails R1 again; wave 1 to 4 (128):
    #     bars 10..34 go down to 108 -> extreme (1).
    # Bullish as in test_ideal_bullish_impulse: extreme 1, visited 1, valid 1.
    assert stats_of(r) == stats(ext=2, r1=3, visited=1, valid=1, kept=1)
    assert len(r) == 1 and terms(r) == approx_terms(S_IDEAL, F_IDEAL, T_IDEAL, A_IDEAL, C_IDEAL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mirrored_bearish_impulse_scores_the_same(backend):
    # p' = 248 - p: 148, 128, 140, 108, 120, 100 (then up to 118). Leg lengths, durations, ratios
    # and the channel distance (|100 - (108 - 280/18)| = 136/18) are those of the ideal case.
    mirrored = [(t, 248 - p) for t, p in IDEAL]
    r = scan(mirrored, backend, scan_pattern_types=["bearish"], up_to=2, max_start_points=3)
    assert r.pivots["kind"].tolist() == [1, -1, 1, -1, 1, -1]
    assert stats_of(r) == stats(ext=1, visited=1, valid=1, kept=1)
    assert r.patterns["direction"][0] == -1 and bars_of(r, 0) == (0, 10, 16, 30, 34, 44)
    assert terms(r) == approx_terms(S_IDEAL, F_IDEAL, T_IDEAL, A_IDEAL, C_IDEAL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_r1_wave2_below_start(backend):
    # 100, 120, 98, 140, 128, 148: p2 = 98 is below p0 = 100.
    # Starts (lows by price): 2 (98), 0 (100), 4 (128); up_to = 0.
    #  2: 2,3 (140) -> 4 (128 > 98, R1 ok) -> 5 (R4 part 1: 148 > 140 ok) -> no pivot 6.
    #  0: 0,1 -> 2: R1 98 > 100 fails -> R1 (1).   4: 4,5 -> nothing.
    pts = [(0, 100), (10, 120), (16, 98), (30, 140), (34, 128), (44, 148), (50, 130)]
    r = scan(pts, backend, scan_pattern_types=["bullish"], up_to=0)
    assert r.pivots["price"].tolist() == [100, 120, 98, 140, 128, 148]
    assert stats_of(r) == stats(r1=1)
    assert len(r) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_r2_wave3_shortest(backend):
    # 100, 120, 110, 125, 121, 145: L1 = 20, L3 = 15, L5 = 24; 15 < min(20, 24) breaks R2
    # (R1 110 > 100, R4a 125 > 120, R3 121 > 120 hold, so the sequence is complete: visited 1).
    # Start 2 (110): 2,3,4 (R1 121 > 110) -> 5 (R4a 145 > 125) -> end. Start 4: nothing.
    pts = [(0, 100), (10, 120), (16, 110), (30, 125), (34, 121), (44, 145), (50, 125)]
    r = scan(pts, backend, scan_pattern_types=["bullish"], up_to=0)
    assert stats_of(r) == stats(r2=1, visited=1)
    assert len(r) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_r3_wave4_overlaps_wave1(backend):
    # 100, 120, 105, 140, 118, 150: p4 = 118 is not above p1 = 120 -> pruned at p4 by R3.
    # Start 2 (105): 2,3,4 (R1 118 > 105) -> 5 (R4a 150 > 140) -> end. Start 4: nothing.
    pts = [(0, 100), (10, 120), (16, 105), (30, 140), (34, 118), (44, 150), (50, 130)]
    r = scan(pts, backend, scan_pattern_types=["bullish"], up_to=0)
    assert stats_of(r) == stats(r3=1)
    assert len(r) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_r4_truncated_fifth(backend):
    # 100, 120, 108, 140, 128, 138: p5 = 138 does not pass p3 = 140.
    #  start 0: complete (visited 1), R2 32 >= min(20, 10) ok, R4 (p5 > p3) fails -> R4 (1).
    #  start 2 (108): 2,3,4 (R1 128 > 108) -> 5: R4 part 1 at that depth compares the new p3 = 138
    #    with the new p1 = 140: fails -> R4 (2).   start 4 (128): nothing.
    pts = [(0, 100), (10, 120), (16, 108), (30, 140), (34, 128), (44, 138), (50, 120)]
    r = scan(pts, backend, scan_pattern_types=["bullish"], up_to=0)
    assert stats_of(r) == stats(r4=2, visited=1)
    assert len(r) == 0
    # With R4 off the same candidate is valid; start 2 goes one level deeper and runs out of pivots.
    # Terms: legs 20, 12, 32, 12, 10; r5 = 10/20 = 0.5 < 0.618 - 0.05 -> s5 = 0, s2..s4 as IDEAL.
    # T = 1.0 (durations as IDEAL); A as IDEAL; C: |138 - (140 + 280/18)| = 316/18, C = 1 - 316/576.
    r = scan(pts, backend, scan_pattern_types=["bullish"], up_to=0, rule_no_truncation=False)
    assert stats_of(r) == stats(visited=1, valid=1, kept=1)
    F = ((1 - 0.009 / 0.202) + (1 - 0.009 / 0.809) + (1 - 0.0035 / 0.132) + 0.0) / 4
    C = 1 - 316 / 576
    S = 0.4 * F + 0.2 * 1.0 + 0.2 * A_IDEAL + 0.2 * C
    assert terms(r) == approx_terms(S, F, 1.0, A_IDEAL, C)


@pytest.mark.parametrize("backend", BACKENDS)
def test_poor_impulse_clamped_terms(backend):
    # 100, 110, 108, 140, 135, 150 at t = 0, 4, 8, 12, 30, 50 (then 140 at 56); 1 % zig-zag
    # (110/108 = 1.0185 is a swing). Rules: R1 108 > 100, R2 32 >= min(10, 15), R3 135 > 110,
    # R4 140 > 110 and 150 > 140: valid.
    # F: r2 = 2/10 = 0.2 < 0.382 - 0.05 -> 0; r3 = 32/10 = 3.2 > 2.618 + 0.05 -> 0;
    #    r4 = 5/32 = 0.15625 < 0.236 - 0.05 -> 0; r5 = 15/10 = 1.5: 1 - 0.5*0.5/0.5 = 0.5. F = 0.125
    # T: D = 4, 4, 4, 18, 20: D3 >= D1 (+0.25); D5/D1 = 5 (no): T = 0.75
    # A: 0.5 * (2*|0.2 - 0.15625| + |4 - 18|/18) = 0.5 * (0.0875 + 14/18)
    # C: slope 27/22; parallel at 50: 140 + (27/22)*38 = 186.636..; |150 - 186.64| = 36.64 > L3 = 32:
    #    C = clamp(1 - 1.145, 0, 1) = 0
    pts = [(0, 100), (4, 110), (8, 108), (12, 140), (30, 135), (50, 150), (56, 140)]
    s = path_series(pts)
    r = scan_symbol(
        s,
        one_window(len(s), pivot_pct=0.01, scan_pattern_types=["bullish"], up_to=0, start_swing_ratio=0.0),
        backend,
    )
    assert r.pivots["t"].tolist() == [0, 4, 8, 12, 30, 50]
    # start 2 (108): 2,3,4 (R1 135 > 108), 5 (R4a 150 > 140), then no pivot. start 4: nothing.
    assert stats_of(r) == stats(visited=1, valid=1, kept=1)
    A = 0.5 * (0.0875 + 14 / 18)
    assert terms(r) == approx_terms(0.4 * 0.125 + 0.2 * 0.75 + 0.2 * A + 0.0, 0.125, 0.75, A, 0.0)


# Two copies of the ideal impulse, the second starting at bar 54 from the same price 100:
TWIN = IDEAL[:-1] + [(t + 54, p) for t, p in IDEAL]


@pytest.mark.parametrize("backend", BACKENDS)
def test_tie_broken_by_t0(backend):
    # Both copies are valid with exactly the same prices and durations, hence the same S. Lows 0
    # and 6 both have price 100: equal start points are ordered by bar, so both are the K = 2 starts.
    r = scan(TWIN, backend, scan_pattern_types=["bullish"], up_to=2, max_start_points=2, top_k=50)
    assert r.pivots["t"].tolist() == [0, 10, 16, 30, 34, 44, 54, 64, 70, 84, 88, 98]
    rows = {bars_of(r, i): i for i in range(len(r))}
    a = rows[(0, 10, 16, 30, 34, 44)]
    b = rows[(54, 64, 70, 84, 88, 98)]
    assert r.patterns["score"][a] == r.patterns["score"][b]
    assert float(r.patterns["score"][a]) == pytest.approx(S_IDEAL, rel=REL)
    assert a < b  # equal S: t0 ascending
    assert np.all(np.diff(r.patterns["score"]) <= 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_budget_in_fixed_order(backend):
    # Budget 1: the first complete candidate in the fixed order is from the rank-0 start (pivot 0,
    # the earlier of the two lows at 100) with every skip 0: the first copy. The next complete one
    # sets the flag.
    r = scan(
        TWIN,
        backend,
        scan_pattern_types=["bullish"],
        up_to=2,
        max_start_points=2,
        top_k=50,
        max_combinations=1,
    )
    w = r.windows
    assert bool(w["truncated"][0]) and w["visited"][0] == 1 and w["valid"][0] == 1
    assert len(r) == 1 and bars_of(r, 0) == (0, 10, 16, 30, 34, 44) and bool(r.patterns["truncated"][0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_windows_contain_the_pattern(backend):
    # IDEAL falls 3 a bar after p5 (148 at bar 44): bar 45 is 145 <= 148 / 1.02 = 145.098, so the
    # zig-zag confirms p5 at bar 45. 51 bars, 46-bar windows, step 2: grid starts 0, 2, 4.
    # Window 0 (bars 0..45) holds the impulse and confirms p5 by its last bar; windows 1 and 2
    # start after t0 = 0: their lows are pivots 2 (108) and 4 (128): 2,3,4,5 and 4,5 never complete.
    s = path_series(IDEAL)
    p = ScanParams(
        scale="fixed",
        window_bars=46,
        window_overlap_ratio=1 - 2 / 46,
        max_windows=10,
        skip_flat_windows=False,
        pivot_pct=0.02,
        scan_pattern_types=["bullish"],
        up_to=2,
    )
    assert window_starts(len(s), p).tolist() == [0, 2, 4]
    r = scan_symbol(s, p, backend)
    assert r.windows["visited"].tolist() == [1, 0, 0]
    assert r.windows["end_bar"].tolist() == [46, 48, 50]
    assert len(r) == 1 and r.patterns["window"][0] == 0 and r.patterns["n_windows"][0] == 1
    assert r.patterns["known_bar"][0] == 45  # window 0's last bar, which is also p5's confirmation
    # 45-bar windows, step 3 (starts 0, 3, 6): window 0 ends on bar 44 = t5, before the reversal
    # that confirms p5, so it cannot rank the impulse; the later windows do not hold t0.
    p = ScanParams(
        scale="fixed",
        window_bars=45,
        window_overlap_ratio=1 - 3 / 45,
        max_windows=10,
        skip_flat_windows=False,
        pivot_pct=0.02,
        scan_pattern_types=["bullish"],
        up_to=2,
    )
    assert window_starts(len(s), p).tolist() == [0, 3, 6]
    r = scan_symbol(s, p, backend)
    assert r.windows["visited"].tolist() == [0, 0, 0] and len(r) == 0


def test_sort_order_lexicographic():
    # S desc; equal S -> t0 asc; equal t0 -> t1 asc, ... (hand-made rows)
    pat = {"score": np.array([0.5, 0.7, 0.5, 0.5, 0.5])}
    bars = [
        (3, 5, 7, 9, 11, 13),
        (9, 10, 11, 12, 13, 14),
        (1, 4, 7, 9, 11, 13),
        (1, 2, 7, 9, 11, 13),
        (1, 2, 7, 9, 11, 12),
    ]
    for k in range(6):
        pat[f"t{k}"] = np.array([b[k] for b in bars], dtype=np.int64)
    out = sort_patterns(pat)
    got = [tuple(int(out[f"t{k}"][i]) for k in range(6)) for i in range(5)]
    assert got == [bars[1], bars[4], bars[3], bars[2], bars[0]]


# ---- pivots over High/Low --------------------------------------------------------------------
# bar:   0     1     2     3     4     5     6     7
# High: 10.5  11.5  12.0  11.4  10.8  11.2  12.5  11.0
# Low:   9.5  10.2  11.0  10.6   9.9  10.3  11.3  10.0
HL_H = [10.5, 11.5, 12.0, 11.4, 10.8, 11.2, 12.5, 11.0]
HL_L = [9.5, 10.2, 11.0, 10.6, 9.9, 10.3, 11.3, 10.0]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pivots_high_low_percent(backend):
    from mpiapp.engines.scan import symbol_pivots

    s = ohlc_series(HL_H, HL_L)
    # pct 10 %: bar 1 high 11.5 >= 9.5*1.1 = 10.45 with the low (bar 0) first -> low pivot 0 (9.5);
    # bar 2 extends the high to 12.0; bar 3 low 10.6 <= 12/1.1 = 10.909 -> high pivot 2 (12.0);
    # bar 4 extends the low to 9.9; bar 5 high 11.2 >= 9.9*1.1 = 10.89 -> low pivot 4 (9.9);
    # bar 6 extends to 12.5; bar 7 low 10.0 <= 12.5/1.1 = 11.36 -> high pivot 6 (12.5).
    p = symbol_pivots(s.high, s.low, s.close, ScanParams(scale="fixed", pivot_pct=0.10), backend)
    assert p.t.tolist() == [0, 2, 4, 6] and p.kind.tolist() == [-1, 1, -1, 1]
    assert p.price.tolist() == [9.5, 12.0, 9.9, 12.5]
    # pct 30 %: 12.0/9.5 = 1.263 < 1.3; bar 6: 12.5 >= 9.5*1.3 = 12.35 -> low pivot 0; then nothing
    # falls to 12.5/1.3 = 9.615 (bar 7: 10.0), nor below 9.5: the high at bar 6 stays unconfirmed.
    p = symbol_pivots(s.high, s.low, s.close, ScanParams(scale="fixed", pivot_pct=0.30), backend)
    assert p.t.tolist() == [0] and p.price.tolist() == [9.5]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pivots_atr(backend):
    from mpiapp.engines.scan import symbol_pivots

    # close-only 10, 11, 12, 11, 10, 11, 13, 12. True range |c - c[-1]|: 0, 1, 1, 1, 1, 1, 2, 1.
    # ATR(2), expanding at the start: 0, 0.5, 1, 1, 1, 1, 1.5, 1.5; x 1.5 -> thresholds
    # 0, 0.75, 1.5, 1.5, 1.5, 1.5, 2.25, 2.25.
    # bar 1: 11 >= 10 + 0.75 -> low pivot 0 (10); bar 2 extends to 12; bar 3: 11 > 12 - 1.5;
    # bar 4: 10 <= 10.5 -> high pivot 2 (12); bar 5: 11 < 10 + 1.5; bar 6: 13 >= 10 + 2.25 -> low
    # pivot 4 (10); bar 7: 12 > 13 - 2.25: the high at 6 stays unconfirmed.
    c = np.array([10, 11, 12, 11, 10, 11, 13, 12], dtype=float)
    prm = ScanParams(pivot_mode="atr", atr_period=2, atr_multiple=1.5)
    p = symbol_pivots(c, c, c, prm, backend)
    assert p.t.tolist() == [0, 2, 4] and p.price.tolist() == [10, 12, 10]
    # the same in percent mode at 15 %: 12 >= 11.5 (bar 2) confirms the low at 0; 10 <= 12/1.15
    # = 10.43 (bar 4) the high at 2; 13 >= 11.5 (bar 6) the low at 4; 12 > 13/1.15 = 11.30.
    p = symbol_pivots(c, c, c, ScanParams(scale="fixed", pivot_pct=0.15), backend)
    assert p.t.tolist() == [0, 2, 4]


def test_window_starts_by_hand():
    # 1000 bars, 200-bar windows, overlap 0.9: step floor(200*0.1) = 20 (200*(1-0.9) is
    # 19.999999999999996 in floating point: the guard keeps it 20); a fixed grid from bar 0:
    # starts 0, 20, ..., 800 (the last one ends on bar 999): 41 windows.
    p = ScanParams(window_bars=200, window_overlap_ratio=0.9, max_windows=500)
    assert p.step == 20
    st = window_starts(1000, p)
    assert st[0] == 0 and st[-1] == 800 and len(st) == 41 and set(np.diff(st)) == {20}
    # 1010 bars: the same grid (a window's bars do not move when bars are added); bars 1000..1009
    # wait for the next grid window (start 820, which needs 1020 bars)
    st = window_starts(1010, p)
    assert st[0] == 0 and st[-1] == 800 and len(st) == 41
    assert window_starts(1020, p)[-1] == 820
    # at most 3: the three most recent
    three = ScanParams(window_bars=200, window_overlap_ratio=0.9, max_windows=3)
    assert window_starts(1010, three).tolist() == [760, 780, 800]
    # shorter than one window: none
    assert window_starts(199, p).tolist() == []


# ------------------------------------------------------------------------------------------------
# The start rule (docs/scan.md "Start points"): the swing that ended at p0 must be at least
# start_swing_ratio x L1. Swings in IDEAL (close-only, so High = Low = the path):
#   pivot 0 (100 @ 0): nothing before it -> no earlier bar below 100 -> swing = inf.
#   pivot 2 (108 @ 16): last bar below 108 before bar 16 is bar 3 (106; bar 4 is exactly 108, not
#     below); the highest price of bars 4..15 is 120 (bar 10) -> swing = 12.
#   pivot 4 (128 @ 34): bars 16..30 rise 108 -> 140 by 32/14 per bar; bar 24 = 126.29 < 128, bar 25 =
#     128.57 -> last bar below is 24; the highest of bars 25..33 is 140 (bar 30) -> swing = 12.
# Bullish search, up_to = 2 (start 0 as in test_ideal_bullish_impulse: ext 1, visited 1, valid 1):
#   start 2: wave 1 to pivot 3 (140, L1 = 32) and to pivot 5 (148, L1 = 40).
#   start 4: wave 1 to pivot 5 (148, L1 = 20); then no pivot 6.
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "ratio,rejected",
    [
        (0.0, 0),  # no rule
        (0.382, 2),  # start 2: 12 < 0.382*32 = 12.22 and < 0.382*40 = 15.28; start 4: 12 >= 7.64
        (0.7, 3),  # start 4 too: 12 < 0.7*20 = 14
        (0.375, 1),  # start 2 to pivot 3: 12 >= 0.375*32 = 12 (equality passes); to 5: 12 < 15
    ],
)
def test_start_rule_counts_rejected_wave1_ends(backend, ratio, rejected):
    r = scan(IDEAL, backend, scan_pattern_types=["bullish"], up_to=2, start_swing_ratio=ratio)
    assert stats_of(r) == stats(ext=1, start=rejected, visited=1, valid=1, kept=1)
    assert len(r) == 1 and bars_of(r, 0) == (0, 10, 16, 30, 34, 44)


@pytest.mark.parametrize("backend", BACKENDS)
def test_start_rule_admits_a_late_start_after_a_larger_swing(backend):
    # A decline to 80 first (bars 0-10), a rally to 130 (bar 24), then a pullback to 104 (bar 34)
    # and from there the IDEAL impulse scaled by 1.04: 104, 124.8, 112.32, 145.6, 133.12, 153.92.
    # Bar 0 is a high pivot (the path falls from it); the window's lowest low is 80 (bar 10), so the
    # impulse's p0 (104) is the second lowest: "the single most extreme pivot" misses it. Its
    # swing: last bar below
    # 104 is bar 29 (the 130 -> 104 pullback is 2.6 per bar: bar 29 = 117; the rally 80 -> 130 is
    # 50/14 per bar: bar 17 = 105, bar 16 = 101.43 < 104 -> last bar below 104 is 16); the highest
    # of bars 17..33 is 130 -> swing 26 >= 0.382 * L1 = 0.382 * 20.8 = 7.9: admitted.
    pts = [
        (0, 100),
        (10, 80),
        (24, 130),
        (34, 104),
        (44, 124.8),
        (50, 112.32),
        (64, 145.6),
        (68, 133.12),
        (78, 153.92),
        (84, 135.2),
    ]
    r2 = scan(
        pts, backend, scan_pattern_types=["bullish"], up_to=2, max_start_points=1, start_swing_ratio=0.382
    )
    assert (34, 44, 50, 64, 68, 78) not in [bars_of(r2, i) for i in range(len(r2))]
    r = scan(pts, backend, scan_pattern_types=["bullish"], up_to=2, start_swing_ratio=0.382)
    assert (34, 44, 50, 64, 68, 78) in [bars_of(r, i) for i in range(len(r))]
