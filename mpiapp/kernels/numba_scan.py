"""Numba backend: candidates enumerated once per symbol and start pivot, then assigned to windows.

Importing this module imports numba (the `numba` backend imports it lazily). Threads: the kernels
use `prange`; the thread count is whatever the runtime set (this module never changes it).

Plan (DESIGN §5 "Where the time goes"): a candidate's validity and score do not depend on the
window, only whether it lies inside it and starts at one of the window's start points. So

1. `start_table` - each window's start points in the fixed order (prange over windows);
2. `enumerate_count` - one depth-first search per distinct start pivot q (prange over q), bounded
   by the end of the last window that uses q; every event (extreme-condition rejection, rule
   rejection, visited, valid) is binned by the first window whose end covers its last bar, and
   the bins are summed up, so a window's counters are a sum of one number per start point;
3. `enumerate_fill` - the same search again, writing the valid candidates (and their S) of each q;
   `sort_segments` orders each q's candidates by (S desc, pivot indices asc);
4. `assign` - per window (prange): counters from the bins; if the window has more visited
   candidates than the budget it is marked for `window_direct`, the per-window search of the
   reference with the budget applied in the fixed order; otherwise its top-k is merged from the
   sorted candidates of its start points that end inside the window.

The search (`_dfs`) is the reference's depth-first search with the same order, pruning and
counting; wave-end extremes come from per-segment extremes of the bars (exact).
"""

from __future__ import annotations

import hashlib
import os
import time

import numba
import numpy as np
from numba import njit, prange

from . import pivots as _pivots
from . import score as _score
from . import swing as _swing


def _cache_dir() -> str:
    """Where Numba caches these kernels: a folder named by a hash of their sources (this file,
    pivots.py, score.py, swing.py). Numba only invalidates a cached function when its *own* file changes,
    not when a function it calls from another file does; a per-source-hash folder makes any edit
    or upgrade of the three files recompile. Base: $NUMBA_CACHE_DIR, else the package's
    __pycache__, else ~/.cache/mpiapp."""
    h = hashlib.sha256()
    for f in (_pivots.__file__, _score.__file__, _swing.__file__, __file__):
        with open(f, "rb") as fh:
            h.update(fh.read())
    name = "mpiapp-numba-" + h.hexdigest()[:16]
    bases = [os.environ.get("NUMBA_CACHE_DIR", ""),
             os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__"),
             os.path.join(os.path.expanduser("~"), ".cache", "mpiapp")]
    for base in bases:
        if not base:
            continue
        try:
            os.makedirs(os.path.join(base, name), exist_ok=True)
        except OSError:
            continue
        if os.access(os.path.join(base, name), os.W_OK):
            return os.path.join(base, name)
    return ""  # Numba's own choice


_saved_cache_dir = numba.config.CACHE_DIR
numba.config.CACHE_DIR = _cache_dir()  # read by njit(cache=True) at decoration; restored below

zigzag_nb = njit(cache=True)(_pivots.zigzag_core)
score_nb = njit(cache=True)(_score.score_terms)
swing_nb = njit(cache=True)(_swing.swing_core)

EXT, START, R1, R2, R3, R4, VISITED, VALID = range(8)  # reference.STATS order
NCODE = 8


@njit(cache=True, inline="always")
def _bin(tj, e0, step, wlo):
    if tj <= e0:
        w = 0
    else:
        w = (tj - e0 + step - 1) // step
    b = w - wlo
    if b < 0:
        b = 0
    return b


