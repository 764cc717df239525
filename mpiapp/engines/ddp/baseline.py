"""The linear baseline of the pooled model: the train job's ridge on the feature store's features.

The same estimator as the train job's `ridge` family (engines/train/linear.py: standardised features,
the penalty counted per row; Hoerl and Kennard 1970), fitted once on the pooled training split — the
bar's own features, what the MLP sees — with the training split's exact mean and standard deviation
(evaluate.input_stats; ddof 0, a constant column scaled by 1, as linear.standardiser). The penalty is
the value of `train.ridge.penalties` with the lowest mean squared error on the validation split (the
split early stopping uses); the test split is never looked at.

Out of core, like the model's statistics: Z'Z and Z'(y - mean) are summed over fixed pieces of
evaluate.PIECE samples, each piece by one rank, and the pieces added in order on every rank — the
same float64 sums, hence the same coefficients, at any rank count. The validation error of each
penalty comes from the validation split's sums: sum (yc - Z b)^2 = yc'yc - 2 b'Z'yc + b'Z'Z b.
"""

from __future__ import annotations

import numpy as np

from ...runtime import torch_dist
from ..train.linear import RidgeFit, solve_sums
from .evaluate import PIECE


def piece_sums(reader, rank: int, size: int, width: int, fn, comm=None) -> np.ndarray:
    """Collective: the sum over `reader`'s split of fn(x, y) -> (width,) float64, where x (m, F) are the
    samples' own-bar features (float64) and y (m,) their targets; the same result at any rank count."""
    n = reader.index.n
    pieces = -(-n // PIECE)
    mine = np.zeros((max(pieces, 1), width), dtype=np.float64)
    for q in range(rank, pieces, size):
        for x, y in reader.chunks(q * PIECE, min(n, (q + 1) * PIECE)):
            if x.shape[0]:
                mine[q] += fn(x[:, -1, :].astype(np.float64), y.astype(np.float64))
    total = torch_dist.sums(mine.ravel(), comm=comm).reshape(mine.shape)
    s = np.zeros(width, dtype=np.float64)
    for q in range(pieces):  # piece order
        s += total[q]
    return s


def _normal_sums(stats: dict):
    mean, std, ym = np.asarray(stats["x_mean"]), np.asarray(stats["x_std"]), float(stats["y_mean"])

    def fn(x, y):
        z = (x - mean) / std
        yc = y - ym
        return np.concatenate(
            [
                np.einsum("ij,ik->jk", z, z).ravel(),
                np.einsum("ij,i->j", z, yc),
                [float(np.dot(yc, yc)), float(x.shape[0])],
            ]
        )

    return fn


def ridge(
    readers: dict, stats: dict, penalties, rank: int, size: int, comm=None
) -> tuple[RidgeFit, np.ndarray]:
    """Collective: (the ridge fitted on the training split with the chosen penalty, validation MSE of
    each penalty in `penalties` order). readers: {"train", "validation": StoreReader}; stats:
    evaluate.input_stats of the training split. Raises ValueError for an empty penalty list."""
    pens = [float(p) for p in penalties]
    if not pens:
        raise ValueError("ddp ridge baseline: train.ridge.penalties is empty")
    F = int(np.asarray(stats["x_mean"]).shape[0])
    width = F * F + F + 2
    fn = _normal_sums(stats)
    tr = piece_sums(readers["train"], rank, size, width, fn, comm)
    va = piece_sums(readers["validation"], rank, size, width, fn, comm)
    G, r, m = tr[: F * F].reshape(F, F), tr[F * F : F * F + F], int(tr[-1])
    Gv, rv, yyv, nv = va[: F * F].reshape(F, F), va[F * F : F * F + F], va[-2], max(va[-1], 1.0)
    coefs = solve_sums(G, r, max(m, 1), pens)
    mse = np.array([(yyv - 2.0 * float(b @ rv) + float(b @ Gv @ b)) / nv for b in coefs])
    k = int(np.argmin(mse))
    fit = RidgeFit(
        np.asarray(stats["x_mean"], dtype=np.float64),
        np.asarray(stats["x_std"], dtype=np.float64),
        coefs[k],
        float(stats["y_mean"]),
        pens[k],
    )
    return fit, mse
