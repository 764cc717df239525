"""Ridge regression on standardised features: the linear baseline every model family is judged against.

Pure NumPy on arrays (no MPI, no files), so that any job can fit the same baseline on its own
features. The fit minimises

    sum_i (y_i - b0 - z_i . b)^2 + penalty * m * |b|^2,      z = (x - center) / scale

over m rows, where center and scale are the rows' mean and standard deviation (ddof 0; a constant
column gets scale 1 and, with penalty > 0, coefficient 0). With the penalty counted per row, one value
shrinks alike whatever the number of rows: penalty = 1 halves the coefficient of an uncorrelated
standardised feature. The solution is the usual one (Hoerl and Kennard, Technometrics 1970):
b0 = mean(y), b = (Z'Z + penalty * m * I)^-1 Z'(y - mean(y)) — scikit-learn's `Ridge(alpha=penalty *
m)` on Z gives the same coefficients (a test checks it). Solved here with NumPy because importing
scikit-learn costs every rank 2-4 s for a problem of a few features.

Same answer at any thread count: Z'Z and Z'y are summed by `np.einsum` (one thread, fixed order) and
the f x f system is solved by LAPACK at a size (f = 10-16) that it does not split among threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RidgeFit:
    """A fitted ridge: center, scale, coef are (f,) float64; intercept and penalty floats.

    predict(X) = intercept + ((X - center) / scale) . coef."""

    center: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    penalty: float

    def predict(self, X) -> np.ndarray:
        """(m,) float64 forecasts of X (m, f). Raises ValueError for the wrong number of columns."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.coef.shape[0]:
            raise ValueError(f"ridge: X has shape {X.shape}, the model has {self.coef.shape[0]} features")
        return self.intercept + np.einsum("ij,j->i", (X - self.center) / self.scale, self.coef)


def standardiser(X) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of X (m, f): column means and standard deviations (ddof 0), scale 1 where 0."""
    X = np.asarray(X, dtype=np.float64)
    center = X.mean(axis=0)
    scale = X.std(axis=0)
    return center, np.where(scale > 0, scale, 1.0)


def _solve(Z: np.ndarray, yc: np.ndarray, penalties) -> list[np.ndarray]:
    G = np.einsum("ij,ik->jk", Z, Z)
    r = np.einsum("ij,i->j", Z, yc)
    return solve_sums(G, r, Z.shape[0], penalties)


def solve_sums(G, r, m: int, penalties) -> list[np.ndarray]:
    """The coefficients b (f,) for each penalty from sums over m rows of standardised features:
    G = Z'Z (f, f) and r = Z'(y - mean(y)) (f,): b = (G + penalty * m * I)^-1 r. What fit_ridge solves,
    for a caller that sums G and r in pieces (rows that do not fit in memory at once)."""
    G, r = np.asarray(G, dtype=np.float64), np.asarray(r, dtype=np.float64)
    eye = np.eye(G.shape[0])
    return [np.linalg.solve(G + float(p) * m * eye, r) for p in penalties]


def fit_ridge(X, y, penalty: float) -> RidgeFit:
    """Ridge of y (m,) on the standardised columns of X (m, f); penalty per row (> 0).

    Raises ValueError for penalty <= 0, m < 1 or non-finite input."""
    X, y = _checked(X, y)
    if not penalty > 0:
        raise ValueError(f"ridge: penalty must be > 0, got {penalty}")
    center, scale = standardiser(X)
    mu = float(y.mean())
    (coef,) = _solve((X - center) / scale, y - mu, [penalty])
    return RidgeFit(center, scale, coef, mu, float(penalty))


def choose_penalty(X, y, fit, val, penalties) -> tuple[float, np.ndarray]:
    """(penalty, val_mse): the penalty of `penalties` whose ridge, fitted on rows `fit`, has the lowest
    mean squared error on rows `val` (ties: the first listed), and that error for each penalty.

    fit, val: row positions (e.g. cv.inner_split of a training fold). Raises ValueError for an empty
    list, a penalty <= 0 or empty fit / val rows."""
    pens = [float(p) for p in penalties]
    if not pens or min(pens) <= 0:
        raise ValueError(f"ridge: penalties must be a non-empty list of values > 0, got {penalties}")
    X, y = _checked(X, y)
    fit, val = np.asarray(fit, dtype=np.int64), np.asarray(val, dtype=np.int64)
    if fit.size == 0 or val.size == 0:
        raise ValueError("ridge: the inner split has no rows to fit on or none to validate on")
    center, scale = standardiser(X[fit])
    mu = float(y[fit].mean())
    Zv = (X[val] - center) / scale
    mse = np.array(
        [
            float(np.mean((y[val] - mu - np.einsum("ij,j->i", Zv, b)) ** 2))
            for b in _solve((X[fit] - center) / scale, y[fit] - mu, pens)
        ]
    )
    return pens[int(np.argmin(mse))], mse


def _checked(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] < 1:
        raise ValueError(f"ridge: X must be (m, f) and y (m,) with m >= 1, got {X.shape} and {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("ridge: X and y must be finite")
    return X, y
