"""Synthetic series whose impulses come late and after a larger swing (the hard case for start rules).

`mpiapp.io.synthetic` places every planted p0 beyond the extreme of the 500 bars before it, so p0
is the most extreme pivot of every window that holds it. Real series are not that kind: an impulse
often starts after the market went further earlier in the same window. This layout plants, before
each impulse's lead-in, a *pre-swing* that goes beyond p0 K times (K = 2, 3 or 4 extremes, each
3-12 % (log) beyond p0, separated by reversals of at least 7 %), then returns to the lead-in's start
level; and it places the last impulse at the end of the series (a trailing stretch of GAP_MIN bars
of background after its lead-out), so that it lies in the last windows, where no window starts
after the pre-swing. With K >= 3, p0 is not among the window's three most extreme pivots of its
kind in any window that holds the last impulse.

Everything else is the generator of `mpiapp.io.synthetic` (shapes, legs, background, ground truth,
bar construction): impulse shapes and legs come from its helpers, so the six pivots are found by a
3 % zig-zag exactly as there. There is no guard after a run (the background is a plain random walk).
Seeded from (seed, i) alone, with a stream distinct from `synthetic.generate`'s.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import synthetic as syn
from .series import Series

PRE_EXTREMES = (2, 4)          # K, inclusive
PRE_BEYOND = (0.03, 0.12)      # each pre-swing extreme lies this far (log) beyond p0
PRE_REVERSAL = 0.07            # reversals inside the pre-swing are at least this (log)
PRE_LEG_EXTRA = (0, 10)        # bars added to each pre-swing leg beyond the MAX_STEP minimum
STREAM = 0x1A7E                # third seed word: a stream of its own


def _pre_levels(rng, x: float, p0: float, d: int) -> list[float]:
    """Log levels the pre-swing visits after x: ext_1, ctr_1, ext_2, ..., ext_K, then x again."""
    k = int(rng.integers(PRE_EXTREMES[0], PRE_EXTREMES[1] + 1))
    beyond = rng.uniform(*PRE_BEYOND, size=k)
    levels = []
    for j in range(k):
        ext = p0 - d * beyond[j]
        levels.append(ext)
        if j + 1 < k:
            # counter-swing from this extreme, far enough that the next extreme is a reversal
            u = PRE_REVERSAL + max(0.0, beyond[j] - beyond[j + 1]) + rng.uniform(0.0, 0.05)
            levels.append(ext + d * u)
    levels.append(x)
    return levels


def _bars_for(move: float, rng) -> int:
    return max(8, math.ceil(abs(move) / (0.9 * syn.MAX_STEP))) + int(rng.integers(*PRE_LEG_EXTRA))


@functools.lru_cache(maxsize=4)
def generate(seed: int, i: int, n_bars: int, plant_rate: float = 1.0, noise: float = 0.1,
             n_symbols: int = 10_000) -> tuple[Series, tuple]:
    """Symbol i: (Series, planted impulses as `synthetic.Impulse`). Cached (arrays read-only).

    Same arguments and meaning as `synthetic.generate`; the names are those of `synthetic`
    (SYN0000 ...), the data differ (layout above). Raises nothing for small n_bars: runs that do
    not fit are dropped, as in `synthetic.generate`.
    """
    name = syn.symbol_name(i, n_symbols)
    rng = np.random.default_rng([int(seed), int(i), STREAM])
    n = int(n_bars)
    x0 = rng.uniform(math.log(20.0), math.log(400.0))
    sig, mu = syn._regimes(rng, n)
    z = rng.standard_normal(n)
    zgap = rng.standard_normal(n)
    zw = np.abs(rng.standard_normal((2, n)))

    expected = plant_rate * n / 1000.0
    k = int(math.floor(expected)) + int(rng.random() < expected - math.floor(expected))
    shapes = [syn._draw_shape(rng, noise) for _ in range(k)]
    # a pre-swing takes at most (2 * 4) legs of <= ~32 bars (a 0.3 log move at 0.9 * MAX_STEP + 10)
    pre_max = 8 * (math.ceil(0.3 / (0.9 * syn.MAX_STEP)) + PRE_LEG_EXTRA[1])
    while shapes and sum(s.length + pre_max for s in shapes) + syn.GAP_MIN * (len(shapes) + 1) > n:
        shapes.pop()
    k = len(shapes)

    lo, lh, ll, lc = (np.empty(n) for _ in range(4))
    state = {"pos": 0, "x": x0}

    def background(count: int) -> None:
        pos, x = state["pos"], state["x"]
        end = pos + count
        if count > 0:
            r = mu[pos:end] - syn.KAPPA * (x - x0) + sig[pos:end] * z[pos:end]
            c = x + np.cumsum(r)
            o = np.concatenate([[x], c[:-1]]) + 0.1 * sig[pos:end] * zgap[pos:end]
            lc[pos:end], lo[pos:end] = c, o
            lh[pos:end] = np.maximum(o, c) + 0.4 * sig[pos:end] * zw[0, pos:end]
            ll[pos:end] = np.minimum(o, c) - 0.4 * sig[pos:end] * zw[1, pos:end]
            state["x"] = c[-1]
        state["pos"] = end

    def put(bars) -> None:
        o, h, l, c = bars
        m = o.shape[0]
        pos = state["pos"]
        lo[pos:pos + m], lh[pos:pos + m], ll[pos:pos + m], lc[pos:pos + m] = o, h, l, c
        state["pos"] = pos + m
        state["x"] = c[-1]

    # pre-swings are drawn with the runs, so the free bars are known only as runs are built: build
    # the runs' bars first (relative to a level 0), then lay them out with background between them
    runs = []
    for sh in shapes:
        d = 1 if rng.random() < 0.5 else -1
        depth = min(0.9 * syn.MAX_STEP * sh.n_in, -math.log1p(-sh.q_in))
        levels = _pre_levels(rng, 0.0, -d * depth, d)
        legs = [_bars_for(b - a, rng) for a, b in zip([0.0] + levels[:-1], levels)]
        runs.append((sh, d, depth, levels, legs))
    used = sum(sh.length + sum(legs) for sh, _, _, _, legs in runs)
    free = n - used - syn.GAP_MIN * (k + 1)
    if k and free < 0:  # cannot happen given pre_max, but never build a broken series
        raise AssertionError("synthetic_late: runs do not fit")
    # leading gaps share the free bars; the trailing gap is exactly GAP_MIN (the last run is late)
    share = np.floor(rng.dirichlet(np.ones(k)) * free).astype(np.int64) if k else np.zeros(0, np.int64)
    gaps = list(syn.GAP_MIN + share) + [syn.GAP_MIN]
    gaps[-1] += n - used - int(sum(gaps))

    truth = []
    for j in range(k + 1):
        background(int(gaps[j]))
        if j == k:
            break
        sh, d, depth, levels, legs = runs[j]
        x = state["x"]
        prev = x
        for m, (lev, nb) in enumerate(zip(levels, legs)):
            a, b = prev, x + lev
            put(syn._leg(rng, state["x"], a, b, nb, wiggle=noise * abs(b - a) / math.sqrt(nb),
                         wick=0.0015, clip_start=m > 0, end_pivot=True))
            prev = b
        f_lo, f_hi = syn._f_bounds(sh.ell, d)
        f_hi = min(f_hi, syn._step_f_max(sh.ell, d, sh.dur))
        f = rng.uniform(f_lo, f_hi) if f_hi > f_lo else f_lo
        c = syn._cum(sh.ell)
        base = x - d * depth
        piv = base + np.log1p(d * f * c)
        out = piv[5] + (math.log1p(-sh.q_out) if d > 0 else -math.log1p(-sh.q_out))
        t0 = state["pos"] + sh.n_in - 1
        put(syn._leg(rng, state["x"], x, piv[0], sh.n_in,
                     wiggle=noise * abs(piv[0] - x) / math.sqrt(sh.n_in), wick=0.0015,
                     clip_start=True, end_pivot=True))
        for w in range(5):
            nb = int(sh.dur[w])
            put(syn._leg(rng, state["x"], piv[w], piv[w + 1], nb,
                         wiggle=noise * abs(piv[w + 1] - piv[w]) / math.sqrt(nb), wick=0.0015,
                         clip_start=True, end_pivot=True))
        put(syn._leg(rng, state["x"], piv[5], out, sh.n_out,
                     wiggle=noise * abs(out - piv[5]) / math.sqrt(sh.n_out), wick=0.0015,
                     clip_start=True, end_pivot=False))
        truth.append((d, t0 + np.concatenate([[0], np.cumsum(sh.dur)])))
    assert state["pos"] == n, (state["pos"], n)

    o, h, l, c = np.exp(lo), np.exp(lh), np.exp(ll), np.exp(lc)
    h = np.maximum(h, np.maximum(o, c))
    l = np.minimum(l, np.minimum(o, c))
    impulses = []
    for d, t in truth:
        t = tuple(int(v) for v in t)
        p = tuple(float(l[ti] if (w % 2 == 0) == (d > 0) else h[ti]) for w, ti in enumerate(t))
        impulses.append(syn.Impulse(name, int(d), t, p))
    arrays = [syn.time_axis(n), o, h, l, c]
    for a in arrays:
        a.setflags(write=False)
    return Series(name, *arrays, origin=f"synthetic-late:{n_symbols}[seed={seed}]", has_ohlc=True), \
        tuple(impulses)
