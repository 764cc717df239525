"""Backend parity: do two backends follow the same trajectory for the first steps?

Both run the same optimizer with the same hyper-parameters from the same start point, on the same
mini-batches, for `steps` steps; the deviation after step k is ||w_a(k) - w_b(k)|| / max(||w_a(k)||, tiny)
and the check reports the largest over k. In float64 the two differ only by rounding order
(BLAS vs torch kernels, fused vs separate updates): a few ulps per step, amplified at most by the
step's Lipschitz factor. TOLERANCE = 1e-9 relative leaves ample room for that over 20 steps and is
still far below any real difference of algorithm (a different momentum convention or bias
correction shows up at 1e-2 or more after the first step).
"""

from __future__ import annotations

import numpy as np

from .recorder import Batches

TOLERANCE = 1e-9


def trajectory(be, dd, optimizer, hp, w0, steps: int, batch: int = 0, batch_seed: int = 0) -> np.ndarray:
    """(steps + 1, d) iterates on the host, starting with w0."""
    n = int(dd.X.shape[0])
    full = batch <= 0 or batch >= n
    bt = None if full else Batches(n, batch, batch_seed)
    r = be.runner(dd, optimizer, hp, w0)
    out = [np.array(w0, dtype=np.float64)]
    for _ in range(steps):
        r.step(None if full else bt.next())
        out.append(be.get(r.params()).copy())
    return np.array(out)


def deviation(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative distance between matching rows of two trajectories."""
    num = np.linalg.norm(a - b, axis=1)
    den = np.maximum(np.linalg.norm(a, axis=1), 1e-300)
    return float(np.max(num / den))
