"""Live counts: impulses in progress at a bar, when they were first among the best, and what followed.

A *count* is a valid prefix p0 ... p(k-1) of an impulse (k = 2..5 confirmed pivots) whose wave k runs
from p(k-1) to the bar of evaluation c. The prefix obeys everything the scan asks of a complete
candidate's first k-1 waves (kernels.reference): both ends of every confirmed wave are the
extremes of its bars, up to `up_to` skipped swings a wave, the start rule at p1, R1 at p2, R4's
first half at p3 (when on), R3 at p4. It is *live* at c when

* its last pivot is confirmed by c (c >= known[p(k-1)]: its *birth*),
* it lies within the last `window_bars` bars (t0 > c - window_bars),
* its wave in progress can still be one wave: the pivot after which it could no longer end without
  skipping more than `up_to` swings (p(k-1)'s pivot index + 1 + 2 up_to) is not yet confirmed,
* the wave in progress has broken nothing on bars t(k-1) .. c (its running extreme included):
  wave 2: no bar beyond p0 (R1: the Low stays above p0, bullish) and none beyond p1 (wave 1 would
  extend); wave 3: none beyond p2 (its start); wave 4: none beyond p1 (R3) and none beyond p3
  (wave 3 would extend); wave 5: none beyond p4 (its start) and, when L3 < L1, none beyond
  p4 + d*L3 (R2: wave 3 may not be the shortest). The first bar that breaks one is its *death*.

The live score uses the confirmed waves only, so a count's rank never changes while it lives: the
scan's terms over the waves that exist, each weight renormalised over the terms that exist
(docs/scan.md "Live counts"): F = the mean band score of the ratios whose legs are confirmed (r2 from
k = 3, r3 from k = 4, r4 at k = 5), T = 0.5 + 0.5 [D3 >= D1] from k = 4, A (r2, r4, D2, D4) at k = 5;
C needs p5 and never exists; k = 2 (wave 1 alone) has no term: score 0.

The functions here are scalar code (loops over arrays, no calls to other functions), so the same
source runs as plain Python (the reference) and compiled by Numba (kernels.numba_scan) with
identical results.
"""

from __future__ import annotations

import numpy as np

#: outcome codes (outcome_core)
NONE, TARGET, INVALIDATION, CAP = 0, 1, 2, 3


