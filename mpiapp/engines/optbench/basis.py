"""Seeded orthonormal bases for building matrices with a prescribed spectrum.

Two constructions, both exactly orthonormal up to float64 rounding:

- ``qr``: the Q factor of a seeded Gaussian matrix (signs fixed by diag(R) > 0): Haar-distributed
  (Mezzadri 2007, "How to generate random matrices from the classical compact groups").
  Cost O(n k^2): the choice up to a few thousand columns.
- ``dct``: columns of a randomly signed, randomly permuted orthonormal DCT-II matrix
  (D_a C^T P). Not Haar, but dense and delocalised (every entry of magnitude about 1/sqrt(n), so a
  coordinate-wise method such as Adam gains nothing from axis alignment), and it costs
  O(n k log n) through the fast transform: the choice for d = 5,000 and 10,000, where a QR of a
  12,000 x 10,000 matrix would take minutes on a laptop.
"""

from __future__ import annotations

import numpy as np

METHODS = ("qr", "dct")


def qr_columns(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """(n, k) with orthonormal columns from a seeded QR. Raises ValueError when k > n."""
    if k > n:
        raise ValueError(f"cannot have {k} orthonormal columns in dimension {n}")
    q, r = np.linalg.qr(rng.standard_normal((n, k)))
    q *= np.sign(np.diag(r))  # unique factor, Haar distributed
    return q


class DCTBasis:
    """The orthonormal n x n matrix Q = D_a C^T P (signs a, DCT-II C, permutation P), never formed.

    ``apply(M)`` returns Q[:, :k] @ M for M of shape (k, m) in O(n m log n);
    ``columns(k)`` returns Q[:, :k] explicitly.
    """

    def __init__(self, rng: np.random.Generator, n: int):
        self.n = n
        self.signs = rng.choice(np.array([-1.0, 1.0]), size=n)
        self.perm = rng.permutation(n)

    def apply(self, M: np.ndarray, workers: int = 1) -> np.ndarray:
        from scipy.fft import idct

        k = M.shape[0]
        full = np.zeros((self.n,) + M.shape[1:], dtype=np.float64)
        full[self.perm[:k]] = M
        out = idct(full, type=2, norm="ortho", axis=0, workers=workers, overwrite_x=True)
        out *= self.signs.reshape((-1,) + (1,) * (out.ndim - 1))
        return out

    def columns(self, k: int, workers: int = 1) -> np.ndarray:
        return self.apply(np.eye(k), workers)


def choose(d: int, qr_max_dim: int) -> str:
    """The construction used for dimension d: qr up to qr_max_dim columns, dct above."""
    return "qr" if d <= qr_max_dim else "dct"
