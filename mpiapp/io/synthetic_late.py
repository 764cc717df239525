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

Everything else is the generator of `mpiapp.io.synthetic` through `mpiapp.io.synthetic_layout`
(shapes, legs, background, ground truth, bar construction), so the six pivots are found by a 3 %
zig-zag exactly as there. There is no guard after a run (the background is a plain random walk).
Seeded from (seed, i) alone, with a stream distinct from `synthetic.generate`'s.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import synthetic as syn
from . import synthetic_layout as layout
from .series import Series
from .synthetic_layout import Run

PRE_EXTREMES = (2, 4)  # K, inclusive
PRE_BEYOND = (0.03, 0.12)  # each pre-swing extreme lies this far (log) beyond p0
PRE_REVERSAL = 0.07  # reversals inside the pre-swing are at least this (log)
PRE_LEG_EXTRA = (0, 10)  # bars added to each pre-swing leg beyond the MAX_STEP minimum
STREAM = 0x1A7E  # third seed word: a stream of its own


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


def _plan(rng, sh) -> Run:
    d = 1 if rng.random() < 0.5 else -1
    depth = min(0.9 * syn.MAX_STEP * sh.n_in, -math.log1p(-sh.q_in))
    levels = _pre_levels(rng, 0.0, -d * depth, d)
    legs = [_bars_for(b - a, rng) for a, b in zip([0.0] + levels[:-1], levels)]
    return Run(d, depth, levels, legs)


#: a pre-swing takes at most (2 * 4) legs of <= ~32 bars (a 0.3 log move at 0.9 * MAX_STEP + 10)
PRE_MAX = 8 * (math.ceil(0.3 / (0.9 * syn.MAX_STEP)) + PRE_LEG_EXTRA[1])


@functools.lru_cache(maxsize=4)
def generate(
    seed: int, i: int, n_bars: int, plant_rate: float = 1.0, noise: float = 0.1, n_symbols: int = 10_000
) -> tuple[Series, tuple]:
    """Symbol i: (Series, planted impulses as `synthetic.Impulse`). Cached (arrays read-only).

    Same arguments and meaning as `synthetic.generate`; the names are those of `synthetic`
    (SYN0000 ...), the data differ (layout above). Raises nothing for small n_bars: runs that do
    not fit are dropped, as in `synthetic.generate`.
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
        late=True,
        origin="synthetic-late",
    )
