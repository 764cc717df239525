"""Where each market stands: the impulse counts in progress at the last bar (the `live` table), and
the walk-forward record of how such counts played out (`outcomes`, `outcome_rates`).

What a count is, when it lives and how it is scored: mpiapp.kernels.live. Here, per symbol and
degree (a zig-zag of `scan.live_degrees` x the scan's own threshold, which follows the series'
scale like the scan's): the counts are enumerated, ranked once (live score desc, then more
confirmed waves, then the most recent last pivot, then pivot bars), and walked forward bar by bar:
at each bar the `scan.live_top` best live counts are those a scan of the bars up to that bar alone
would report. A count's `known_bar` is the first bar at which it is among them; the live table is
the top at the last bar; the outcome study takes every count that was ever among them, once, at its
known_bar, and follows the price for `scan.outcome_bars` bars.

Levels for a count with direction d, L1 = |p1 - p0|, L3 = |p3 - p2| (docs/scan.md "Live counts"):

    wave in progress   invalidation   cap                          target band
    2                  p0 (R1)        p1 (wave 1 extends)          p1 - d [0.382, 0.786] L1
    3                  p2 (its start) -                            p2 + d [1.0, 2.618] L1
    4                  p1 (R3)        p3 (wave 3 extends)          p3 - d [0.236, 0.5] L3
    5                  p4 (its start) p4 + d L3 when L3 < L1 (R2)  p4 + d [0.618, 1.618] L1, clipped at cap
"""

from __future__ import annotations

import numpy as np

from ...kernels import live as _live
from ...kernels import pivots as _pv
from ...kernels import swing as _swing
from .params import ScanParams

#: per wave in progress k: (pivot of the invalidation, reaching it is enough (not strictly beyond))
INVALIDATION = {2: (0, True), 3: (2, False), 4: (1, True), 5: (4, False)}
#: target band of wave k: (pivot it is measured from, leg it is a fraction of (1 = L1, 3 = L3),
#: the band's fractions, +1 with the impulse's direction / -1 against it)
BANDS = {
    2: (1, 1, (0.382, 0.786), -1),
    3: (2, 1, (1.0, 2.618), 1),
    4: (3, 3, (0.236, 0.5), -1),
    5: (4, 1, (0.618, 1.618), 1),
}

LIVE_FIELDS = (
    (
        ("level", np.int8),
        ("degree", np.float64),
        ("rank", np.int32),
        ("direction", np.int8),
        ("wave", np.int8),
    )
    + tuple((f"t{i}", np.int64) for i in range(5))
    + tuple((f"p{i}", np.float64) for i in range(5))
    + (
        ("t_ext", np.int64),
        ("p_ext", np.float64),
        ("invalidation", np.float64),
        ("cap", np.float64),
        ("target_lo", np.float64),
        ("target_hi", np.float64),
        ("score", np.float64),
        ("known_bar", np.int64),
        ("parent", np.int64),
        ("group", np.int64),
        ("n_alternatives", np.int32),
    )
)

OUTCOME_FIELDS = (
    (("level", np.int8), ("direction", np.int8), ("wave", np.int8))
    + tuple((f"t{i}", np.int64) for i in range(5))
    + (
        ("known_bar", np.int64),
        ("score", np.float64),
        ("invalidation", np.float64),
        ("cap", np.float64),
        ("target_lo", np.float64),
        ("target_hi", np.float64),
        ("close_known", np.float64),
        ("outcome", np.int8),
        ("bars_to_outcome", np.int64),
        ("ret_target", np.float64),
        ("ret_invalidation", np.float64),
        ("ret_cap", np.float64),
    )
)

#: per (level, wave): how many counts had each outcome (the null's raw rows)
TALLY_FIELDS = (
    ("level", np.int8),
    ("wave", np.int8),
    ("n", np.int64),
    ("target", np.int64),
    ("invalidation", np.int64),
    ("cap", np.int64),
    ("none", np.int64),
)

