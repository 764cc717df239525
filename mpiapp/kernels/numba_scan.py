"""Numba backend: candidates enumerated once per symbol and start pivot, then assigned to windows.

Importing this module imports numba (the `numba` backend imports it lazily). Threads: the kernels
use `prange`; the thread count is whatever the runtime set (this module never changes it).

Plan (docs/scan.md, "Where the time goes"): a candidate's validity and score do not depend on the
window, only whether it lies inside it and starts at one of the window's start points. So

1. `start_table` - each window's start points in the fixed order (prange over windows);
2. `enumerate_count` - one depth-first search per distinct start pivot q (prange over chunks of
   q), bounded by the end of the last window that uses q; every event (extreme-condition
   rejection, rule rejection, visited, valid) is binned by the first window whose end covers its
   last bar, and the bins are summed up, so a window's counters are a sum of one number per start
   point; the valid candidates (and their S) go to a per-chunk arena while it has room;
3. `enumerate_fill` - each q's candidates into their final rows, copied from the arena (or, for
   the few q whose rows did not fit, from the same search again), ordered by (S desc, pivot
   indices asc);
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

from . import live as _live
from . import pivots as _pivots
from . import score as _score
from . import swing as _swing


def _cache_dir() -> str:
    """Where Numba caches these kernels: a folder named by a hash of their sources (this file,
    pivots.py, score.py, swing.py, live.py). Numba only invalidates a cached function when its *own* file changes,
    not when a function it calls from another file does; a per-source-hash folder makes any edit
    or upgrade of the three files recompile. Base: $NUMBA_CACHE_DIR, else the package's
    __pycache__, else ~/.cache/mpiapp."""
    h = hashlib.sha256()
    for f in (_pivots.__file__, _score.__file__, _swing.__file__, _live.__file__, __file__):
        with open(f, "rb") as fh:
            h.update(fh.read())
    name = "mpiapp-numba-" + h.hexdigest()[:16]
    bases = [
        os.environ.get("NUMBA_CACHE_DIR", ""),
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__"),
        os.path.join(os.path.expanduser("~"), ".cache", "mpiapp"),
    ]
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

zigzag_nb = njit(nogil=True, cache=True)(_pivots.zigzag_core)
score_nb = njit(nogil=True, cache=True)(_score.score_terms)
swing_nb = njit(nogil=True, cache=True)(_swing.swing_core)
live_prefixes_nb = njit(nogil=True, cache=True)(_live.prefixes_core)
live_life_nb = njit(nogil=True, cache=True)(_live.life_core)
live_sweep_nb = njit(nogil=True, cache=True)(_live.sweep_core)
live_outcome_nb = njit(nogil=True, cache=True)(_live.outcome_core)

EXT, START, R1, R2, R3, R4, VISITED, VALID = range(8)  # reference.STATS order
NCODE = 8
#: pass 1 (enumerate_count) keeps the valid candidates of its slots in an arena of chunks of this
#: many rows (about 56 bytes each), this many chunks per thread; a slot whose rows do not fit in
#: what is left of its chunk is searched again by pass 2 (results never depend on these)
ARENA_ROWS_PER_CHUNK = 4096
ARENA_CHUNKS_PER_THREAD = 4


@njit(nogil=True, cache=True, inline="always")
def _bin(j, pbin, wlo):
    """Bin of an event whose last pivot is j: its first window (pbin[j]) relative to wlo, at least 0."""
    b = pbin[j] - wlo
    if b < 0:
        b = 0
    return b


@njit(nogil=True, cache=True)
def _dfs(
    q,
    d,
    sw,
    rho,
    t,
    kn,
    p,
    seg_hi,
    seg_lo,
    jend,
    kmax,
    up_to,
    r4,
    hist,
    hbase,
    pbin,
    wlo,
    budget,
    fill,
    out_idx,
    out_S,
    pos,
    do_score,
    tol,
    wF,
    wT,
    wA,
    wC,
):
    """Depth-first search from start pivot q in direction d; sw: the swing that ended at q, rho:
    the start ratio (wave 1 ends with L1 > sw / rho are rejected by the start rule).

    Wave ends are pivots j < jend confirmed by bar kmax (kn[j] <= kmax; kn: each pivot's
    confirmation bar, increasing). A wave whose bars go beyond its start ends the extension from
    that pivot (counted once as EXT: every longer wave spans those bars too); a wave whose end is
    not the extreme of its bars is counted and the next one tried (kernels.reference).
    Events go to hist[hbase + bin*NCODE + code],
    bin = max(pbin[j] - wlo, 0) for the event's last pivot j (pbin: each pivot's first window).
    budget < 0: unlimited; else the (budget+1)-th complete candidate stops the search (hit=True).
    fill: write valid candidates to out_idx[pos + n] (and S to out_S when do_score) while they fit
    in out_idx (rows beyond its end are counted, not written).
    Returns (visited, valid, hit).
    """
    idx = np.empty(6, dtype=np.int64)
    sk = np.empty(6, dtype=np.int64)
    ext = np.empty(6, dtype=np.float64)  # the wave's extreme beyond its end so far
    opp = np.empty(6, dtype=np.float64)  # and on the side of its start
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
        if kn[j] > kmax:
            depth -= 1
            continue
        tj = t[j]
        up = (depth % 2 == 1) == (d > 0)
        if up:
            if s == 0:
                e = seg_hi[i]
                o = seg_lo[i]
            else:
                e = max(ext[depth], max(seg_hi[j - 2], seg_hi[j - 1]))
                o = min(opp[depth], min(seg_lo[j - 2], seg_lo[j - 1]))
            start_ok = p[i] <= o
            ok = p[j] >= e
        else:
            if s == 0:
                e = seg_lo[i]
                o = seg_hi[i]
            else:
                e = min(ext[depth], min(seg_lo[j - 2], seg_lo[j - 1]))
                o = max(opp[depth], max(seg_hi[j - 2], seg_hi[j - 1]))
            start_ok = p[i] >= o
            ok = p[j] <= e
        ext[depth] = e
        opp[depth] = o
        if not start_ok:  # every longer wave from i spans these bars too
            hist[hbase + _bin(j, pbin, wlo) * NCODE + EXT] += 1
            depth -= 1
            continue
        if not ok:
            hist[hbase + _bin(j, pbin, wlo) * NCODE + EXT] += 1
            continue
        idx[depth] = j
        if depth == 1:
            if not sw >= rho * abs(p[j] - p[q]):
                hist[hbase + _bin(j, pbin, wlo) * NCODE + START] += 1
                continue
        elif depth == 2:
            if not fd * (p[j] - p[idx[0]]) > 0.0:
                hist[hbase + _bin(j, pbin, wlo) * NCODE + R1] += 1
                continue
        elif depth == 3:
            if r4 and not fd * (p[j] - p[idx[1]]) > 0.0:
                hist[hbase + _bin(j, pbin, wlo) * NCODE + R4] += 1
                continue
        elif depth == 4:
            if not fd * (p[j] - p[idx[1]]) > 0.0:
                hist[hbase + _bin(j, pbin, wlo) * NCODE + R3] += 1
                continue
        if depth < 5:
            depth += 1
            sk[depth] = -1
            continue
        # a complete candidate
        if budget >= 0 and nvis >= budget:
            return nvis, nval, True
        nvis += 1
        bn = _bin(j, pbin, wlo)
        hist[hbase + bn * NCODE + VISITED] += 1
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
            hist[hbase + bn * NCODE + R2] += 1
            continue
        if r4 and not fd * (p5 - p3) > 0.0:
            hist[hbase + bn * NCODE + R4] += 1
            continue
        hist[hbase + bn * NCODE + VALID] += 1
        if fill and pos + nval < out_idx.shape[0]:
            r = pos + nval
            for k in range(6):
                out_idx[r, k] = idx[k]
            if do_score:
                out_S[r] = score_nb(
                    p0,
                    p1,
                    p2,
                    p3,
                    p4,
                    p5,
                    t[idx[0]],
                    t[idx[1]],
                    t[idx[2]],
                    t[idx[3]],
                    t[idx[4]],
                    tj,
                    tol,
                    wF,
                    wT,
                    wA,
                    wC,
                )[0]
        nval += 1
    return nvis, nval, False


# non-literal constants, so that every caller shares one compiled _dfs
_I = np.int64
_B = np.bool_


@njit(parallel=True, nogil=True, cache=True)
def start_table(t, kn, kind, price, ws, we, skip, n_starts, bull, bear, width):
    """(nW, width) start pivots per window in bar order, -1 after the last. n_starts 0: every pivot
    of an allowed kind in the window confirmed by its end (kn <= we; lows: bullish, highs:
    bearish); n_starts > 0: the n_starts most extreme of those per direction (lowest lows,
    highest highs; equal prices: earlier bar first)."""
    nW = ws.shape[0]
    out = np.full((nW, width), -1, dtype=np.int64)
    K = n_starts
    for w in prange(nW):
        if skip[w]:
            continue
        a = np.searchsorted(t, ws[w], side="left")
        b = np.searchsorted(kn, we[w], side="right")
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


@njit(parallel=True, nogil=True, cache=True)
def enumerate_count(
    q_piv,
    q_d,
    q_kmax,
    q_wlo,
    q_nb,
    hist_off,
    hist,
    swing,
    rho,
    t,
    kn,
    p,
    seg_hi,
    seg_lo,
    up_to,
    r4,
    pbin,
    cap,
    valid_n,
    visited_n,
    saturated,
    n_chunks,
    arena_idx,
    arena_S,
    row_at,
    do_score,
    tol,
    wF,
    wT,
    wA,
    wC,
):
    """Pass 1: per start slot, binned event counts (then summed up over bins), valid count, and
    the valid candidates themselves where they fit.

    cap: the window budget. The search from one start stops at its (cap+1)-th complete candidate
    (the reference stops a window there, so no window needs more from one start); such a slot is
    `saturated` and its bins are incomplete. visited_n: complete candidates per slot (<= cap).
    The slots are dealt to n_chunks chunks (slot k to chunk k mod n_chunks: the costly starts,
    a few in every hundred, spread over the threads; prange over chunks), chunk c owning the arena
    rows [c*A/n_chunks, (c+1)*A/n_chunks) of arena_idx (A, 6) / arena_S (A,): its slots'
    candidates (DFS order; S when do_score) go there one slot after another; row_at[k] is slot k's
    first arena row, or -1 when its rows did not fit (enumerate_fill searches it again)."""
    nQ = q_piv.shape[0]
    npiv = t.shape[0]
    A = arena_idx.shape[0]
    for c in prange(n_chunks):
        a0 = c * A // n_chunks
        a1 = (c + 1) * A // n_chunks
        out_i = arena_idx[a0:a1]
        out_s = arena_S[a0:a1]
        pos = 0
        for k in range(c, nQ, n_chunks):
            nb = q_nb[k]
            base = hist_off[k]
            q = q_piv[k]
            nvis, nval, hit = _dfs(
                q,
                q_d[k],
                swing[q],
                rho,
                t,
                kn,
                p,
                seg_hi,
                seg_lo,
                npiv,
                q_kmax[k],
                up_to,
                r4,
                hist,
                base,
                pbin,
                q_wlo[k],
                cap,
                _B(True),
                out_i,
                out_s,
                pos,
                do_score,
                tol,
                wF,
                wT,
                wA,
                wC,
            )
            valid_n[k] = nval
            visited_n[k] = nvis
            saturated[k] = hit
            if pos + nval <= a1 - a0:
                row_at[k] = a0 + pos
                pos += nval
            else:
                row_at[k] = -1
            for b in range(1, nb):  # running sums over bins (hist: bin-major, NCODE codes a bin)
                for i in range(NCODE):
                    hist[base + b * NCODE + i] += hist[base + (b - 1) * NCODE + i]


@njit(parallel=True, nogil=True, cache=True)
def enumerate_fill(
    q_piv,
    q_d,
    q_kmax,
    swing,
    rho,
    t,
    kn,
    p,
    seg_hi,
    seg_lo,
    up_to,
    r4,
    cap,
    valid_off,
    row_at,
    arena_idx,
    arena_S,
    out_idx,
    out_S,
    do_score,
    tol,
    wF,
    wT,
    wA,
    wC,
):
    """Pass 2: each start slot's valid candidates (DFS order) and, if do_score, their S into rows
    valid_off[k]..valid_off[k+1]-1 - copied from pass 1's arena, or, for a slot whose rows did not
    fit there (row_at -1), from the same search again, stopped at the same point (cap) - then
    ordered (_sort_segment)."""
    nQ = q_piv.shape[0]
    npiv = t.shape[0]
    bin0 = np.zeros(npiv, dtype=np.int64)  # one bin: the counts are not wanted here
    for k in prange(nQ):
        lo = valid_off[k]
        n = valid_off[k + 1] - lo
        if n == 0:
            continue
        src = row_at[k]
        if src >= 0:
            for r in range(n):
                for i in range(6):
                    out_idx[lo + r, i] = arena_idx[src + r, i]
                out_S[lo + r] = arena_S[src + r]
        else:
            h = np.zeros(NCODE, dtype=np.int64)
            q = q_piv[k]
            _dfs(
                q,
                q_d[k],
                swing[q],
                rho,
                t,
                kn,
                p,
                seg_hi,
                seg_lo,
                npiv,
                q_kmax[k],
                up_to,
                r4,
                h,
                _I(0),
                bin0,
                _I(0),
                cap,
                _B(True),
                out_idx,
                out_S,
                lo,
                do_score,
                tol,
                wF,
                wT,
                wA,
                wC,
            )
        if do_score:
            _sort_segment(lo, lo + n, out_idx, out_S)


@njit(nogil=True, cache=True)
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


@njit(parallel=True, nogil=True, cache=True)
def sort_segments(valid_off, cand_idx, cand_S):
    """_sort_segment of every slot (the array-module path, where S comes after the fill)."""
    nQ = valid_off.shape[0] - 1
    for k in prange(nQ):
        _sort_segment(valid_off[k], valid_off[k + 1], cand_idx, cand_S)


@njit(nogil=True, cache=True)
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


@njit(parallel=True, nogil=True, cache=True)
def assign(
    w_glob,
    we,
    skip,
    starts,
    slot_of_piv,
    q_wlo,
    q_nb,
    hist_off,
    hist,
    saturated,
    valid_off,
    cand_idx,
    cand_S,
    t,
    kn,
    budget,
    top_k,
    stats,
    truncated,
    top,
):
    """Per window: counters from the bins, the budget check, and the top-k merge. A window over
    budget, or using a saturated start (incomplete bins), gets truncated = True here: the caller
    re-runs it with the budgeted per-window search.

    The merge keeps a running top-k, best first. Each start's rows are in rank order (S desc, then
    pivot bars ascending: _sort_segment keeps the search's lexicographic order on ties, and every row
    of a start shares p0), so the first row inside the window that does not enter a full top-k ends
    that start's rows, as does any row (inside or not) whose S is below the k-th's: none after it
    can enter."""
    nW = w_glob.shape[0]
    nS = starts.shape[1]
    for w in prange(nW):
        if skip[w]:
            continue
        sat = False
        acc = np.zeros(NCODE, dtype=np.int64)
        for r in range(nS):
            q = starts[w, r]
            if q < 0:
                break
            k = slot_of_piv[q]
            if saturated[k]:
                sat = True
            at = hist_off[k] + (w_glob[w] - q_wlo[k]) * NCODE
            for c in range(NCODE):
                acc[c] += hist[at + c]
        for c in range(NCODE):
            stats[w, c] = acc[c]
        if sat or acc[VISITED] > budget:
            truncated[w] = True
            continue
        sel = np.empty(top_k, dtype=np.int64)
        nsel = 0
        wend = we[w]
        for r in range(nS):
            q = starts[w, r]
            if q < 0:
                break
            k = slot_of_piv[q]
            for row in range(valid_off[k], valid_off[k + 1]):  # none: no iteration
                if nsel == top_k and cand_S[row] < cand_S[sel[top_k - 1]]:
                    break  # this row and every later one (S descending) ranks below the top-k
                if kn[cand_idx[row, 5]] > wend:  # p5 not confirmed by the window's end
                    continue
                if nsel == top_k and not _better(row, sel[nsel - 1], cand_S, cand_idx, t):
                    break
                pos = nsel if nsel < top_k else top_k - 1
                while pos > 0 and _better(row, sel[pos - 1], cand_S, cand_idx, t):
                    sel[pos] = sel[pos - 1]
                    pos -= 1
                sel[pos] = row
                if nsel < top_k:
                    nsel += 1
        for m in range(nsel):
            top[w, m] = sel[m]


@njit(nogil=True, cache=True)
def window_direct(
    starts_row,
    swing,
    rho,
    t,
    kn,
    p,
    kind,
    seg_hi,
    seg_lo,
    we,
    up_to,
    r4,
    budget,
    cap,
    do_score,
    tol,
    wF,
    wT,
    wA,
    wC,
):
    """The reference's per-window search with the budget (used for windows over budget).

    Returns (stats[NCODE], truncated, valid idx (n, 6), S (n,))."""
    jend = np.searchsorted(kn, we, side="right")
    h = np.zeros(NCODE, dtype=np.int64)
    bin0 = np.zeros(t.shape[0], dtype=np.int64)  # one bin: the window's own counts
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
        nvis, nval, hit = _dfs(
            q,
            d,
            swing[q],
            rho,
            t,
            kn,
            p,
            seg_hi,
            seg_lo,
            jend,
            we,
            up_to,
            r4,
            h,
            _I(0),
            bin0,
            _I(0),
            budget - nvis_all,
            _B(True),
            out_idx,
            out_S,
            nval_all,
            do_score,
            tol,
            wF,
            wT,
            wA,
            wC,
        )
        nvis_all += nvis
        nval_all += nval
        if hit:
            break
    return h, hit, out_idx[:nval_all], out_S[:nval_all]


@njit(nogil=True, cache=True)
def score_rows_nb(p6, t6, tol, wF, wT, wA, wC):
    """score_terms over rows: p6 (N, 6) float64, t6 (N, 6) int64 -> (N, 9) in TERMS order."""
    n = p6.shape[0]
    out = np.empty((n, 9), dtype=np.float64)
    for i in range(n):
        v = score_nb(
            p6[i, 0],
            p6[i, 1],
            p6[i, 2],
            p6[i, 3],
            p6[i, 4],
            p6[i, 5],
            t6[i, 0],
            t6[i, 1],
            t6[i, 2],
            t6[i, 3],
            t6[i, 4],
            t6[i, 5],
            tol,
            wF,
            wT,
            wA,
            wC,
        )
        for k in range(9):
            out[i, k] = v[k]
    return out


numba.config.CACHE_DIR = _saved_cache_dir


def plan_starts(starts, w_glob, kind, glob_ends):
    """Distinct start pivots of the scanned windows and the window range each is used in.

    Returns (q_piv, q_d, q_wlo, q_nb, q_kmax, slot_of_piv) - arrays indexed by start slot, except
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
    q_kmax = glob_ends[q_whi] if nq else np.empty(0, dtype=np.int64)
    slot = np.full(kind.shape[0], -1, dtype=np.int64)
    slot[q_piv] = np.arange(nq)
    return q_piv.astype(np.int64), q_d, q_wlo, q_nb, np.asarray(q_kmax, dtype=np.int64), slot


