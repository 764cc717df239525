"""Synthetic series whose impulses start after a short pause: a lead-in of 0.25-0.5 x wave 1.

The counter-move that ends at p0 (the start rule's *swing*, docs/scan.md "Start points") is the
lead-in: from the highest price since the market was last beyond p0 (bullish; mirrored for bearish)
down to p0. `mpiapp.io.synthetic` plants lead-ins of 10-20 % of price against a wave 1 of 10-25 %
(swing >= 0.4 x L1) and puts p0 beyond the previous 500 bars' extreme. Here each run is a pause in
a trend instead: a pre-swing that goes beyond p0 by 3-8 % (log) - an earlier low below p0 for a
bullish run -, turns, and rises to the lead-in's start, p0 + `ratio` x L1 (price), from where the
lead-in falls to p0; then waves 1-5 as in `synthetic`. So the swing into p0 is ratio x L1 exactly
(up to the wicks' 0.02 %), `ratio` drawn uniformly from LEAD_IN_RATIO per run.

Every reversal is still found by a 3 % zig-zag: the lead-in falls at least 4.5 % (f = L1/p0 is
drawn at least 0.045 / ratio; where the shape's f range cannot reach that, f is its largest value
and the ratio is raised to 0.045 / f), the pre-swing's turn is at least 7.5 %. The realised ratio of
each impulse can be read back from the bars (tests do). Built by `mpiapp.io.synthetic_layout`;
the runs are spread over the series (no late placement, no guard).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import synthetic as syn
from . import synthetic_layout as layout
from .series import Series
from .synthetic_layout import Run

LEAD_IN_RATIO = (0.25, 0.5)  # the lead-in's length as a fraction of L1 (price)
LEAD_IN_MIN = 0.045  # the lead-in's fall is at least this fraction of its start price
PRE_BEYOND = (0.03, 0.08)  # the pre-swing's extreme lies this far (log) beyond p0
STREAM = 0x1EAD  # third seed word: a stream of its own
PRE_MAX = 2 * (math.ceil(0.3 / (0.9 * syn.MAX_STEP)) + 10)


def _bars_for(move: float, rng) -> int:
    return max(8, math.ceil(abs(move) / (0.9 * syn.MAX_STEP))) + int(rng.integers(0, 10))


def _plan(rng, sh) -> Run:
    d = 1 if rng.random() < 0.5 else -1
    ratio = float(rng.uniform(*LEAD_IN_RATIO))
    f_lo, f_hi = syn._f_bounds(sh.ell, d)
    f_hi = min(f_hi, syn._step_f_max(sh.ell, d, sh.dur))
    f_lo = max(f_lo, LEAD_IN_MIN / ratio)
    if f_lo <= f_hi:
        f = float(rng.uniform(f_lo, f_hi))
    else:  # the shape cannot carry so short a lead-in at 4.5 %: the largest f, a longer lead-in
        f = f_hi
        ratio = LEAD_IN_MIN / f
    # bullish: the lead-in starts at p0 * (1 + ratio * f) and falls to p0; in log, p0 = start - depth
    depth = abs(math.log1p(d * ratio * f))
    beyond = float(rng.uniform(*PRE_BEYOND))
    levels = [-d * (depth + beyond), 0.0]  # beyond p0, then back to the lead-in's start
    legs = [_bars_for(levels[0], rng), _bars_for(depth + beyond, rng)]
    return Run(d, depth, levels, legs, f)


@functools.lru_cache(maxsize=4)
def generate(
    seed: int, i: int, n_bars: int, plant_rate: float = 1.0, noise: float = 0.1, n_symbols: int = 10_000
) -> tuple[Series, tuple]:
    """Symbol i: (Series, planted impulses as `synthetic.Impulse`). Cached (arrays read-only).

    Same arguments and meaning as `synthetic.generate`; the names are those of `synthetic`
    (SYN0000 ...), the data differ (layout above). Runs that do not fit are dropped.
    """
    return layout.generate(
        seed,
        i,
        n_bars,
        plant_rate,
        noise,
        n_symbols,
        stream=STREAM,
        plan=_plan,
        pre_max=PRE_MAX,
        late=False,
        origin="synthetic-leadin",
    )


def lead_in_ratio(series, impulse) -> float:
    """The realised swing into p0 over L1, read from the bars (the start rule's definition)."""
    t0 = impulse.t[0]
    p0, p1 = impulse.p[0], impulse.p[1]
    if impulse.direction > 0:
        beyond = np.flatnonzero(series.low[:t0] < p0)
        b = int(beyond[-1]) if beyond.size else -1
        swing = float(series.high[b + 1 : t0].max()) - p0 if t0 > b + 1 else 0.0
    else:
        beyond = np.flatnonzero(series.high[:t0] > p0)
        b = int(beyond[-1]) if beyond.size else -1
        swing = p0 - float(series.low[b + 1 : t0].min()) if t0 > b + 1 else 0.0
    return swing / abs(p1 - p0)