@njit(cache=True)
def _dfs(q, d, sw, rho, t, p, seg_hi, seg_lo, jend, tmax, up_to, r4, hist, hbase, hnb, e0, step,
         wlo, budget, fill, out_idx, out_S, pos, do_score, tol, wF, wT, wA, wC):
    """Depth-first search from start pivot q in direction d; sw: the swing that ended at q, rho:
    the start ratio (wave 1 ends with L1 > sw / rho are rejected by the start rule).

    Wave ends are pivots j < jend with t[j] <= tmax. Events go to hist[hbase + code*hnb + bin].
    budget < 0: unlimited; else the (budget+1)-th complete candidate stops the search (hit=True).
    fill: write valid candidates to out_idx[pos + n] (and S to out_S when do_score).
    Returns (visited, valid, hit).
    """
    idx = np.empty(6, dtype=np.int64)
    sk = np.empty(6, dtype=np.int64)
    ext = np.empty(6, dtype=np.float64)
    idx[0] = q
    depth = 1
    sk[1] = -1
    nvis = 0
    nval = 0
    fd = float(d)
    while depth >= 1:
        sk[depth] += 1
        s = sk[depth]
        if s > up_to:
            depth -= 1
            continue
        i = idx[depth - 1]
        j = i + 1 + 2 * s
        if j >= jend:
            depth -= 1
            continue
        tj = t[j]
        if tj > tmax:
            depth -= 1
            continue
        up = (depth % 2 == 1) == (d > 0)
        if up:
            if s == 0:
                e = seg_hi[i]
            else:
                e = max(ext[depth], max(seg_hi[j - 2], seg_hi[j - 1]))
            ext[depth] = e
            ok = p[j] >= e
        else:
            if s == 0:
                e = seg_lo[i]
            else:
                e = min(ext[depth], min(seg_lo[j - 2], seg_lo[j - 1]))
            ext[depth] = e
            ok = p[j] <= e
        if not ok:
            hist[hbase + EXT * hnb + _bin(tj, e0, step, wlo)] += 1
            continue
        idx[depth] = j
        if depth == 1:
            if not sw >= rho * abs(p[j] - p[q]):
                hist[hbase + START * hnb + _bin(tj, e0, step, wlo)] += 1
                continue
        elif depth == 2:
            if not fd * (p[j] - p[idx[0]]) > 0.0:
                hist[hbase + R1 * hnb + _bin(tj, e0, step, wlo)] += 1
                continue
        elif depth == 3:
            if r4 and not fd * (p[j] - p[idx[1]]) > 0.0:
                hist[hbase + R4 * hnb + _bin(tj, e0, step, wlo)] += 1
                continue
        elif depth == 4:
            if not fd * (p[j] - p[idx[1]]) > 0.0:
                hist[hbase + R3 * hnb + _bin(tj, e0, step, wlo)] += 1
                continue
        if depth < 5:
            depth += 1
            sk[depth] = -1
            continue
        # a complete candidate
        if budget >= 0 and nvis >= budget:
            return nvis, nval, True
        nvis += 1
        bn = _bin(tj, e0, step, wlo)
        hist[hbase + VISITED * hnb + bn] += 1
        p0 = p[idx[0]]
        p1 = p[idx[1]]
        p2 = p[idx[2]]
        p3 = p[idx[3]]
        p4 = p[idx[4]]
        p5 = p[j]
        L1 = abs(p1 - p0)
        L3 = abs(p3 - p2)
        L5 = abs(p5 - p4)
        if L3 < min(L1, L5):
            hist[hbase + R2 * hnb + bn] += 1
            continue
        if r4 and not fd * (p5 - p3) > 0.0:
            hist[hbase + R4 * hnb + bn] += 1
            continue
        hist[hbase + VALID * hnb + bn] += 1
        if fill:
            r = pos + nval
            for k in range(6):
                out_idx[r, k] = idx[k]
            if do_score:
                out_S[r] = score_nb(p0, p1, p2, p3, p4, p5, t[idx[0]], t[idx[1]], t[idx[2]],
                                    t[idx[3]], t[idx[4]], tj, tol, wF, wT, wA, wC)[0]
        nval += 1
    return nvis, nval, False


# non-literal constants, so that every caller shares one compiled _dfs
_I = np.int64
_B = np.bool_