def plan_all_starts(t, kn, kind, bull, bear, ws, we, skip, w_glob, glob_ends):
    """plan_starts when every pivot is a start (n_starts 0), without the table: a pivot of an
    allowed kind is used by the non-skipped windows whose bars hold it and whose end confirms it.
    Same return values."""
    keep = ~skip
    wsk, wek, wg = ws[keep], we[keep], w_glob[keep]
    allowed = ((kind < 0) & bull) | ((kind > 0) & bear)
    q = np.flatnonzero(allowed)
    lo = np.searchsorted(wek, kn[q], side="left")  # first kept window ending when q is confirmed
    hi = np.searchsorted(wsk, t[q], side="right") - 1  # last kept window starting at or before
    used = lo <= hi
    q, lo, hi = q[used], lo[used], hi[used]
    q_wlo = wg[lo]
    q_whi = wg[hi]
    slot = np.full(kind.shape[0], -1, dtype=np.int64)
    slot[q] = np.arange(q.shape[0])
    return (
        q.astype(np.int64),
        -kind[q].astype(np.int64),
        q_wlo.astype(np.int64),
        (q_whi - q_wlo + 1).astype(np.int64),
        glob_ends[q_whi].astype(np.int64),
        slot,
    )


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
    scorer=None,
    info=None,
):
    """Scan windows w0..w1-1 of one symbol (glob_starts: all its window starts).

    t, kind, price, known: the pivots (bar, +1 high / -1 low, price, the bar that confirmed it);
    a window uses the pivots in its bars confirmed by its last bar (kernels.reference).

    swing: (n_pivots,) the swing that ended at each pivot (kernels.swing); start_ratio: the start
    rule's ratio; n_starts: 0 (every pivot a start) or the most extreme n_starts per direction.

    skip: bool per scanned window (pre-filter). scorer: None (S computed in the Numba search) or
    a callable idx (N, 6) -> S (N,) used on batches of candidates (the array-module path).
    Returns (stats (nW, NCODE) int64 in reference.STATS order, truncated (nW,) bool, top (nW, top_k) candidate rows or -1,
    cand_idx (M, 6) int64 pivot indices of the candidate rows).
    info: None, or a dict that receives the work done: start_slots (distinct start pivots searched
    once), shared_visited (complete candidates reached by those shared searches; at most
    start_slots * budget), searched_again (starts whose candidates did not fit pass 1's arena),
    saturated_starts (starts with more than `budget` candidates),
    candidate_rows (valid candidates held in memory), direct_windows (windows re-run with the
    budgeted per-window search), direct_visited (complete candidates those reached; at most
    direct_windows * budget), and seconds per phase: t_plan (start table and plan), t_count,
    t_fill, t_sort, t_assign, t_direct (summed over calls).
    """
    wF, wT, wA, wC = (float(x) for x in weights)
    t = np.ascontiguousarray(t, dtype=np.int64)
    price = np.ascontiguousarray(price, dtype=np.float64)
    kind = np.ascontiguousarray(kind, dtype=np.int8)
    kn = np.ascontiguousarray(known, dtype=np.int64)
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
    starts = start_table(t, kn, kind, price, ws, we, skip, int(n_starts), bull, bear, width)
    if n_starts == 0:
        q_piv, q_d, q_wlo, q_nb, q_kmax, slot = plan_all_starts(
            t, kn, kind, bull, bear, ws, we, skip, w_glob, glob_ends
        )
    else:
        q_piv, q_d, q_wlo, q_nb, q_kmax, slot = plan_starts(starts, w_glob, kind, glob_ends)
    clock("t_plan")
    e0 = int(glob_ends[0])
    # each pivot's first window (the first whose end confirms it), relative to the symbol's windows
    pbin = np.where(kn <= e0, 0, (kn - e0 + step - 1) // step).astype(np.int64)
    hist_off = np.concatenate(([0], np.cumsum(NCODE * q_nb))).astype(np.int64)
    hist = np.zeros(int(hist_off[-1]), dtype=np.int64)
    nQ = q_piv.shape[0]
    valid_n = np.zeros(nQ, dtype=np.int64)
    visited_n = np.zeros(nQ, dtype=np.int64)
    saturated = np.zeros(nQ, dtype=np.bool_)
    cap = int(budget)
    n_chunks = max(1, min(nQ, ARENA_CHUNKS_PER_THREAD * numba.get_num_threads()))
    arena_idx = np.empty((n_chunks * ARENA_ROWS_PER_CHUNK, 6), dtype=np.int64)
    arena_S = np.empty(n_chunks * ARENA_ROWS_PER_CHUNK, dtype=np.float64)
    row_at = np.empty(nQ, dtype=np.int64)
    enumerate_count(
        q_piv,
        q_d,
        q_kmax,
        q_wlo,
        q_nb,
        hist_off,
        hist,
        swing,
        rho,
        t,
        kn,
        price,
        seg_hi,
        seg_lo,
        up_to,
        rule_r4,
        pbin,
        cap,
        valid_n,
        visited_n,
        saturated,
        n_chunks,
        arena_idx,
        arena_S,
        row_at,
        scorer is None,
        tol,
        wF,
        wT,
        wA,
        wC,
    )
    clock("t_count")
    valid_off = np.concatenate(([0], np.cumsum(valid_n))).astype(np.int64)
    M = int(valid_off[-1])
    cand_idx = np.empty((M, 6), dtype=np.int64)
    cand_S = np.zeros(M, dtype=np.float64)
    enumerate_fill(
        q_piv,
        q_d,
        q_kmax,
        swing,
        rho,
        t,
        kn,
        price,
        seg_hi,
        seg_lo,
        up_to,
        rule_r4,
        cap,
        valid_off,
        row_at,
        arena_idx,
        arena_S,
        cand_idx,
        cand_S,
        scorer is None,
        tol,
        wF,
        wT,
        wA,
        wC,
    )
    del arena_idx, arena_S
    clock("t_fill")
    if scorer is not None and M:
        cand_S = np.ascontiguousarray(scorer(cand_idx), dtype=np.float64)
        sort_segments(valid_off, cand_idx, cand_S)
    clock("t_sort")
    assign(
        w_glob,
        we,
        skip,
        starts,
        slot,
        q_wlo,
        q_nb,
        hist_off[:-1],
        hist,
        saturated,
        valid_off,
        cand_idx,
        cand_S,
        t,
        kn,
        budget,
        top_k,
        stats,
        truncated,
        top,
    )
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
        h, hit, idx, S = window_direct(
            starts[w],
            swing,
            rho,
            t,
            kn,
            price,
            kind,
            seg_hi,
            seg_lo,
            int(we[w]),
            up_to,
            rule_r4,
            budget,
            rows,
            scorer is None,
            tol,
            wF,
            wT,
            wA,
            wC,
        )
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
        info.update(
            start_slots=int(nQ),
            shared_visited=int(visited_n.sum()),
            searched_again=int(((row_at < 0) & (valid_n > 0)).sum()),
            saturated_starts=int(saturated.sum()),
            candidate_rows=int(nrows),
            direct_windows=int(n_direct),
            direct_visited=int(direct_visited),
        )
    return stats, truncated, top, cand_idx


def score_final(p6, t6, tol, weights) -> np.ndarray:
    """(N, 9) score terms (TERMS order) of final patterns, with the Numba-compiled scalar code."""
    wF, wT, wA, wC = (float(x) for x in weights)
    return score_rows_nb(
        np.ascontiguousarray(p6, dtype=np.float64),
        np.ascontiguousarray(t6, dtype=np.int64),
        tol,
        wF,
        wT,
        wA,
        wC,
    )
