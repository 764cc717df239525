"""synthetic:N — determinism per symbol, valid bars, and the structural guarantees of planted truth."""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.io import open_source
from mpiapp.io import synthetic as S

SEEDS = range(12)
PER_SEED = 5


def zigzag(high, low, pct=0.03, same_bar=False):
    """Plain percent zig-zag over High/Low (reference for this test only): [(bar, +1 high/-1 low)].
    A reversal is measured from the running extreme; same_bar=True also lets a bar's own range
    (its new extreme and its other side) count as a reversal, the stricter reading."""
    out, state, hi, lo = [], 0, 0, 0
    for k in range(1, len(high)):
        if high[k] > high[hi]:
            hi = k
        if low[k] < low[lo]:
            lo = k
        if state >= 0 and low[k] <= high[hi] * (1 - pct) and (hi < k or same_bar and state):
            out.append((hi, +1))
            state, lo = -1, k
        elif state <= 0 and high[k] >= low[lo] * (1 + pct) and (lo < k or same_bar and state):
            out.append((lo, -1))
            state, hi = 1, k
    return out


def universe(seed, noise=0.1, rate=1.0, n=PER_SEED, bars=2000):
    return open_source(f"synthetic:{n}", seed=seed, synthetic_bars=bars, plant_rate=rate, noise=noise)


def all_impulses(noise=0.1):
    for seed in SEEDS:
        src = universe(seed, noise)
        for name in src.names():
            s = src.load(name)
            for imp in src.truth(name):
                yield s, imp


def band_ok(ratios, noise, slack=1e-9):
    widen = (1 + noise / 4) / (1 - noise / 4)
    return all(lo / widen - slack <= ratios[k] <= hi * widen + slack for k, (lo, _, hi) in S.BANDS.items())


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.5])
def test_truth_structure(noise):
    count = 0
    for s, imp in all_impulses(noise):
        count += 1
        d, t, p = imp.direction, imp.t, imp.p
        assert d in (1, -1) and list(t) == sorted(t) and len(t) == len(p) == 6
        L, D = imp.legs, imp.durations
        # rules R1-R4
        assert d * (p[2] - p[0]) > 0
        assert L[2] >= min(L[0], L[4])
        assert d * (p[4] - p[1]) > 0
        assert d * (p[3] - p[1]) > 0 and d * (p[5] - p[3]) > 0
        # ratios inside the Fibonacci bands (docs/scan.md), widened by the documented noise factor
        assert band_ok(imp.ratios, noise), imp.ratios
        # durations and span
        assert D[2] >= D[0] and 0.5 <= D[4] / D[0] <= 1.5 and min(D) >= 3
        assert S.SPAN[0] <= t[5] - t[0] <= S.SPAN[1]
        # prices are the bars' extremes; each wave's end is the strict extreme of the wave's bars
        for w in range(6):
            is_low = (w % 2 == 0) == (d > 0)
            assert p[w] == (s.low[t[w]] if is_low else s.high[t[w]])
        for w in range(1, 6):
            a, b = t[w - 1], t[w]
            hi_bar, lo_bar = (b, a) if (p[w] > p[w - 1]) else (a, b)
            seg_h, seg_l = s.high[a : b + 1], s.low[a : b + 1]
            assert np.argmax(seg_h) + a == hi_bar and np.sum(seg_h == seg_h.max()) == 1
            assert np.argmin(seg_l) + a == lo_bar and np.sum(seg_l == seg_l.min()) == 1
            # the reversal at every pivot exceeds 3 % (by construction >= 6 %)
            assert abs(p[w] - p[w - 1]) / max(p[w], p[w - 1]) >= S.MIN_SWING - 1e-12
        # p0: reached by a move of >= 6 % (the lead-in) during which nothing goes beyond p0
        sgn = 1 if d > 0 else -1  # p0 is a low (bullish) or a high (bearish)
        far = (s.high >= p[0] / (1 - S.MIN_SWING)) if d > 0 else (s.low <= p[0] * (1 - S.MIN_SWING))
        j = np.flatnonzero(far[: t[0]])[-1]
        assert t[0] - j <= S.LEAD_IN_BARS[1] + 1
        beyond = s.low[j : t[0]] <= p[0] if sgn > 0 else s.high[j : t[0]] >= p[0]
        assert not beyond.any()
        # p5: a move of >= 6 % away follows before anything goes beyond p5 (the lead-out)
        far = (s.low <= p[5] * (1 - S.MIN_SWING)) if d > 0 else (s.high >= p[5] / (1 - S.MIN_SWING))
        k = t[5] + 1 + np.flatnonzero(far[t[5] + 1 :])[0]
        assert k - t[5] <= S.LEAD_OUT_BARS[1]
        beyond = s.high[t[5] + 1 : k + 1] >= p[5] if d > 0 else s.low[t[5] + 1 : k + 1] <= p[5]
        assert not beyond.any()
    assert count >= len(SEEDS) * PER_SEED  # about 2 per 2000-bar symbol at the default rate