@njit(parallel=True, cache=True)
def start_table(t, kind, price, ws, we, skip, n_starts, bull, bear, width):
    """(nW, width) start pivots per window in bar order, -1 after the last. n_starts 0: every pivot
    of an allowed kind in the window (lows: bullish, highs: bearish); n_starts > 0: the n_starts
    most extreme per direction (lowest lows, highest highs; equal prices: earlier bar first)."""
    nW = ws.shape[0]
    out = np.full((nW, width), -1, dtype=np.int64)
    K = n_starts
    for w in prange(nW):
        if skip[w]:
            continue
        a = np.searchsorted(t, ws[w], side="left")
        b = np.searchsorted(t, we[w], side="right")
        if K == 0:
            m = 0
            for i in range(a, b):
                if (kind[i] < 0 and bull) or (kind[i] > 0 and bear):
                    out[w, m] = i
                    m += 1
            continue
        sel = np.full(2 * K, -1, dtype=np.int64)
        ns = 0
        for di in range(2):
            d = 1 if di == 0 else -1
            if (d == 1 and not bull) or (d == -1 and not bear):
                continue
            best = np.full(K, -1, dtype=np.int64)
            nb = 0
            for i in range(a, b):
                if kind[i] != -d:
                    continue
                v = d * price[i]
                # insertion into best[0:nb] ordered by (d*price, t) ascending; i comes after all
                # earlier pivots, so on equal value it goes after them
                pos = nb
                while pos > 0 and d * price[best[pos - 1]] > v:
                    pos -= 1
                if pos >= K:
                    continue
                last = nb if nb < K else K - 1
                for m in range(last, pos, -1):
                    best[m] = best[m - 1]
                best[pos] = i
                if nb < K:
                    nb += 1
            for r in range(nb):
                sel[ns] = best[r]
                ns += 1
        srt = np.sort(sel[:ns])
        for r in range(ns):
            out[w, r] = srt[r]
    return out


@njit(parallel=True, cache=True)
def enumerate_count(q_piv, q_d, q_tmax, q_wlo, q_nb, hist_off, hist, swing, rho, t, p, seg_hi,
                    seg_lo, up_to, r4, e0, step, cap, valid_n, visited_n, saturated):
    """Pass 1: per start slot, binned event counts (then summed up over bins) and valid count.

    cap: the window budget. The search from one start stops at its (cap+1)-th complete candidate
    (the reference stops a window there, so no window needs more from one start); such a slot is
    `saturated` and its bins are incomplete. visited_n: complete candidates per slot (<= cap)."""
    nQ = q_piv.shape[0]
    npiv = t.shape[0]
    di = np.empty((0, 6), dtype=np.int64)
    ds = np.empty(0, dtype=np.float64)
    for k in prange(nQ):
        nb = q_nb[k]
        base = hist_off[k]
        q = q_piv[k]
        nvis, nval, hit = _dfs(q, q_d[k], swing[q], rho, t, p, seg_hi, seg_lo, npiv, q_tmax[k],
                               up_to, r4, hist, base, nb, e0, step, q_wlo[k], cap, _B(False), di,
                               ds, base, _B(False), 0.0, 0.0, 0.0, 0.0, 0.0)
        valid_n[k] = nval
        visited_n[k] = nvis
        saturated[k] = hit
        for c in range(NCODE):
            acc = 0
            for b in range(nb):
                acc += hist[base + c * nb + b]
                hist[base + c * nb + b] = acc


@njit(parallel=True, cache=True)
def enumerate_fill(q_piv, q_d, q_tmax, swing, rho, t, p, seg_hi, seg_lo, up_to, r4, cap, valid_off,
                   out_idx, out_S, do_score, tol, wF, wT, wA, wC):
    """Pass 2: write each start slot's valid candidates (DFS order) and, if do_score, their S,
    then order the slot's rows (_sort_segment); the same search as pass 1, stopped at the same
    point (cap). Slots without valid candidates are not searched again."""
    nQ = q_piv.shape[0]
    npiv = t.shape[0]
    for k in prange(nQ):
        if valid_off[k + 1] == valid_off[k]:
            continue
        h = np.zeros(NCODE, dtype=np.int64)
        q = q_piv[k]
        _dfs(q, q_d[k], swing[q], rho, t, p, seg_hi, seg_lo, npiv, q_tmax[k], up_to, r4, h, _I(0),
             _I(1), t[npiv - 1], _I(1), _I(0), cap, _B(True), out_idx, out_S, valid_off[k],
             do_score, tol, wF, wT, wA, wC)
        if do_score:
            _sort_segment(valid_off[k], valid_off[k + 1], out_idx, out_S)