def prefixes_core(
    t,
    kind,
    price,
    seg_hi,
    seg_lo,
    swing,
    rho,
    q_lo,
    q_hi,
    up_to,
    r4,
    bull,
    bear,
    tol,
    wF,
    wT,
    wA,
    wC,
    fill,
    out_idx,
    out_k,
    out_S,
):
    """Every valid prefix from the start pivots q_lo <= q < q_hi of an allowed kind (lows bullish,
    highs bearish), in start order then depth-first order; returns their number.

    fill: also write each prefix to out_idx[c, 0..4] (pivot indices, -1 beyond k), out_k[c] (k, the
    confirmed pivots: 2..5) and out_S[c] (the live score); else only count. seg_hi/seg_lo: the
    extremes of the bars between consecutive pivots (kernels.pivots.segment_extremes); swing, rho:
    the start rule (swing[q] >= rho * L1).
    """
    npiv = t.shape[0]
    idx = np.empty(5, dtype=np.int64)
    sk = np.empty(5, dtype=np.int64)
    ext = np.empty(5, dtype=np.float64)
    opp = np.empty(5, dtype=np.float64)
    nout = 0
    for q in range(q_lo, q_hi):
        if kind[q] < 0:
            if not bull:
                continue
            d = 1
        else:
            if not bear:
                continue
            d = -1
        fd = float(d)
        idx[0] = q
        depth = 1
        sk[1] = -1
        while depth >= 1:
            sk[depth] += 1
            s = sk[depth]
            if s > up_to:
                depth -= 1
                continue
            i = idx[depth - 1]
            j = i + 1 + 2 * s
            if j >= npiv:
                depth -= 1
                continue
            up = (depth % 2 == 1) == (d > 0)
            if up:
                if s == 0:
                    e = seg_hi[i]
                    o = seg_lo[i]
                else:
                    e = max(ext[depth], max(seg_hi[j - 2], seg_hi[j - 1]))
                    o = min(opp[depth], min(seg_lo[j - 2], seg_lo[j - 1]))
                start_ok = price[i] <= o
                ok = price[j] >= e
            else:
                if s == 0:
                    e = seg_lo[i]
                    o = seg_hi[i]
                else:
                    e = min(ext[depth], min(seg_lo[j - 2], seg_lo[j - 1]))
                    o = max(opp[depth], max(seg_hi[j - 2], seg_hi[j - 1]))
                start_ok = price[i] >= o
                ok = price[j] <= e
            ext[depth] = e
            opp[depth] = o
            if not start_ok:  # every longer wave from i spans these bars too
                depth -= 1
                continue
            if not ok:
                continue
            idx[depth] = j
            if depth == 1:
                if not swing[q] >= rho * abs(price[j] - price[q]):
                    continue
            elif depth == 2:
                if not fd * (price[j] - price[idx[0]]) > 0.0:
                    continue
            elif depth == 3:
                if r4 and not fd * (price[j] - price[idx[1]]) > 0.0:
                    continue
            elif depth == 4:
                if not fd * (price[j] - price[idx[1]]) > 0.0:
                    continue
            # a valid prefix of depth + 1 pivots
            if fill:
                k = depth + 1
                for m in range(5):
                    out_idx[nout, m] = idx[m] if m < k else -1
                out_k[nout] = k
                S = 0.0
                if k >= 3:
                    p0 = price[idx[0]]
                    p1 = price[idx[1]]
                    p2 = price[idx[2]]
                    L1 = abs(p1 - p0)
                    L2 = abs(p2 - p1)
                    r2 = L2 / L1
                    F = 0.0
                    nF = 0
                    for b in range(3):
                        if b == 0:
                            r, lo, hi, mid = r2, 0.382, 0.786, 0.618
                        elif b == 1:
                            if k < 4:
                                break
                            r, lo, hi, mid = abs(price[idx[3]] - p2) / L1, 1.0, 2.618, 1.618
                        else:
                            if k < 5:
                                break
                            L3 = abs(price[idx[3]] - p2)
                            r, lo, hi, mid = abs(price[idx[4]] - price[idx[3]]) / L3, 0.236, 0.5, 0.382
                        sc = 0.0
                        if r >= lo - tol and r <= hi + tol:
                            sc = 1.0 - 0.5 * abs(r - mid) / ((hi - lo) / 2.0)
                            sc = min(max(sc, 0.0), 1.0)
                        F = F + sc
                        nF += 1
                    F = F / nF
                    num = wF * F
                    den = wF
                    if k >= 4:
                        D1 = t[idx[1]] - t[idx[0]]
                        D3 = t[idx[3]] - t[idx[2]]
                        T = 0.5
                        if D3 >= D1:
                            T = 1.0
                        num = num + wT * T
                        den = den + wT
                    if k >= 5:
                        L3 = abs(price[idx[3]] - p2)
                        r4v = abs(price[idx[4]] - price[idx[3]]) / L3
                        D2 = t[idx[2]] - t[idx[1]]
                        D4 = t[idx[4]] - t[idx[3]]
                        a1 = min(1.0, 2.0 * abs(r2 - r4v))
                        a2 = min(1.0, abs(D2 - D4) / max(D2, D4))
                        num = num + wA * (0.5 * (a1 + a2))
                        den = den + wA
                    S = num / den if den > 0.0 else 0.0
                out_S[nout] = S
            nout += 1
            if depth < 4:
                depth += 1
                sk[depth] = -1
    return nout


def life_core(high, low, t, price, known, idx, k, direction, window_bars, up_to, n, out_death):
    """out_death[c]: the first bar at which prefix c stops being live after its last pivot - the
    first bar from t(k-1) on that breaks a rule of its wave in progress (module docstring), or
    t0 + window_bars (it leaves the last window), or the bar confirming the pivot after which its
    wave in progress would have skipped more than up_to swings, or n (live at the series end)."""
    npiv = t.shape[0]
    for c in range(idx.shape[0]):
        kk = k[c]
        d = float(direction[c])
        a = t[idx[c, kk - 1]]
        end = min(n, t[idx[c, 0]] + window_bars)
        lim = idx[c, kk - 1] + 1 + 2 * up_to
        if lim < npiv and known[lim] < end:
            end = known[lim]
        p0 = price[idx[c, 0]]
        p1 = price[idx[c, 1]]
        lvl_against = 0.0  # dead when d * (against - lvl_against) <= 0 (strict: < 0)
        strict = False
        has_cap = False
        lvl_with = 0.0  # dead when d * (with - lvl_with) > 0
        if kk == 2:
            lvl_against = p0
            has_cap = True
            lvl_with = p1
        elif kk == 3:
            lvl_against = price[idx[c, 2]]
            strict = True
        elif kk == 4:
            lvl_against = p1
            has_cap = True
            lvl_with = price[idx[c, 3]]
        else:
            p4 = price[idx[c, 4]]
            lvl_against = p4
            strict = True
            L1 = abs(p1 - p0)
            L3 = abs(price[idx[c, 3]] - price[idx[c, 2]])
            if L3 < L1:
                has_cap = True
                lvl_with = p4 + d * L3
        death = end
        for b in range(a, end):
            if d > 0:
                against = low[b]
                wth = high[b]
            else:
                against = high[b]
                wth = low[b]
            x = d * (against - lvl_against)
            if (strict and x < 0.0) or (not strict and x <= 0.0):
                death = b
                break
            if has_cap and d * (wth - lvl_with) > 0.0:
                death = b
                break
        out_death[c] = death


