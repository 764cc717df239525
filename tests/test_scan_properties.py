"""Property tests on random series (hypothesis): pivots, and the candidate search against an
independent brute-force enumerator written here from docs/scan.md, "The impulse" (not from the engine's code).

The brute force lists every six-pivot sequence from each window's start points (all skip
combinations) among the pivots the window can see (a bar in it, confirmed by its last bar), checks
on the bars themselves that both ends of every wave are the extremes of the bars it spans, the rules
and the score with its own formulas, and also derives the per-window counters from the counting
rules documented in mpiapp/kernels/reference.py (which rule prunes at which depth; a wave that goes
beyond its start ends the extension from that pivot, counted once).
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpiapp.kernels import numba_scan, xp_scan
from mpiapp.kernels import pivots as pv
from mpiapp.kernels import reference as ref
from mpiapp.kernels import swing as sw
from mpiapp.kernels import windows as win

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

BANDS = {2: (0.382, 0.786, 0.618), 3: (1.0, 2.618, 1.618), 4: (0.236, 0.5, 0.382), 5: (0.618, 1.618, 1.0)}


# ---- series ------------------------------------------------------------------------------------
@st.composite
def bars(draw, n_min=60, n_max=120):
    """A seeded random series: a plain random walk, or alternating swings (1-8 bars, 1-15 %) that
    form many pivots and impulse-like structures; close-only or with wicks."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(n_min, n_max))
    if draw(st.booleans()):
        rets = rng.normal(0.0, draw(st.sampled_from([0.01, 0.02, 0.04])), n - 1)
    else:
        rets, sign = [], 1.0
        while len(rets) < n - 1:
            dur = int(rng.integers(1, 9))
            rets += [sign * rng.uniform(0.01, 0.15) / dur] * dur
            sign = -sign
        rets = np.array(rets[: n - 1]) + rng.normal(0.0, draw(st.sampled_from([0.0, 0.003, 0.01])), n - 1)
    close = 100.0 * np.exp(np.cumsum(np.r_[0.0, rets]))
    if draw(st.booleans()):  # OHLC with wicks
        wick = draw(st.sampled_from([0.002, 0.01]))
        opn = np.r_[close[0], close[:-1]]
        high = np.maximum(opn, close) * (1 + wick * rng.random(n))
        low = np.minimum(opn, close) * (1 - wick * rng.random(n))
    else:
        high = low = close
    return high, low, close


# ---- brute force ---------------------------------------------------------------------------------
def brute_score(p, t, tol, w):
    L = [abs(p[i] - p[i - 1]) for i in range(1, 6)]
    r = {2: L[1] / L[0], 3: L[2] / L[0], 4: L[3] / L[2], 5: L[4] / L[0]}

    def band(x, lo, hi, m):
        if x < lo - tol or x > hi + tol:
            return 0.0
        return min(1.0, max(0.0, 1 - 0.5 * abs(x - m) / ((hi - lo) / 2)))

    F = sum(band(r[k], *BANDS[k]) for k in (2, 3, 4, 5)) / 4
    D = [t[i] - t[i - 1] for i in range(1, 6)]
    T = 0.5 + 0.25 * (D[2] >= D[0]) + 0.25 * (0.5 <= D[4] / D[0] <= 1.5)
    A = 0.5 * (min(1.0, 2 * abs(r[2] - r[4])) + min(1.0, abs(D[1] - D[3]) / max(D[1], D[3])))
    par = p[3] + (p[4] - p[2]) / (t[4] - t[2]) * (t[5] - t[3])
    C = min(1.0, max(0.0, 1 - abs(p[5] - par) / L[2]))
    return w[0] * F + w[1] * T + w[2] * A + w[3] * C


def brute_swing(high, low, pt, pk, i):
    """The move that ended at pivot i, from the most extreme price since the market was last
    beyond it (docs/scan.md "Start points"); inf when no earlier bar is beyond it."""
    t, p = int(pt[i]), pp_of(high, low, pt, pk, i)
    beyond = [b for b in range(t) if (low[b] < p if pk[i] < 0 else high[b] > p)]
    if not beyond:
        return np.inf
    between = range(beyond[-1] + 1, t)
    if not between:
        return 0.0
    return max(high[b] for b in between) - p if pk[i] < 0 else p - min(low[b] for b in between)