@njit(cache=True)
def _sort_segment(a, b, cand_idx, cand_S):
    """Order rows a..b-1 by S descending, keeping DFS (= pivot index) order on ties."""
    if b - a < 2:
        return
    o = np.argsort(-cand_S[a:b], kind="mergesort")
    ti = cand_idx[a:b].copy()
    ts = cand_S[a:b].copy()
    for r in range(b - a):
        cand_idx[a + r] = ti[o[r]]
        cand_S[a + r] = ts[o[r]]


@njit(parallel=True, cache=True)
def sort_segments(valid_off, cand_idx, cand_S):
    """_sort_segment of every slot (the array-module path, where S comes after the fill)."""
    nQ = valid_off.shape[0] - 1
    for k in prange(nQ):
        _sort_segment(valid_off[k], valid_off[k + 1], cand_idx, cand_S)


@njit(cache=True)
def _better(ra, rb, cand_S, cand_idx, t):
    """Candidate row ra ranks before row rb: S desc, then pivot bars ascending."""
    sa = cand_S[ra]
    sb = cand_S[rb]
    if sa != sb:
        return sa > sb
    for k in range(6):
        ta = t[cand_idx[ra, k]]
        tb = t[cand_idx[rb, k]]
        if ta != tb:
            return ta < tb
    return False


@njit(parallel=True, cache=True)
def assign(w_glob, we, skip, starts, slot_of_piv, q_wlo, q_nb, hist_off, hist, saturated,
           valid_off, cand_idx, cand_S, t, budget, top_k, stats, truncated, top):
    """Per window: counters from the bins, the budget check, and the top-k merge. A window over
    budget, or using a saturated start (incomplete bins), gets truncated = True here: the caller
    re-runs it with the budgeted per-window search."""
    nW = w_glob.shape[0]
    nS = starts.shape[1]
    for w in prange(nW):
        if skip[w]:
            continue
        sat = False
        for r in range(nS):
            q = starts[w, r]
            if q < 0:
                continue
            k = slot_of_piv[q]
            if saturated[k]:
                sat = True
            bi = w_glob[w] - q_wlo[k]
            nb = q_nb[k]
            base = hist_off[k]
            for c in range(NCODE):
                stats[w, c] += hist[base + c * nb + bi]
        if sat or stats[w, VISITED] > budget:
            truncated[w] = True
            continue
        buf = np.empty(nS * top_k, dtype=np.int64)
        nbuf = 0
        for r in range(nS):
            q = starts[w, r]
            if q < 0:
                continue
            k = slot_of_piv[q]
            got = 0
            for row in range(valid_off[k], valid_off[k + 1]):  # none: no iteration
                if t[cand_idx[row, 5]] <= we[w]:
                    buf[nbuf] = row
                    nbuf += 1
                    got += 1
                    if got == top_k:
                        break
        # selection of the top_k best rows of buf, in order
        nsel = min(top_k, nbuf)
        for m in range(nsel):
            bestm = m
            for u in range(m + 1, nbuf):
                if _better(buf[u], buf[bestm], cand_S, cand_idx, t):
                    bestm = u
            tmp = buf[m]
            buf[m] = buf[bestm]
            buf[bestm] = tmp
            top[w, m] = buf[m]


