"""Problems with known answers: synthetic least squares of exact condition number, logistic
regression, and (through datasets.py) real data. `build(name, opts)` is the one entry point.

Names:

    lsq-k1e6-d100[-clustered]   least squares, kappa(X^T X) = 1e6 exactly, d = 100, n = rows_ratio * d
    logreg-d100                 L2-regularised logistic regression on seeded Gaussian data
    digits breast_cancer diabetes mnist5k california mnist finance   real data (datasets.py)

Least squares with an exact spectrum (the construction of Nesterov's and Bubeck's lower-bound
examples made concrete): X = U diag(s) V^T with orthonormal U (n x d), V (d x d) (basis.py) and
s_i = sqrt(n * lambda_i), so the Hessian X^T X / n = V diag(lambda) V^T has eigenvalues lambda_i
exactly, L = max lambda = 1 and mu = min lambda = 1 / kappa. With a sparse w* (a set number of
informative features) and y = X w* + eps, eps = c * q where q is a unit vector orthogonal to the
columns of U, the residual at w* is -eps, hence

    w* = argmin f,   f* = ||eps||^2 / (2 n) = c^2 / (2 n),   L = 1,   mu = 1 / kappa

in closed form (normal equations: X^T (X w* - y) = -X^T eps = 0).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from . import basis
from .problem import Problem

SYNTHETIC = re.compile(r"^lsq-k(?P<kappa>[0-9.e+]+)-d(?P<d>\d+)(?P<clustered>-clustered)?$")
LOGREG = re.compile(r"^logreg-d(?P<d>\d+)$")


class ProblemError(ValueError):
    """A problem name is unknown or its data cannot be loaded; the message says what is expected."""


@dataclass(frozen=True)
class BuildOptions:
    """How problems are built (the optbench config section, minus the grid).

    seed: base seed of every synthetic problem and split; rows_ratio: n / d of the synthetic least
    squares; informative: non-zeros of w*; noise: ||eps|| / ||X w*||; l2: logistic regulariser;
    qr_max_dim: largest d built with a QR basis (dct above); measure_max_dim: largest d whose
    condition number is measured by an SVD; data_dir: where optional files are looked for;
    cache_dir: where reference solutions (f*, w*) are cached (None: not cached); threads: FFT and
    solver threads; finance_lags: lagged returns per row of the finance problem.
    """

    seed: int = 0
    rows_ratio: float = 2.0
    informative: int = 10
    noise: float = 0.1
    l2: float = 1e-3
    qr_max_dim: int = 2000
    measure_max_dim: int = 2000
    data_dir: str | None = None
    cache_dir: str | None = None
    threads: int = 1
    finance_lags: int = 10


def problem_seed(name: str, base: int) -> np.random.Generator:
    """The generator of a problem: a function of its name and the base seed only."""
    return np.random.default_rng([int(base), zlib.crc32(name.encode())])


def spectrum(d: int, kappa: float, clustered: bool = False) -> np.ndarray:
    """Eigenvalues (d,), descending, max exactly 1 and min exactly 1/kappa.

    geometric: lambda_i = kappa^(-i/(d-1)); clustered: the upper half geometric in [0.9, 1], the
    lower half geometric in [1/kappa, 1.1/kappa] (two tight clusters; CG-friendly, not GD-friendly).
    """
    if d < 2:
        raise ProblemError(f"d = {d}: need at least 2 dimensions")
    if clustered:
        hi = d // 2
        lam = np.concatenate([np.geomspace(1.0, 0.9, hi), np.geomspace(1.1 / kappa, 1.0 / kappa, d - hi)])
    else:
        lam = kappa ** (-np.arange(d) / (d - 1.0))
    lam[0], lam[-1] = 1.0, 1.0 / kappa
    return lam


def lsq_exact(name: str, kappa: float, d: int, opts: BuildOptions, clustered: bool = False) -> Problem:
    """Least squares with kappa(X^T X) = kappa exactly (module docstring). Memory: X is n*d*8 bytes
    (n = rows_ratio * d; d = 10,000 with rows_ratio 1.2 is 960 MB, about 3x that while building)."""
    rng = problem_seed(name, opts.seed)
    n = max(d + 1, int(round(opts.rows_ratio * d)))
    lam = spectrum(d, kappa, clustered)
    s = np.sqrt(n * lam)
    method = basis.choose(d, opts.qr_max_dim)
    k = min(opts.informative, d)
    w_star = np.zeros(d)
    w_star[rng.choice(d, size=k, replace=False)] = rng.standard_normal(k)
    m_test = min(n // 4, 1000)
    G = rng.standard_normal((m_test, d))
    if method == "qr":
        U1 = basis.qr_columns(rng, n, d + 1)
        V = basis.qr_columns(rng, d, d)
        U, q = U1[:, :d], U1[:, d]
        X = (U * s) @ V.T
        X_test = (G * np.sqrt(lam)) @ V.T
    else:
        bu, bv = basis.DCTBasis(rng, n), basis.DCTBasis(rng, d)
        Vt = bv.columns(d, opts.threads).T  # (d, d)
        X = bu.apply(s[:, None] * Vt, opts.threads)
        X_test = bv.apply((G * np.sqrt(lam)).T, opts.threads).T
        del Vt
        e = np.zeros((d + 1, 1))
        e[d, 0] = 1.0
        q = bu.apply(e)[:, 0]  # column d of the same orthogonal matrix: orthogonal to range(X)
    Xw = X @ w_star
    c = opts.noise * float(np.linalg.norm(Xw))
    y = Xw + c * q
    f_star = c * c / (2.0 * n)
    sigma = np.sqrt(2.0 * f_star)  # per-row noise of the training residual
    y_test = X_test @ w_star + sigma * rng.standard_normal(m_test)
    row_sq = np.einsum("ij,ij->i", X, X)
    meta = {
        "basis": method,
        "spectrum": "clustered" if clustered else "geometric",
        "kappa_asked": kappa,
        "informative": k,
        "noise": opts.noise,
    }
    p = Problem(
        name,
        "lsq",
        X,
        y,
        X_test,
        y_test,
        f_star,
        w_star,
        L=1.0,
        mu=1.0 / kappa,
        L_max=float(row_sq.max()),
        meta=meta,
    )
    if d <= opts.measure_max_dim:
        measure_kappa(p)
    return p


def measure_kappa(p: Problem) -> None:
    """Measured kappa(X^T X) two ways, into p.kappa_measured and p.meta.

    svd: (sigma_max / sigma_min)^2 from the singular values of X (backward stable: relative error
    about eps * kappa^(1/2) in sigma_min); eigh: the eigenvalues of the formed X^T X (its rounding,
    about eps * ||X||^2 absolute, is relative error eps * kappa at the small end: useless at 1e9+).
    """
    sv = np.linalg.svd(p.X, compute_uv=False)
    p.kappa_measured = float((sv[0] / sv[-1]) ** 2)
    ev = np.linalg.eigvalsh(p.X.T @ p.X)
    p.meta["kappa_svd"] = p.kappa_measured
    p.meta["kappa_eigh_gram"] = float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf")


def logreg_synthetic(name: str, d: int, opts: BuildOptions) -> Problem:
    """L2-regularised logistic regression on n = 4d seeded Gaussian rows with feature scales
    geometric in [1, 0.01] (ill-conditioned data); labels from a noisy linear teacher.
    mu = l2 exactly; L = lambda_max(X^T X) / (4 n) + l2 (the logistic Hessian bound, since
    sigma'(z) <= 1/4); f* from a Newton solve (solve.py)."""
    from .solve import finish_logistic

    rng = problem_seed(name, opts.seed)
    n = 4 * d
    scales = np.geomspace(1.0, 0.01, d)
    X_all = rng.standard_normal((n + n // 4, d)) * scales
    teacher = rng.standard_normal(d) / scales
    y_all = np.sign(X_all @ teacher + 0.5 * np.std(X_all @ teacher) * rng.standard_normal(len(X_all)))
    y_all[y_all == 0] = 1.0
    return finish_logistic(
        name,
        X_all[:n],
        y_all[:n],
        X_all[n:],
        y_all[n:],
        opts,
        {"source": "seeded Gaussian, feature scales 1..0.01"},
    )


def build(name: str, opts: BuildOptions) -> Problem:
    """The problem called `name` (module docstring). Raises ProblemError for an unknown name or
    missing data (the message names the expected file)."""
    m = SYNTHETIC.match(name)
    if m:
        try:
            kappa = float(m["kappa"])
        except ValueError:
            raise ProblemError(f"{name}: cannot read kappa {m['kappa']!r}") from None
        if not kappa >= 1.0:
            raise ProblemError(f"{name}: kappa must be >= 1")
        return lsq_exact(name, kappa, int(m["d"]), opts, clustered=bool(m["clustered"]))
    m = LOGREG.match(name)
    if m:
        return logreg_synthetic(name, int(m["d"]), opts)
    from . import datasets

    if name in datasets.LOADERS:
        return datasets.LOADERS[name](name, opts)
    raise ProblemError(
        f"unknown problem {name!r}; expected lsq-k<kappa>-d<dim>[-clustered], logreg-d<dim> "
        f"or one of {', '.join(sorted(datasets.LOADERS))}"
    )


#: the largest kappa a synthetic problem may ask: 1/kappa must stay a normal float64 (mu > 0)
MAX_KAPPA = 1e300


def check_name(name: str) -> None:
    """Raise ProblemError for a name build() would refuse, without building anything: an unknown
    name, kappa not a finite number in [1, MAX_KAPPA], a dimension below 2."""
    from . import datasets

    m = SYNTHETIC.match(name)
    if m:
        try:
            kappa = float(m["kappa"])
        except ValueError:
            raise ProblemError(f"{name}: cannot read kappa {m['kappa']!r} (e.g. lsq-k1e6-d100)") from None
        if not 1.0 <= kappa <= MAX_KAPPA:
            raise ProblemError(f"{name}: kappa = {m['kappa']} must be a finite number in [1, {MAX_KAPPA:g}]")
        if int(m["d"]) < 2:
            raise ProblemError(
                f"{name}: d = {int(m['d'])}: a least-squares problem needs at least 2 dimensions"
            )
        return
    m = LOGREG.match(name)
    if m:
        if int(m["d"]) < 2:
            raise ProblemError(f"{name}: d = {int(m['d'])}: a logistic problem needs at least 2 dimensions")
        return
    if name in datasets.LOADERS:
        return
    build(name, BuildOptions())  # raises with the full message


def build_bytes(name: str, rows_ratio: float) -> tuple[int, str] | None:
    """(bytes, what) a synthetic problem needs while it is built — its data and the largest
    temporaries (least squares: X and its n x (d+1) basis, V or the DCT's d x d columns, the test
    rows; logistic: 5/4 n x d rows and X^T X) — or None for the real data sets. Pure."""
    m = SYNTHETIC.match(name)
    if m:
        d = int(m["d"])
        n = max(d + 1, int(round(rows_ratio * d)))
        m_test = min(n // 4, 1000)
        return 8 * (2 * n * (d + 1) + d * d + 2 * m_test * d), f"X is {n:,} x {d:,} float64"
    m = LOGREG.match(name)
    if m:
        d = int(m["d"])
        return 8 * (5 * d * d + 2 * d * d), f"X is {4 * d:,} x {d:,} float64"
    return None


def check_grid(p, available: int | None = None) -> None:
    """Raise ValueError naming the key for a grid (`p`: a grid.BenchParams) the engine cannot run: an
    unknown or impossible problem, or one that cannot fit in `available` bytes of memory (None: what this machine has free).
    Each list's values (type, range, none twice) are the schema's checks, made at load and by BenchParams."""
    for name in p.problems:
        check_name(name)
    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    for name in p.problems:
        need = build_bytes(name, p.rows_ratio)
        if need is not None and need[0] > available:
            raise ValueError(
                f"optbench.problems: {name} needs about {need[0] / 2**30:.1f} GiB to build ({need[1]}), "
                f"more than the {available / 2**30:.1f} GiB of memory free here; choose a smaller d"
            )
