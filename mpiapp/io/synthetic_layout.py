"""The run builder shared by the synthetic layouts that put a pre-swing before each planted impulse.

`mpiapp.io.synthetic` plants impulses whose p0 is beyond the extreme of the 500 bars before it. The
layouts built here (`synthetic_late`, `synthetic_leadin`) instead let each run begin with a
*pre-swing*: legs through given log levels (relative to the level where it starts), chosen by the
layout's `plan` function, then the impulse's lead-in, waves 1-5 and lead-out built exactly as in
`synthetic` (its shapes, legs, background and bar construction), so the six pivots are found by a
3 % zig-zag as there. There is no guard after a run (the background is a plain random walk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import synthetic as syn
from .series import Series


@dataclass
class Run:
    """What a layout's plan decides for one planted impulse: its direction d, the lead-in depth
    (log move into p0), the pre-swing's log levels relative to the run's start and the bars of each
    of its legs, and the scale f = L1 / p0 (None: drawn when the run is built, as `synthetic` does)."""

    d: int
    depth: float
    levels: list
    legs: list
    f: float | None = None


def generate(
    seed, i, n_bars, plant_rate, noise, n_symbols, *, stream: int, plan, pre_max: int, late: bool, origin: str
) -> tuple[Series, tuple]:
    """Symbol i of a layout: (Series, planted impulses as `synthetic.Impulse`).

    plan(rng, shape) -> Run, called once per planted run in order; pre_max: the most bars a run's
    pre-swing can take (runs that would not fit are dropped, as in `synthetic.generate`); late: the
    last run ends GAP_MIN bars before the series end (else the free bars are shared by all gaps).
    Seeded from (seed, i, stream) alone.
    """
    name = syn.symbol_name(i, n_symbols)
    rng = np.random.default_rng([int(seed), int(i), stream])
    n = int(n_bars)
    x0 = rng.uniform(math.log(20.0), math.log(400.0))
    sig, mu = syn._regimes(rng, n)
    z = rng.standard_normal(n)
    zgap = rng.standard_normal(n)
    zw = np.abs(rng.standard_normal((2, n)))

    expected = plant_rate * n / 1000.0
    k = int(math.floor(expected)) + int(rng.random() < expected - math.floor(expected))
    shapes = [syn._draw_shape(rng, noise) for _ in range(k)]
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
        lo[pos : pos + m], lh[pos : pos + m], ll[pos : pos + m], lc[pos : pos + m] = o, h, l, c
        state["pos"] = pos + m
        state["x"] = c[-1]

    # pre-swings are drawn with the runs, so the free bars are known only as runs are built: build
    # the runs' plans first (relative to a level 0), then lay them out with background between them
    runs = [plan(rng, sh) for sh in shapes]
    used = sum(sh.length + sum(r.legs) for sh, r in zip(shapes, runs))
    free = n - used - syn.GAP_MIN * (k + 1)
    if k and free < 0:  # cannot happen given pre_max, but never build a broken series
        raise AssertionError(f"{origin}: runs do not fit")
    if late:  # leading gaps share the free bars; the trailing gap is exactly GAP_MIN
        share = np.floor(rng.dirichlet(np.ones(k)) * free).astype(np.int64) if k else np.zeros(0, np.int64)
        gaps = list(syn.GAP_MIN + share) + [syn.GAP_MIN]
    else:
        share = np.floor(rng.dirichlet(np.ones(k + 1)) * max(free, 0)).astype(np.int64)
        gaps = list(syn.GAP_MIN + share)
    gaps[-1] += n - used - int(sum(gaps))

    truth = []
    for j in range(k + 1):
        background(int(gaps[j]))
        if j == k:
            break
        sh, run = shapes[j], runs[j]
        d, depth = run.d, run.depth
        x = state["x"]
        prev = x
        for m, (lev, nb) in enumerate(zip(run.levels, run.legs)):
            a, b = prev, x + lev
            put(
                syn._leg(
                    rng,
                    state["x"],
                    a,
                    b,
                    nb,
                    wiggle=noise * abs(b - a) / math.sqrt(nb),
                    wick=0.0015,
                    clip_start=m > 0,
                    end_pivot=True,
                )
            )
            prev = b
        f = run.f
        if f is None:
            f_lo, f_hi = syn._f_bounds(sh.ell, d)
            f_hi = min(f_hi, syn._step_f_max(sh.ell, d, sh.dur))
            f = rng.uniform(f_lo, f_hi) if f_hi > f_lo else f_lo
        c = syn._cum(sh.ell)
        base = x - d * depth
        piv = base + np.log1p(d * f * c)
        out = piv[5] + (math.log1p(-sh.q_out) if d > 0 else -math.log1p(-sh.q_out))
        t0 = state["pos"] + sh.n_in - 1
        put(
            syn._leg(
                rng,
                state["x"],
                x,
                piv[0],
                sh.n_in,
                wiggle=noise * abs(piv[0] - x) / math.sqrt(sh.n_in),
                wick=0.0015,
                clip_start=bool(run.levels),
                end_pivot=True,
            )
        )
        for w in range(5):
            nb = int(sh.dur[w])
            put(
                syn._leg(
                    rng,
                    state["x"],
                    piv[w],
                    piv[w + 1],
                    nb,
                    wiggle=noise * abs(piv[w + 1] - piv[w]) / math.sqrt(nb),
                    wick=0.0015,
                    clip_start=True,
                    end_pivot=True,
                )
            )
        put(
            syn._leg(
                rng,
                state["x"],
                piv[5],
                out,
                sh.n_out,
                wiggle=noise * abs(out - piv[5]) / math.sqrt(sh.n_out),
                wick=0.0015,
                clip_start=True,
                end_pivot=False,
            )
        )
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
    return Series(name, *arrays, origin=f"{origin}:{n_symbols}[seed={seed}]", has_ohlc=True), tuple(impulses)