@njit(cache=True)
def window_direct(starts_row, swing, rho, t, p, kind, seg_hi, seg_lo, we, up_to, r4, budget, cap,
                  do_score, tol, wF, wT, wA, wC):
    """The reference's per-window search with the budget (used for windows over budget).

    Returns (stats[NCODE], truncated, valid idx (n, 6), S (n,))."""
    jend = np.searchsorted(t, we, side="right")
    h = np.zeros(NCODE, dtype=np.int64)
    out_idx = np.empty((cap, 6), dtype=np.int64)
    out_S = np.zeros(cap, dtype=np.float64)
    nvis_all = 0
    nval_all = 0
    hit = False
    for r in range(starts_row.shape[0]):
        q = starts_row[r]
        if q < 0:
            continue
        d = -np.int64(kind[q])
        nvis, nval, hit = _dfs(q, d, swing[q], rho, t, p, seg_hi, seg_lo, jend, we, up_to, r4, h,
                               _I(0), _I(1), we, _I(1), _I(0), budget - nvis_all, _B(True),
                               out_idx, out_S, nval_all, do_score, tol, wF, wT, wA, wC)
        nvis_all += nvis
        nval_all += nval
        if hit:
            break
    return h, hit, out_idx[:nval_all], out_S[:nval_all]


@njit(cache=True)
def score_rows_nb(p6, t6, tol, wF, wT, wA, wC):
    """score_terms over rows: p6 (N, 6) float64, t6 (N, 6) int64 -> (N, 9) in TERMS order."""
    n = p6.shape[0]
    out = np.empty((n, 9), dtype=np.float64)
    for i in range(n):
        v = score_nb(p6[i, 0], p6[i, 1], p6[i, 2], p6[i, 3], p6[i, 4], p6[i, 5], t6[i, 0],
                     t6[i, 1], t6[i, 2], t6[i, 3], t6[i, 4], t6[i, 5], tol, wF, wT, wA, wC)
        for k in range(9):
            out[i, k] = v[k]
    return out


numba.config.CACHE_DIR = _saved_cache_dir


def plan_starts(starts, w_glob, kind, glob_ends):
    """Distinct start pivots of the scanned windows and the window range each is used in.

    Returns (q_piv, q_d, q_wlo, q_nb, q_tmax, slot_of_piv) - arrays indexed by start slot, except
    slot_of_piv (indexed by pivot)."""
    mask = starts >= 0
    wg = np.broadcast_to(w_glob[:, None], starts.shape)[mask]
    qs = starts[mask]
    q_piv, inv = np.unique(qs, return_inverse=True)
    nq = q_piv.shape[0]
    q_wlo = np.full(nq, np.iinfo(np.int64).max, dtype=np.int64)
    q_whi = np.full(nq, -1, dtype=np.int64)
    np.minimum.at(q_wlo, inv, wg)
    np.maximum.at(q_whi, inv, wg)
    q_d = -kind[q_piv].astype(np.int64)
    q_nb = q_whi - q_wlo + 1
    q_tmax = glob_ends[q_whi] if nq else np.empty(0, dtype=np.int64)
    slot = np.full(kind.shape[0], -1, dtype=np.int64)
    slot[q_piv] = np.arange(nq)
    return q_piv.astype(np.int64), q_d, q_wlo, q_nb, np.asarray(q_tmax, dtype=np.int64), slot


def plan_all_starts(t, kind, bull, bear, ws, we, skip, w_glob, glob_ends):
    """plan_starts when every pivot is a start (n_starts 0), without the table: a pivot of an
    allowed kind is used by the non-skipped windows whose bars hold it. Same return values."""
    keep = ~skip
    wsk, wek, wg = ws[keep], we[keep], w_glob[keep]
    allowed = ((kind < 0) & bull) | ((kind > 0) & bear)
    q = np.flatnonzero(allowed)
    lo = np.searchsorted(wek, t[q], side="left")  # first kept window ending at or after t_q
    hi = np.searchsorted(wsk, t[q], side="right") - 1  # last kept window starting at or before
    used = lo <= hi
    q, lo, hi = q[used], lo[used], hi[used]
    q_wlo = wg[lo]
    q_whi = wg[hi]
    slot = np.full(kind.shape[0], -1, dtype=np.int64)
    slot[q] = np.arange(q.shape[0])
    return (q.astype(np.int64), -kind[q].astype(np.int64), q_wlo.astype(np.int64),
            (q_whi - q_wlo + 1).astype(np.int64), glob_ends[q_whi].astype(np.int64), slot)