OUTCOME_NAMES = {
    _live.NONE: "none",
    _live.TARGET: "target",
    _live.INVALIDATION: "invalidation",
    _live.CAP: "cap",
}


class _Kernels:
    """The scalar cores of kernels.live (and the zig-zag, swings): plain Python for the numpy
    backend, Numba-compiled otherwise."""

    def __init__(self, backend: str):
        if backend == "numpy":
            self.prefixes, self.life = _live.prefixes_core, _live.life_core
            self.sweep, self.outcome = _live.sweep_core, _live.outcome_core
            self.zigzag, self.swing = _pv.zigzag_core, _swing.swing_core
        else:
            from ...kernels import numba_scan as nb

            self.prefixes, self.life = nb.live_prefixes_nb, nb.live_life_nb
            self.sweep, self.outcome = nb.live_sweep_nb, nb.live_outcome_nb
            self.zigzag, self.swing = nb.zigzag_nb, nb.swing_nb


def degree_pivots(high, low, close, params: ScanParams, multiple: float, kern, scale) -> _pv.Pivots:
    """The zig-zag of one degree: the scan's threshold (percent, scaled by the series' trailing
    volatility under scale = volatility; or ATR) times `multiple`."""
    return _pv.pivots(
        high,
        low,
        close,
        mode=params.pivot_mode,
        pct=params.pivot_pct * multiple,
        atr_period=params.atr_period,
        atr_multiple=params.atr_multiple * multiple,
        scale=scale,
        core=kern.zigzag,
    )


def degree_threshold(close, params: ScanParams, multiple: float, scale, high=None, low=None) -> float:
    """The degree's reversal threshold at the last bar, as a fraction of price."""
    if params.pivot_mode == "atr":
        atr = _pv.atr(high, low, close, params.atr_period)
        return float(params.atr_multiple * multiple * atr[-1] / close[-1])
    k = 1.0 if scale is None else float(scale[-1])
    return float(params.pivot_pct * multiple * k)


