"""The NumPy reference scan of one window: the specification of docs/scan.md as plain, readable code.

This is the implementation the tests trust; the Numba and array-module backends must reproduce its
integer outputs exactly. It is deliberately direct: one window at a time, wave ends checked against
the bars themselves, a depth-first search in the fixed order that also defines the budget.

Start points: every pivot of the right kind in the window (lows for bullish, highs for bearish),
or with n_starts > 0 only the n_starts most extreme per direction (windows.start_points). Start
rule, checked at p1 (docs/scan.md "Start points"): the swing that ended at p0 (kernels.swing) must
be at least start_ratio * L1, L1 = |p1 - p0|.

Fixed order (also the budget order): the window's start points in bar order (each searched in its
own direction); from one start, candidates come in depth-first order with the skip count s of wave
1, then wave 2, ... ascending (i.e. lexicographic order of the pivot indices). Each complete six-pivot sequence reached counts as one *visited* candidate; the
(max_combinations + 1)-th one is not examined: it sets the window's `truncated` flag and ends the
window's search. Everything counted before that point is reported.

What a window sees: the pivots with a bar in it that the zig-zag confirmed by its last bar we
(known <= we), so nothing after we changes the window's search (point in time).

Wave validity (docs/scan.md): *both* ends of a wave are the extremes of the bars it spans (both ends
included; equality allowed): no bar of an up wave has a Low below its start or a High above its end,
and the reverse for a down wave. A wave whose bars go beyond its start is refused, and with it every
longer wave from the same pivot (their bars include those): the extension stops there, counted once
as `rejected_extreme`. A wave whose end is not the extreme of its bars is refused and counted; longer
waves from the same pivot are still tried.

Pruning and counting: a partial sequence is pruned, and counted for the rule that pruned it, as soon
as a rule can be decided: the start rule at p1, R1 at p2, R4 (p3 vs p1, when R4 is on) at p3, R3 at
p4; at p5 the complete candidate counts as visited and then R2, then R4 (p5 vs p3) are checked.
`valid` counts the visited candidates that passed every rule; they are scored and ranked (S desc,
t0 asc, then pivot bars).
"""

from __future__ import annotations

import numpy as np

from .score import score_terms
from .windows import start_points, visible_pivots

#: per-window counters, in the order every backend reports them
STATS = (
    "rejected_extreme",
    "rejected_start",
    "rejected_r1",
    "rejected_r2",
    "rejected_r3",
    "rejected_r4",
    "visited",
    "valid",
)
EXT, START, R1, R2, R3, R4, VISITED, VALID = range(8)


class _BudgetHit(Exception):
    pass


def window_start_order(piv_t, piv_kind, piv_price, piv_known, ws, we, directions, n_starts):
    """[(d, start pivot index)] in the fixed order: bar order (n_starts 0: every pivot)."""
    order = [
        (d, q)
        for d in directions
        for q in start_points(piv_t, piv_kind, piv_price, piv_known, ws, we, d, n_starts)
    ]
    return sorted(order, key=lambda dq: dq[1])