class _Clock:
    """Adds the seconds since the previous call to info[name] (nothing when info is None)."""

    def __init__(self, info):
        self.info = info
        self.t = time.perf_counter()

    def __call__(self, name):
        if self.info is not None:
            now = time.perf_counter()
            self.info[name] = self.info.get(name, 0.0) + now - self.t
            self.t = now


def scan_windows(t, kind, price, seg_hi, seg_lo, glob_starts, window_bars, step, w0, w1, skip, *,
                 swing, directions, n_starts, start_ratio, up_to, budget, top_k, rule_r4, tol,
                 weights, scorer=None, info=None):
    """Scan windows w0..w1-1 of one symbol (glob_starts: all its window starts).

    swing: (n_pivots,) the swing that ended at each pivot (kernels.swing); start_ratio: the start
    rule's ratio; n_starts: 0 (every pivot a start) or the most extreme n_starts per direction.

    skip: bool per scanned window (pre-filter). scorer: None (S computed in the Numba search) or
    a callable idx (N, 6) -> S (N,) used on batches of candidates (the array-module path).
    Returns (stats (nW, NCODE) int64 in reference.STATS order, truncated (nW,) bool, top (nW, top_k) candidate rows or -1,
    cand_idx (M, 6) int64 pivot indices of the candidate rows).
    info: None, or a dict that receives the work done: start_slots (distinct start pivots searched
    once), shared_visited (complete candidates reached by those shared searches; at most
    start_slots * budget), saturated_starts (starts with more than `budget` candidates),
    candidate_rows (valid candidates held in memory), direct_windows (windows re-run with the
    budgeted per-window search), direct_visited (complete candidates those reached; at most
    direct_windows * budget), and seconds per phase: t_plan (start table and plan), t_count,
    t_fill, t_sort, t_assign, t_direct (summed over calls).
    """
    wF, wT, wA, wC = (float(x) for x in weights)
    t = np.ascontiguousarray(t, dtype=np.int64)
    price = np.ascontiguousarray(price, dtype=np.float64)
    kind = np.ascontiguousarray(kind, dtype=np.int8)
    glob_starts = np.asarray(glob_starts, dtype=np.int64)
    glob_ends = glob_starts + (window_bars - 1)
    w_glob = np.arange(w0, w1, dtype=np.int64)
    ws = glob_starts[w0:w1]
    we = glob_ends[w0:w1]
    nW = w1 - w0
    skip = np.ascontiguousarray(skip, dtype=np.bool_)
    stats = np.zeros((nW, NCODE), dtype=np.int64)
    truncated = np.zeros(nW, dtype=np.bool_)
    top = np.full((nW, top_k), -1, dtype=np.int64)
    if nW == 0:
        return stats, truncated, top, np.empty((0, 6), dtype=np.int64)
    clock = _Clock(info)
    bull, bear = 1 in directions, -1 in directions
    swing = np.ascontiguousarray(swing, dtype=np.float64)
    rho = float(start_ratio)
    if n_starts == 0:
        a = np.searchsorted(t, ws, side="left")
        b = np.searchsorted(t, we, side="right")
        width = max(1, int((b - a).max()))
    else:
        width = 2 * int(n_starts)
    starts = start_table(t, kind, price, ws, we, skip, int(n_starts), bull, bear, width)
    if n_starts == 0:
        q_piv, q_d, q_wlo, q_nb, q_tmax, slot = plan_all_starts(t, kind, bull, bear, ws, we, skip,
                                                                w_glob, glob_ends)
    else:
        q_piv, q_d, q_wlo, q_nb, q_tmax, slot = plan_starts(starts, w_glob, kind, glob_ends)
    clock("t_plan")
    e0 = int(glob_ends[0])
    hist_off = np.concatenate(([0], np.cumsum(NCODE * q_nb))).astype(np.int64)
    hist = np.zeros(int(hist_off[-1]), dtype=np.int64)
    nQ = q_piv.shape[0]
    valid_n = np.zeros(nQ, dtype=np.int64)
    visited_n = np.zeros(nQ, dtype=np.int64)
    saturated = np.zeros(nQ, dtype=np.bool_)
    cap = int(budget)
    enumerate_count(q_piv, q_d, q_tmax, q_wlo, q_nb, hist_off, hist, swing, rho, t, price, seg_hi,
                    seg_lo, up_to, rule_r4, e0, step, cap, valid_n, visited_n, saturated)
    clock("t_count")
    valid_off = np.concatenate(([0], np.cumsum(valid_n))).astype(np.int64)
    M = int(valid_off[-1])
    cand_idx = np.empty((M, 6), dtype=np.int64)
    cand_S = np.zeros(M, dtype=np.float64)
    enumerate_fill(q_piv, q_d, q_tmax, swing, rho, t, price, seg_hi, seg_lo, up_to, rule_r4, cap,
                   valid_off, cand_idx, cand_S, scorer is None, tol, wF, wT, wA, wC)
    clock("t_fill")
    if scorer is not None and M:
        cand_S = np.ascontiguousarray(scorer(cand_idx), dtype=np.float64)
        sort_segments(valid_off, cand_idx, cand_S)
    clock("t_sort")
    assign(w_glob, we, skip, starts, slot, q_wlo, q_nb, hist_off[:-1], hist, saturated, valid_off,
           cand_idx, cand_S, t, budget, top_k, stats, truncated, top)
    clock("t_assign")
    # windows over budget: the per-window search in the fixed order, stopped by the budget
    extra = []
    nrows = M
    n_direct = direct_visited = 0
    for w in np.flatnonzero(truncated):
        # valid candidates of the budgeted search: at most budget (and at most the window's valid
        # count when its bins are complete)
        used = slot[starts[w][starts[w] >= 0]]
        rows = int(budget) if saturated[used].any() else int(min(budget, stats[w, VALID]))
        stats[w] = 0
        h, hit, idx, S = window_direct(starts[w], swing, rho, t, price, kind, seg_hi, seg_lo,
                                       int(we[w]), up_to, rule_r4, budget, rows, scorer is None,
                                       tol, wF, wT, wA, wC)
        stats[w] = h
        truncated[w] = hit
        n_direct += 1
        direct_visited += int(h[VISITED])
        if idx.shape[0] and scorer is not None:
            S = np.asarray(scorer(idx), dtype=np.float64)
        tt = t[idx]
        order = np.lexsort(tuple(tt[:, k] for k in range(5, -1, -1)) + (-S,))[:top_k]
        top[w, :] = -1
        top[w, : order.shape[0]] = nrows + np.arange(order.shape[0])
        extra.append(idx[order])
        nrows += order.shape[0]
    if extra:
        cand_idx = np.concatenate([cand_idx] + extra)
    clock("t_direct")
    if info is not None:
        info.update(start_slots=int(nQ), shared_visited=int(visited_n.sum()),
                    saturated_starts=int(saturated.sum()), candidate_rows=int(nrows),
                    direct_windows=int(n_direct), direct_visited=int(direct_visited))
    return stats, truncated, top, cand_idx


def score_final(p6, t6, tol, weights) -> np.ndarray:
    """(N, 9) score terms (TERMS order) of final patterns, with the Numba-compiled scalar code."""
    wF, wT, wA, wC = (float(x) for x in weights)
    return score_rows_nb(np.ascontiguousarray(p6, dtype=np.float64),
                         np.ascontiguousarray(t6, dtype=np.int64), tol, wF, wT, wA, wC)


def zigzag(high, low, mode, pct, thr, out_t, out_kind, out_known):
    """zigzag_core compiled (same arguments)."""
    return zigzag_nb(high, low, mode, pct, thr, out_t, out_kind, out_known)