class Walk:
    """The counts of one degree of one series, walked forward over bars c_from .. c_to.

    Attributes (arrays over the counts enumerated): idx (M, 5) pivot indices (-1 beyond k), k,
    direction, score, birth, death, first (the first bar in c_from - window_bars .. c_to at which the
    count was among the live_top, -1 never); top: the counts among them at c_to, best first.
    """

    def __init__(
        self,
        high,
        low,
        close,
        params: ScanParams,
        multiple: float,
        c_from: int,
        c_to: int,
        kern,
        scale,
        piv: _pv.Pivots | None = None,
    ):
        self.high, self.low, self.close = high, low, close
        wb = params.window_bars
        if piv is None:
            piv = degree_pivots(high, low, close, params, multiple, kern, scale)
        self.piv = piv
        jmax = int(np.searchsorted(piv.known, c_to, side="right"))  # pivots confirmed by c_to
        t, kind, price = piv.t[:jmax], piv.kind[:jmax], piv.price[:jmax]
        seg_hi, seg_lo = _pv.segment_extremes(high, low, t)
        q_lo = int(np.searchsorted(t, c_from - 2 * wb + 1, side="left"))
        sw = np.zeros(jmax, dtype=np.float64)  # the start rule reads it only at starts q >= q_lo
        if jmax > q_lo:
            kern.swing(high, low, t[q_lo:], kind[q_lo:], sw[q_lo:])
        bull, bear = 1 in params.directions, -1 in params.directions
        w = params.weights
        args = (
            t,
            kind,
            price,
            seg_hi,
            seg_lo,
            sw,
            params.start_ratio,
            q_lo,
            jmax,
            params.up_to,
            params.rule_no_truncation,
            bull,
            bear,
            params.fib_tolerance,
            *w,
        )
        dummy = np.empty((0, 5), dtype=np.int64)
        m = int(kern.prefixes(*args, False, dummy, np.empty(0, np.int64), np.empty(0)))
        idx = np.empty((m, 5), dtype=np.int64)
        k = np.empty(m, dtype=np.int64)
        score = np.empty(m, dtype=np.float64)
        kern.prefixes(*args, True, idx, k, score)
        self.idx, self.k, self.score = idx, k, score
        self.direction = (-kind[idx[:, 0]]).astype(np.int64) if m else np.empty(0, np.int64)
        last = idx[np.arange(m), k - 1] if m else np.empty(0, np.int64)
        self.birth = piv.known[last].astype(np.int64)
        self.death = np.empty(m, dtype=np.int64)
        if m:
            kern.life(
                high,
                low,
                piv.t,
                piv.price,
                piv.known,
                idx,
                k,
                self.direction,
                wb,
                params.up_to,
                high.shape[0],
                self.death,
            )
        # the fixed rank order: score desc, more confirmed waves, the most recent last pivot, bars
        # (pivot indices sort as their bars do; -1 for a pivot not yet made sorts first either way)
        order = (
            np.lexsort(tuple(idx[:, i] for i in range(4, -1, -1)) + (-last, -k, -score))
            if m
            else np.empty(0, np.int64)
        )
        rank_pos = np.empty(m, dtype=np.int64)
        rank_pos[order] = np.arange(m)
        self.first = np.empty(m, dtype=np.int64)
        top = np.empty(params.live_top, dtype=np.int64)
        ntop = (
            int(
                kern.sweep(
                    rank_pos, self.birth, self.death, params.live_top, c_from - wb, c_to, self.first, top
                )
            )
            if m
            else 0
        )
        self.top = top[:ntop]

    def bars(self, rows) -> np.ndarray:
        """(len(rows), 5) pivot bars of counts `rows` (-1 beyond k)."""
        i = self.idx[rows]
        return np.where(i >= 0, self.piv.t[np.maximum(i, 0)], -1)

    def prices(self, rows) -> np.ndarray:
        i = self.idx[rows]
        return np.where(i >= 0, self.piv.price[np.maximum(i, 0)], np.nan)


def levels(p, k, d):
    """(invalidation, cap, target_lo, target_hi, target side +1/-1 relative to d, invalidation
    reached-is-enough) of counts with pivot prices p (m, 5), waves in progress k, directions d."""
    m = p.shape[0]
    inval = np.full(m, np.nan)
    cap = np.full(m, np.nan)
    lo = np.full(m, np.nan)
    hi = np.full(m, np.nan)
    side = np.zeros(m, dtype=np.int64)
    reach = np.zeros(m, dtype=bool)
    L1 = np.abs(p[:, 1] - p[:, 0])
    L3 = np.abs(p[:, 3] - p[:, 2])
    for wave in (2, 3, 4, 5):
        r = np.flatnonzero(k == wave)
        if not r.size:
            continue
        iv, enough = INVALIDATION[wave]
        inval[r] = p[r, iv]
        reach[r] = enough
        if wave == 2:
            cap[r] = p[r, 1]
        elif wave == 4:
            cap[r] = p[r, 3]
        elif wave == 5:
            short = L3[r] < L1[r]
            cap[r] = np.where(short, p[r, 4] + d[r] * L3[r], np.nan)
        base, leg, (f0, f1), sgn = BANDS[wave]
        L = L1[r] if leg == 1 else L3[r]
        a = p[r, base] + sgn * d[r] * f0 * L
        b = p[r, base] + sgn * d[r] * f1 * L
        if wave == 5:  # clipped at the cap (R2)
            c = cap[r]
            b = np.where(np.isnan(c), b, np.where(d[r] > 0, np.minimum(b, c), np.maximum(b, c)))
        lo[r], hi[r] = np.minimum(a, b), np.maximum(a, b)
        side[r] = sgn
    return inval, cap, lo, hi, side, reach


def _scale(close, params):
    from .engine import symbol_scale

    return symbol_scale(close, params)


