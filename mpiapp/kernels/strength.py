"""How directional a pattern's waves are: the mean efficiency ratio of its five waves.

A wave from bar a to bar b has efficiency |log C[b] - log C[a]| / sum over bars a+1..b of
|log C[k] - log C[k-1]| (P. Kaufman's efficiency ratio, "Smarter Trading", 1995): 1 for a straight
move, near 0 for a path that goes back and forth. Elliott's waves are directional moves; a random
walk that happens to trace the right pivots does so along choppy paths. In [0, 1]; a wave with no
movement at all (a zero path) counts 0.
"""

from __future__ import annotations

import numpy as np


def wave_efficiency(close, t6) -> np.ndarray:
    """(N,) mean efficiency of the five waves of each row of t6 ((N, 6) int bar indices, ascending).

    close: (n,) positive prices (validated data)."""
    lc = np.log(np.asarray(close, dtype=np.float64))
    path = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(lc)))))
    t6 = np.asarray(t6, dtype=np.int64).reshape(-1, 6)
    a, b = t6[:, :-1], t6[:, 1:]
    net = np.abs(lc[b] - lc[a])
    tot = path[b] - path[a]
    eff = np.divide(net, tot, out=np.zeros_like(net), where=tot > 0)
    return eff.mean(axis=1)
