"""Accuracy of the scan on the synthetic generators' planted impulses (bench/scan_accuracy.py).

recall: a planted impulse is found when a pattern of its direction with each of the six pivot
bars within `tolerance` bars of the planted ones is in the top-k of some window that contains it.
false alarms: patterns scoring above `threshold` per 1,000 bars of pure random walk (plant rate 0).
layout: "guarded" (mpiapp.io.synthetic: p0 beyond the extreme of the 500 bars before it), "late"
(mpiapp.io.synthetic_late: a larger swing before each impulse, the last impulse at the series end)
or "leadin" (mpiapp.io.synthetic_leadin: a pause in a trend, a lead-in of 0.25-0.5 x wave 1).
"""

from __future__ import annotations

import numpy as np

from ...io import synthetic, synthetic_late, synthetic_leadin
from .engine import scan_symbol

LAYOUTS = {
    "guarded": synthetic.generate,
    "late": synthetic_late.generate,
    "leadin": synthetic_leadin.generate,
}


def found(patterns: dict, impulse, tolerance: int = 2) -> bool:
    t = np.stack([patterns[f"t{k}"] for k in range(6)], axis=1)
    near = np.all(np.abs(t - np.asarray(impulse.t)) <= tolerance, axis=1)
    return bool(np.any(near & (patterns["direction"] == impulse.direction)))


def recall(
    params, seed, n_symbols, n_bars, plant_rate, noise, backend="numba", layout="guarded", last_only=False
) -> tuple[int, int]:
    """(found, planted) over a synthetic universe; last_only: count only each symbol's last
    planted impulse (the latest one). Raises KeyError for an unknown layout."""
    gen = LAYOUTS[layout]
    hits = total = 0
    for i in range(n_symbols):
        s, truth = gen(seed, i, n_bars, plant_rate, noise, n_symbols)
        if last_only:
            truth = truth[-1:]
        pats = scan_symbol(s, params, backend).patterns
        total += len(truth)
        hits += sum(found(pats, imp) for imp in truth)
    return hits, total


def false_alarms(params, seed, n_symbols, n_bars, noise, thresholds=(0.7,), backend="numba") -> dict:
    """{threshold: patterns above it per 1,000 bars} on pure random walks."""
    bars = 0
    above = dict.fromkeys(thresholds, 0)
    for i in range(n_symbols):
        s, _ = synthetic.generate(seed, i, n_bars, 0.0, noise, n_symbols)
        score = scan_symbol(s, params, backend).patterns["score"]
        bars += len(s)
        for th in thresholds:
            above[th] += int(np.sum(score > th))
    return {th: 1000.0 * n / bars for th, n in above.items()}