def live_table(high, low, close, params: ScanParams, backend: str, scale="auto", pivots=None) -> dict:
    """The `live` rows of one series (LIVE_FIELDS): per degree level, the live_top counts at the
    last bar, best first; `parent` and `group` as row numbers among this series' rows (-1: none).
    scale, pivots: the series' scale factor (engine.symbol_scale) and the scan's own pivots, when
    the caller has them (the degree of multiple 1 uses them)."""
    kern = _Kernels(backend)
    n = high.shape[0]
    if isinstance(scale, str):
        scale = _scale(close, params)
    per_level = []
    for level, mult in enumerate(params.live_degrees):
        piv = pivots if mult == 1.0 and pivots is not None else None
        wk = Walk(high, low, close, params, mult, n - 1, n - 1, kern, scale, piv)
        per_level.append((level, mult, wk))
    rows = {f: [] for f, _ in LIVE_FIELDS}
    start_of = []
    for level, mult, wk in per_level:
        start_of.append(len(rows["rank"]))
        top = wk.top
        if not top.size:
            continue
        p = wk.prices(top)
        tb = wk.bars(top)
        k = wk.k[top]
        d = wk.direction[top]
        inval, cap, lo, hi, side, _ = levels(p, k, d)
        for r, c in enumerate(top):
            kk = int(k[r])
            a = int(tb[r, kk - 1])
            tgt = side[r] * d[r]  # the wave in progress moves this way
            seg = high[a:n] if tgt > 0 else low[a:n]
            e = int(np.argmax(seg) if tgt > 0 else np.argmin(seg))
            rows["level"].append(level)
            rows["degree"].append(degree_threshold(close, params, mult, scale, high, low))
            rows["rank"].append(r + 1)
            rows["direction"].append(int(d[r]))
            rows["wave"].append(kk)
            for i in range(5):
                rows[f"t{i}"].append(int(tb[r, i]))
                rows[f"p{i}"].append(float(p[r, i]))
            rows["t_ext"].append(a + e)
            rows["p_ext"].append(float(seg[e]))
            rows["invalidation"].append(float(inval[r]))
            rows["cap"].append(float(cap[r]))
            rows["target_lo"].append(float(lo[r]))
            rows["target_hi"].append(float(hi[r]))
            rows["score"].append(float(wk.score[c]))
            rows["known_bar"].append(int(wk.first[c]))
    out = {
        f: np.asarray(rows[f], dtype=dt)
        for f, dt in LIVE_FIELDS
        if f not in ("parent", "group", "n_alternatives")
    }
    m = out["rank"].shape[0]
    out["parent"] = _parents(out, m)
    out["group"], out["n_alternatives"] = _groups(out, m)
    return {f: np.asarray(out[f], dtype=dt) for f, dt in LIVE_FIELDS}


def _parents(out, m) -> np.ndarray:
    """Row of the best count one level higher whose wave in progress began at or before this count's
    t0 (so it spans this count's t0 to the last bar); -1 if none."""
    parent = np.full(m, -1, dtype=np.int64)
    for r in range(m):
        up = np.flatnonzero(out["level"] == out["level"][r] + 1)
        for u in up:  # in rank order
            last = out[f"t{int(out['wave'][u]) - 1}"][u]
            if last <= out["t0"][r]:
                parent[r] = u
                break
    return parent


def _groups(out, m):
    """One structure, one line, among a level's rows (rank order): a count joins the group of the
    first better count of its level and direction that shares all but one of its confirmed pivot
    bars (at least one); `n_alternatives` on the group's first row."""
    group = np.arange(m, dtype=np.int64)
    for r in range(m):
        k = int(out["wave"][r])
        mine = {int(out[f"t{i}"][r]) for i in range(k)}
        for u in range(r):
            if out["level"][u] != out["level"][r] or out["direction"][u] != out["direction"][r]:
                continue
            theirs = {int(out[f"t{i}"][u]) for i in range(int(out["wave"][u]))}
            if len(mine & theirs) >= max(1, k - 1):
                group[r] = group[u]
                break
    n_alt = np.bincount(group, minlength=m).astype(np.int64) - 1 if m else np.zeros(0, np.int64)
    n_alt[group != np.arange(m)] = 0
    return group, n_alt