def pp_of(high, low, pt, pk, i):
    return high[pt[i]] if pk[i] > 0 else low[pt[i]]


def brute_window(high, low, pt, pk, pp, pkn, ws, we, dirs, K, up_to, r4, tol, w, rho=0.0):
    """(Counter of counters, {bars tuple: S} of valid candidates) for bars [ws, we]. Pivots: a bar
    in the window and confirmed (pkn) by we. Starts: every such pivot of the right kind (K = 0) or
    the K most extreme; start rule with ratio rho at p1."""
    inwin = [i for i in range(len(pt)) if ws <= pt[i] and pkn[i] <= we]
    cnt = Counter()
    valid = {}
    if not inwin:
        return cnt, valid
    last = inwin[-1]

    def ends_ok(i, j, up):
        """(no bar beyond the wave's start, no bar beyond its end) over bars pt[i]..pt[j]."""
        hi = max(high[b] for b in range(pt[i], pt[j] + 1))
        lo = min(low[b] for b in range(pt[i], pt[j] + 1))
        return (pp[i] <= lo, pp[j] >= hi) if up else (pp[i] >= hi, pp[j] <= lo)

    def extreme_ok(i, j, up):
        return all(ends_ok(i, j, up))

    def pruned_by(seq, d):  # rule deciding a partial sequence of len(seq)-1 waves, if any
        m = len(seq) - 1
        p = [pp[i] for i in seq]
        if m == 1 and not brute_swing(high, low, pt, pk, seq[0]) >= rho * abs(p[1] - p[0]):
            return "rejected_start"
        if m == 2 and not d * (p[2] - p[0]) > 0:
            return "rejected_r1"
        if m == 3 and r4 and not d * (p[3] - p[1]) > 0:
            return "rejected_r4"
        if m == 4 and not d * (p[4] - p[1]) > 0:
            return "rejected_r3"
        return None

    for d in dirs:
        starts = sorted((i for i in inwin if pk[i] == -d), key=lambda i: (d * pp[i], pt[i]))
        starts = starts[:K] if K else starts
        for q in starts:
            for nw in range(1, 6):
                for gaps in itertools.product(range(up_to + 1), repeat=nw):
                    seq = [q]
                    for g in gaps:
                        seq.append(seq[-1] + 1 + 2 * g)
                    if seq[-1] > last:
                        continue
                    ups = [(m % 2 == 1) == (d > 0) for m in range(1, nw + 1)]
                    alive = all(extreme_ok(seq[m - 1], seq[m], ups[m - 1]) for m in range(1, nw))
                    alive = alive and all(pruned_by(seq[: m + 1], d) is None for m in range(1, nw))
                    if not alive:
                        continue
                    start_ok, end_ok = ends_ok(seq[-2], seq[-1], ups[-1])
                    if not start_ok:
                        # counted at the shortest such wave from seq[-2] only (the longer ones
                        # are never tried)
                        g = gaps[-1]
                        if g == 0 or ends_ok(seq[-2], seq[-2] + 1 + 2 * (g - 1), ups[-1])[0]:
                            cnt["rejected_extreme"] += 1
                        continue
                    if not end_ok:
                        cnt["rejected_extreme"] += 1
                        continue
                    if nw < 5:
                        rule = pruned_by(seq, d)
                        if rule:
                            cnt[rule] += 1
                        continue
                    cnt["visited"] += 1
                    p = [pp[i] for i in seq]
                    t = [int(pt[i]) for i in seq]
                    if abs(p[3] - p[2]) < min(abs(p[1] - p[0]), abs(p[5] - p[4])):
                        cnt["rejected_r2"] += 1
                        continue
                    if r4 and not d * (p[5] - p[3]) > 0:
                        cnt["rejected_r4"] += 1
                        continue
                    # the full rule set, written once more as stated in docs/scan.md
                    assert d * (p[2] - p[0]) > 0 and d * (p[4] - p[1]) > 0
                    cnt["valid"] += 1
                    valid[tuple(t)] = brute_score(p, t, tol, w)
    return cnt, valid