@pytest.mark.parametrize("same_bar", [False, True])
def test_three_percent_zigzag_finds_exactly_the_six_pivots(same_bar):
    for seed in range(4):
        src = universe(seed)
        for name in src.names():
            s = src.load(name)
            piv = zigzag(s.high, s.low, same_bar=same_bar)
            bars = [b for b, _ in piv]
            for imp in src.truth(name):
                j = bars.index(imp.t[0])
                assert bars[j : j + 6] == list(imp.t)
                kinds = [k for _, k in piv[j : j + 6]]
                assert kinds == [-imp.direction * (-1) ** w for w in range(6)]


def score(imp):
    """The score S (docs/scan.md) of the planted pattern (written from the spec, for this test)."""
    L, D, r = imp.legs, imp.durations, imp.ratios
    parts = []
    for k, (lo, m, hi) in S.BANDS.items():
        x = r[k]
        ok = lo - 0.05 <= x <= hi + 0.05
        parts.append(min(1.0, max(0.0, 1 - 0.5 * abs(x - m) / ((hi - lo) / 2))) if ok else 0.0)
    F = sum(parts) / 4
    T = 0.5 + 0.25 * (D[2] >= D[0]) + 0.25 * (0.5 <= D[4] / D[0] <= 1.5)
    A = 0.5 * (min(1, 2 * abs(r["r2"] - r["r4"])) + min(1, abs(D[1] - D[3]) / max(D[1], D[3])))
    t, p = imp.t, imp.p
    slope = (p[4] - p[2]) / (t[4] - t[2])
    C = min(1.0, max(0.0, 1 - abs(p[5] - (p[3] + slope * (t[5] - t[3]))) / L[2]))
    return 0.4 * F + 0.2 * T + 0.2 * A + 0.2 * C


def test_planted_patterns_score_high_at_default_noise():
    scores = np.array([score(imp) for _, imp in all_impulses(0.1)])
    assert scores.min() >= 0.7 and np.median(scores) >= 0.8


def test_bars_valid_and_count_of_plants():
    src = universe(3, n=4, bars=5000, rate=2.0)
    for name in src.names():
        s = src.load(name)  # validated by the same rules as every source
        assert s.has_ohlc and len(s) == 5000
        assert np.all(s.high >= np.maximum(s.open, s.close))
        assert np.all(s.low <= np.minimum(s.open, s.close))
        assert len(src.truth(name)) == 10
        t = [imp.t for imp in src.truth(name)]
        assert all(a[5] < b[0] for a, b in zip(t, t[1:]))
    flat = universe(3, rate=0.0, n=3)
    assert all(flat.truth(n) == () for n in flat.names())


def test_determinism_alone_equals_batch():
    batch = universe(11, n=6)
    series = {name: batch.load(name) for name in batch.names()}
    for name in reversed(batch.names()[::2]):  # a rank with a subset, in another order
        S.generate.cache_clear()
        alone = universe(11, n=6).load(name)
        for k in ("time", "open", "high", "low", "close"):
            assert np.array_equal(getattr(alone, k), getattr(series[name], k))
        assert universe(11, n=6).truth(name) == batch.truth(name)
    other = universe(12, n=6).load("SYN0000")
    assert not np.array_equal(other.close, series["SYN0000"].close)


def test_names_index_and_errors():
    src = open_source("synthetic:12000", synthetic_bars=600, min_bars=500)
    names = src.names()
    assert names[0] == "SYN00000" and names[-1] == "SYN11999" and len(names) == 12000
    assert src.index()[:2] == [("SYN00000", 600), ("SYN00001", 600)]
    assert len(src.load("SYN11999")) == 600
    with pytest.raises(Exception, match="no symbol 'SYN0001'"):
        src.load("SYN0001")
    assert "seed 0" in src.describe() and "noise 0.1" in src.describe()


def test_time_axis():
    t = S.time_axis(5)
    assert t.dtype == np.int64
    assert [str(x)[:10] for x in t.view("datetime64[ns]")] == [
        "2000-01-03",
        "2000-01-04",
        "2000-01-05",
        "2000-01-06",
        "2000-01-07",
    ]
    long = S.time_axis(70_000)
    assert np.all(np.diff(long) == 60_000_000_000)