def sweep_core(rank_pos, birth, death, top_n, c_from, c_to, out_first, out_last_top):
    """Walk-forward ranking: the live counts at each bar c are those with birth <= c < death;
    rank_pos[c] is a count's place in the fixed rank order (0 = best, a permutation). At every bar
    of c_from .. c_to where the live set changes, the top_n best live counts are looked up;
    out_first[c]: the first such bar at which count c was among them (-1: never);
    out_last_top[0..top_n-1]: the counts in the top at bar c_to, best first (-1 beyond). Returns
    how many there are. A Fenwick tree over rank positions finds the r-th live count in O(log M)."""
    m = rank_pos.shape[0]
    tree = np.zeros(m + 1, dtype=np.int64)
    by_pos = np.empty(m, dtype=np.int64)
    for c in range(m):
        by_pos[rank_pos[c]] = c
        out_first[c] = -1
    # events: (bar, +1 birth / -1 death, count), applied in bar order
    ev_bar = np.empty(2 * m, dtype=np.int64)
    ev_cnt = np.empty(2 * m, dtype=np.int64)
    ne = 0
    for c in range(m):
        if birth[c] < death[c] and birth[c] <= c_to:
            ev_bar[ne] = birth[c]
            ev_cnt[ne] = c + 1
            ne += 1
            ev_bar[ne] = death[c]
            ev_cnt[ne] = -(c + 1)
            ne += 1
    order = np.argsort(ev_bar[:ne], kind="mergesort")
    logm = 1
    while logm * 2 <= m:
        logm *= 2
    live = 0
    e = 0
    nlast = 0
    while e < ne:
        bar = ev_bar[order[e]]
        if bar > c_to:
            break
        while e < ne and ev_bar[order[e]] == bar:
            code = ev_cnt[order[e]]
            c = abs(code) - 1
            delta = 1 if code > 0 else -1
            live += delta
            i = rank_pos[c] + 1
            while i <= m:
                tree[i] += delta
                i += i & (-i)
            e += 1
        nxt = ev_bar[order[e]] if e < ne else c_to + 1
        if nxt > c_from:  # the state at bar max(bar, c_from) .. nxt - 1
            at = max(bar, c_from)
            nlast = 0
            for r in range(1, min(top_n, live) + 1):
                # the r-th live position: descend the tree
                pos = 0
                rem = r
                step = logm
                while step > 0:
                    if pos + step <= m and tree[pos + step] < rem:
                        pos += step
                        rem -= tree[pos]
                    step //= 2
                c = by_pos[pos]
                if out_first[c] < 0:
                    out_first[c] = at
                out_last_top[nlast] = c
                nlast += 1
    for r in range(nlast, top_n):
        out_last_top[r] = -1
    return nlast


def outcome_core(
    high,
    low,
    from_bar,
    start,
    direction,
    target_dir,
    near,
    inval,
    inval_strict,
    cap,
    horizon,
    n,
    out_code,
    out_bars,
):
    """What followed each count c from its bar start[c] on (bars start+1 .. start+horizon, at most
    the series end). direction: the impulse's d (+1 / -1); target_dir: the wave in progress's
    (d for waves 3 and 5, -d for 2 and 4); near: the target band's edge it reaches first.

    out_code[c] = TARGET when a bar reached `near`; INVALIDATION when a bar went beyond `inval`
    against d (strictly when inval_strict, else reaching it is enough); CAP when a bar went beyond
    `cap` (NaN: none) with d; NONE when none of them happened; out_bars[c]: the bars from start to
    that bar (-1 for NONE). A bar that does several at once counts as the breach (invalidation, then
    cap): a bar's High and Low do not say which came first. A count whose wave in progress already
    reached `near` on bars from_bar .. start is TARGET at 0 bars.
    """
    for c in range(start.shape[0]):
        d = float(direction[c])
        w = float(target_dir[c])
        code = NONE
        nb = -1
        s = start[c]
        for b in range(from_bar[c], s + 1):
            fwd = high[b] if w > 0 else low[b]
            if w * (fwd - near[c]) >= 0.0:
                code = TARGET
                nb = 0
                break
        last = min(n - 1, s + horizon)
        b = s + 1
        while code == NONE and b <= last:
            if d > 0:
                against = low[b]
                wth = high[b]
            else:
                against = high[b]
                wth = low[b]
            fwd = high[b] if w > 0 else low[b]
            x = d * (against - inval[c])
            if (inval_strict[c] and x < 0.0) or ((not inval_strict[c]) and x <= 0.0):
                code = INVALIDATION
                nb = b - s
            elif cap[c] == cap[c] and d * (wth - cap[c]) > 0.0:
                code = CAP
                nb = b - s
            elif w * (fwd - near[c]) >= 0.0:
                code = TARGET
                nb = b - s
            b += 1
        out_code[c] = code
        out_bars[c] = nb