# ---- the pivots ----------------------------------------------------------------------------------
@SETTINGS
@given(
    data=st.data(),
    mode=st.sampled_from(["percent", "atr"]),
    pct=st.sampled_from([0.01, 0.03]),
    per=st.integers(1, 10),
    mult=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_pivots_alternate_and_are_extremes(data, mode, pct, per, mult):
    high, low, close = data.draw(bars(10, 120))
    if mode == "percent" and high is not low:
        # the exact property needs bars narrower than the threshold (docs/scan.md): clip wicks
        mid = np.sqrt(high * low)
        half = np.minimum(np.sqrt(high / low), np.sqrt(1 + pct * 0.9))
        high, low = mid * half, mid / half
        close = np.clip(close, low, high)
    if mode == "atr":
        high = low = close  # close-only: no outside bars
    p = pv.pivots(high, low, close, mode=mode, pct=pct, atr_period=per, atr_multiple=mult)
    q = pv.pivots(
        high, low, close, mode=mode, pct=pct, atr_period=per, atr_multiple=mult, core=numba_scan.zigzag_nb
    )
    assert np.array_equal(p.t, q.t) and np.array_equal(p.kind, q.kind)
    t, k, n = p.t, p.kind, len(close)
    assert np.all(np.diff(t) > 0) and np.all(k[1:] != k[:-1])
    for m in range(len(t)):
        a = t[m - 1] + 1 if m else 0
        b = t[m + 1] if m + 1 < len(t) else n
        if k[m] == 1:
            assert p.price[m] == high[t[m]] and high[t[m]] >= high[a:b].max()
        else:
            assert p.price[m] == low[t[m]] and low[t[m]] <= low[a:b].min()


# ---- the search ---------------------------------------------------------------------------------
@SETTINGS
@given(
    data=st.data(),
    pct=st.sampled_from([0.01, 0.02, 0.04]),
    up_to=st.integers(0, 3),
    K=st.integers(0, 4),
    top_k=st.integers(1, 5),
    r4=st.booleans(),
    dirs=st.sampled_from([(1, -1), (1,), (-1,)]),
    overlap=st.sampled_from([0.0, 0.5, 0.9]),
    rho=st.sampled_from([0.0, 0.382, 1.0]),
)
def test_search_matches_brute_force(data, pct, up_to, K, top_k, r4, dirs, overlap, rho):
    high, low, close = data.draw(bars())
    n = len(close)
    wb = n - data.draw(st.integers(0, n // 2))
    piv = pv.pivots(high, low, close, mode="percent", pct=pct)
    pt, pk, pp, pkn = piv.t, piv.kind, piv.price, piv.known
    step = win.window_step(wb, overlap)
    gs = win.window_starts(n, wb, step, 6)
    nW = len(gs)
    tol, w = 0.05, (0.4, 0.2, 0.2, 0.2)
    kw = dict(
        directions=dirs,
        n_starts=K,
        up_to=up_to,
        budget=10**9,
        top_k=top_k,
        rule_r4=r4,
        tol=tol,
        weights=w,
        start_ratio=rho,
        swing=sw.swings(high, low, pt, pk),
    )
    skip = np.zeros(nW, dtype=bool)
    seg_hi, seg_lo = pv.segment_extremes(high, low, pt)
    res = {
        "numpy": ref.scan_windows(high, low, pt, pk, pp, pkn, gs, wb, 0, nW, skip, **kw),
        "numba": numba_scan.scan_windows(pt, pk, pp, pkn, seg_hi, seg_lo, gs, wb, step, 0, nW, skip, **kw),
        "xp": xp_scan.scan_windows(
            pt, pk, pp, pkn, seg_hi, seg_lo, gs, wb, step, 0, nW, skip, xp=np, batch=7, **kw
        ),
    }
    for name, (stats, trunc, top, cand) in res.items():
        assert not trunc.any()
        for k in range(nW):
            ws = int(gs[k])
            cnt, valid = brute_window(
                high, low, pt, pk, pp, pkn, ws, ws + wb - 1, dirs, K, up_to, r4, tol, w, rho
            )
            assert dict(zip(ref.STATS, stats[k].tolist())) == {s: cnt.get(s, 0) for s in ref.STATS}, name
            rows = [r for r in top[k] if r >= 0]
            got = [tuple(int(pt[i]) for i in cand[r]) for r in rows]
            assert len(got) == min(top_k, len(valid)), name
            for g in got:  # every reported candidate is valid (R1-R4, extremes), same S
                assert g in valid, (name, g)
                assert ws <= g[0] and g[5] <= ws + wb - 1
            if got:
                floor = min(valid[g] for g in got)
                missing = [c for c in valid if c not in got and valid[c] > floor + 1e-9]
                assert not missing, (name, missing)
                # and the reported ones come in the scan's order (S desc, then bars)
                keys = [(-valid[g], g) for g in got]
                for a, b in zip(keys, keys[1:]):
                    assert a[0] < b[0] + 1e-9 and (abs(a[0] - b[0]) > 1e-9 or a[1] < b[1])
    # backends: integers identical
    for name in ("numba", "xp"):
        a, b = res["numpy"], res[name]
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for k in range(nW):
            ra = [tuple(a[3][r]) for r in a[2][k] if r >= 0]
            rb = [tuple(b[3][r]) for r in b[2][k] if r >= 0]
            assert ra == rb, name


@SETTINGS
@given(data=st.data(), budget=st.integers(1, 12), up_to=st.integers(1, 3))
def test_budget_same_in_all_backends(data, budget, up_to):
    """Small budgets: flags, counters and top-k identical across backends; the flag means that
    more complete candidates existed than the budget allowed."""
    high, low, close = data.draw(bars(40, 90))
    n = len(close)
    piv = pv.pivots(high, low, close, mode="percent", pct=0.01)
    pt, pk, pp, pkn = piv.t, piv.kind, piv.price, piv.known
    wb = max(12, n // 2)
    step = win.window_step(wb, 0.8)
    gs = win.window_starts(n, wb, step, 50)
    nW = len(gs)
    skip = np.zeros(nW, dtype=bool)
    seg_hi, seg_lo = pv.segment_extremes(high, low, pt)
    kw = dict(
        directions=(1, -1),
        n_starts=0,
        up_to=up_to,
        top_k=3,
        rule_r4=True,
        tol=0.05,
        weights=(0.4, 0.2, 0.2, 0.2),
        start_ratio=0.382,
        swing=sw.swings(high, low, pt, pk),
    )
    full = ref.scan_windows(high, low, pt, pk, pp, pkn, gs, wb, 0, nW, skip, budget=10**9, **kw)
    a = ref.scan_windows(high, low, pt, pk, pp, pkn, gs, wb, 0, nW, skip, budget=budget, **kw)
    b = numba_scan.scan_windows(
        pt, pk, pp, pkn, seg_hi, seg_lo, gs, wb, step, 0, nW, skip, budget=budget, **kw
    )
    vis = ref.STATS.index("visited")
    assert np.array_equal(a[1], full[0][:, vis] > budget)
    assert np.all(a[0][a[1], vis] == budget) and np.all(a[0][:, vis] <= budget)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    for k in range(nW):
        assert [tuple(a[3][r]) for r in a[2][k] if r >= 0] == [tuple(b[3][r]) for r in b[2][k] if r >= 0]


@SETTINGS
@given(data=st.data(), pct=st.sampled_from([0.01, 0.03]))
def test_swing_into_each_pivot_matches_brute_force(data, pct):
    high, low, close = data.draw(bars(10, 120))
    piv = pv.pivots(high, low, close, mode="percent", pct=pct)
    a = sw.swings(high, low, piv.t, piv.kind)
    b = sw.swings(high, low, piv.t, piv.kind, core=numba_scan.swing_nb)
    expect = [brute_swing(high, low, piv.t, piv.kind, i) for i in range(len(piv))]
    assert a.tolist() == expect and b.tolist() == expect