def outcome_rows(
    high, low, close, params: ScanParams, backend: str, bar_lo: int, bar_hi: int, scale="auto"
) -> dict:
    """The outcome study's rows (OUTCOME_FIELDS) of one series: every count first among the
    live_top at a bar in bar_lo .. bar_hi, at that bar (its known_bar), per degree level. scale: the
    series' scale factor when the caller has it."""
    kern = _Kernels(backend)
    n = high.shape[0]
    if isinstance(scale, str):
        scale = _scale(close, params)
    parts = []
    for level, mult in enumerate(params.live_degrees):
        wk = Walk(high, low, close, params, mult, bar_lo, bar_hi, kern, scale)
        sel = np.flatnonzero((wk.first >= bar_lo) & (wk.first <= bar_hi))
        p = wk.prices(sel)
        tb = wk.bars(sel)
        k = wk.k[sel]
        d = wk.direction[sel]
        kb = wk.first[sel]
        inval, cap, lo, hi, side, reach = levels(p, k, d)
        tgt = side * d
        near = np.where(tgt > 0, lo, hi)
        code = np.empty(sel.size, dtype=np.int64)
        bars = np.empty(sel.size, dtype=np.int64)
        frm = tb[np.arange(sel.size), k - 1] if sel.size else np.empty(0, np.int64)
        if sel.size:
            kern.outcome(
                high,
                low,
                frm.astype(np.int64),
                kb.astype(np.int64),
                d.astype(np.int64),
                tgt.astype(np.int64),
                near,
                inval,
                ~reach,
                cap,
                params.outcome_bars,
                n,
                code,
                bars,
            )
        ck = close[kb] if sel.size else np.empty(0)
        part = {
            "level": np.full(sel.size, level),
            "direction": d,
            "wave": k,
            "known_bar": kb,
            "score": wk.score[sel],
            "invalidation": inval,
            "cap": cap,
            "target_lo": lo,
            "target_hi": hi,
            "close_known": ck,
            "outcome": code,
            "bars_to_outcome": bars,
            "ret_target": _log_ratio(near, ck),
            "ret_invalidation": _log_ratio(inval, ck),
            "ret_cap": _log_ratio(cap, ck),
        }
        for i in range(5):
            part[f"t{i}"] = tb[:, i]
        parts.append(part)
    return {
        f: (np.concatenate([q[f] for q in parts]) if parts else np.empty(0)).astype(dt)
        for f, dt in OUTCOME_FIELDS
    }


def _log_ratio(level, close) -> np.ndarray:
    """log(level / close); NaN where the level is none (NaN) or not a price (a band projected below
    zero by a long wave 1 of a falling market)."""
    level = np.asarray(level, dtype=np.float64)
    out = np.full(level.shape, np.nan)
    ok = level > 0
    out[ok] = np.log(level[ok] / close[ok])
    return out


def tally(rows: dict, n_levels: int) -> dict:
    """TALLY_FIELDS rows: per level and wave, the number of counts with each outcome."""
    out = {f: [] for f, _ in TALLY_FIELDS}
    for level in range(n_levels):
        for wave in (2, 3, 4, 5):
            m = (rows["level"] == level) & (rows["wave"] == wave)
            oc = rows["outcome"][m]
            out["level"].append(level)
            out["wave"].append(wave)
            out["n"].append(int(m.sum()))
            out["target"].append(int(np.sum(oc == _live.TARGET)))
            out["invalidation"].append(int(np.sum(oc == _live.INVALIDATION)))
            out["cap"].append(int(np.sum(oc == _live.CAP)))
            out["none"].append(int(np.sum(oc == _live.NONE)))
    return {f: np.asarray(out[f], dtype=dt) for f, dt in TALLY_FIELDS}