def scan_window(
    high,
    low,
    piv_t,
    piv_kind,
    piv_price,
    piv_known,
    ws,
    we,
    *,
    swing,
    directions=(1, -1),
    n_starts=0,
    start_ratio=0.382,
    up_to=2,
    budget=100_000,
    top_k=5,
    rule_r4=True,
    tol=0.05,
    weights=(0.4, 0.2, 0.2, 0.2),
):
    """Scan bars [ws, we] (inclusive) of one symbol whose pivots are (piv_t, piv_kind, piv_price);
    swing: the swing ending at each pivot (kernels.swing.swings).

    Returns (stats: int64[8] in STATS order, truncated: bool, top: list of (S, idx) best first,
    idx a tuple of six pivot indices).
    """
    stats = np.zeros(len(STATS), dtype=np.int64)
    kept = []  # (S, idx)
    b = int(visible_pivots(piv_known, we))  # pivots with index < b are confirmed by the window's end
    wF, wT, wA, wC = weights
    state = {"truncated": False}

    def wave_ok(i, j, up):
        """(start ok, end ok): pivot i / pivot j the extreme of the bars the wave spans."""
        bars = slice(int(piv_t[i]), int(piv_t[j]) + 1)
        if up:
            return piv_price[i] <= low[bars].min(), piv_price[j] >= high[bars].max()
        return piv_price[i] >= high[bars].max(), piv_price[j] <= low[bars].min()

    def rule_at(seq, d):
        """Rule (START, R1..R4) that prunes this partial sequence now, else 0 (depths 1-4)."""
        p = [piv_price[i] for i in seq]
        depth = len(seq) - 1
        if depth == 1 and not swing[seq[0]] >= start_ratio * abs(p[1] - p[0]):
            return START
        if depth == 2 and not d * (p[2] - p[0]) > 0:
            return R1
        if depth == 3 and rule_r4 and not d * (p[3] - p[1]) > 0:
            return R4
        if depth == 4 and not d * (p[4] - p[1]) > 0:
            return R3
        return 0

    def complete(seq, d):
        if stats[VISITED] == budget:
            state["truncated"] = True
            raise _BudgetHit
        stats[VISITED] += 1
        p = [float(piv_price[i]) for i in seq]
        t = [int(piv_t[i]) for i in seq]
        L1, L3, L5 = abs(p[1] - p[0]), abs(p[3] - p[2]), abs(p[5] - p[4])
        if L3 < min(L1, L5):
            stats[R2] += 1
            return
        if rule_r4 and not d * (p[5] - p[3]) > 0:
            stats[R4] += 1
            return
        stats[VALID] += 1
        S = score_terms(*p, *t, tol, wF, wT, wA, wC)[0]
        kept.append((S, tuple(seq)))

    def extend(seq, d):
        depth = len(seq)  # the wave being added: 1..5
        up = (depth % 2 == 1) == (d > 0)  # waves 1, 3, 5 move in direction d
        i = seq[-1]
        for s in range(up_to + 1):
            j = i + 1 + 2 * s
            if j >= b:
                break
            start_ok, end_ok = wave_ok(i, j, up)
            if not start_ok:  # so does every longer wave from i
                stats[EXT] += 1
                break
            if not end_ok:
                stats[EXT] += 1
                continue
            nxt = seq + [j]
            if depth == 5:
                complete(nxt, d)
                continue
            rule = rule_at(nxt, d)
            if rule:
                stats[rule] += 1
                continue
            extend(nxt, d)

    try:
        for d, q in window_start_order(piv_t, piv_kind, piv_price, piv_known, ws, we, directions, n_starts):
            extend([q], d)
    except _BudgetHit:
        pass
    kept.sort(key=lambda c: (-c[0], [int(piv_t[i]) for i in c[1]]))
    return stats, state["truncated"], kept[:top_k]


def scan_windows(
    high,
    low,
    t,
    kind,
    price,
    known,
    glob_starts,
    window_bars,
    w0,
    w1,
    skip,
    *,
    swing,
    directions,
    n_starts,
    start_ratio,
    up_to,
    budget,
    top_k,
    rule_r4,
    tol,
    weights,
):
    """scan_window over windows w0..w1-1; same return form as numba_scan.scan_windows."""
    nW = w1 - w0
    stats = np.zeros((nW, len(STATS)), dtype=np.int64)
    truncated = np.zeros(nW, dtype=bool)
    top = np.full((nW, top_k), -1, dtype=np.int64)
    rows: dict = {}
    for k in range(nW):
        if skip[k]:
            continue
        ws = int(glob_starts[w0 + k])
        st, tr, best = scan_window(
            high,
            low,
            t,
            kind,
            price,
            known,
            ws,
            ws + window_bars - 1,
            swing=swing,
            directions=directions,
            n_starts=n_starts,
            start_ratio=start_ratio,
            up_to=up_to,
            budget=budget,
            top_k=top_k,
            rule_r4=rule_r4,
            tol=tol,
            weights=weights,
        )
        stats[k] = st
        truncated[k] = tr
        for r, (_, idx) in enumerate(best):
            top[k, r] = rows.setdefault(idx, len(rows))
    cand_idx = np.array(list(rows), dtype=np.int64).reshape(-1, 6)
    return stats, truncated, top, cand_idx
