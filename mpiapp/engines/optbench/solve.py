"""Reference solutions f*, w* for problems without a closed form, cached as JSON.

Logistic: Newton's method with backtracking (Boyd & Vandenberghe 2004, Alg. 9.5) on
f(w) = mean log(1 + exp(-y x.w)) + l2/2 ||w||^2, stopped when ||grad f|| <= 1e-12 * max(1, ||grad f(0)||)
— quadratic convergence makes f(w) - f* there about ||g||^2 / (2 mu), far below 1e-10 relative.
Least squares (real data): w* from an SVD-based lstsq, f* = f(w*).

mu and L: logistic mu = l2 (the regulariser), L = lambda_max(X^T X) / (4 n) + l2; the measured
condition number is that of the Hessian at w*. Least squares: extreme eigenvalues of X^T X / n.
The cache key is a SHA-256 of the data bytes and l2, so a changed data set never reads a stale f*;
a cached (f*, w*) is checked before use — f(w*) must give f* and the gradient at w* must vanish — so
an entry changed since it was written is refused (exit 2, naming it), never used.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .problem import Problem, grad_np, loss_np


def data_hash(*arrays, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def _cache_path(cache_dir, key) -> str:
    return os.path.join(cache_dir, f"ref-{key}.json")


def _cache_get(cache_dir, key):
    if not cache_dir:
        return None
    path = _cache_path(cache_dir, key)
    try:
        with open(path) as fh:
            d = json.load(fh)
        return float(d["f_star"]), np.asarray(d["w_star"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: a cached optimum is taken when f(w*) gives its f* to this relative precision and the gradient
#: norm at w* is below this fraction of the gradient norm at 0 (Newton stops at 1e-12 of it)
REF_F_RTOL = 1e-12
REF_GRAD_RTOL = 1e-8


def check_reference(p: Problem, f_star: float, w_star: np.ndarray, g0: float) -> str | None:
    """Why (f_star, w_star) is not the optimum of `p` (None when it is): a w* of another shape, f(w*)
    that is not f*, a gradient at w* that does not vanish. g0: ||grad f(0)||. Pure."""
    if w_star.shape != (p.d,) or not np.all(np.isfinite(w_star)) or not np.isfinite(f_star):
        return f"w* has shape {w_star.shape} (or non-finite values); this problem has d = {p.d}"
    f = loss_np(p, w_star)
    if abs(f - f_star) > REF_F_RTOL * max(1.0, abs(f)):
        return f"f(w*) = {f!r} but the recorded f* = {f_star!r}"
    gn = float(np.linalg.norm(grad_np(p, w_star)))
    if gn > REF_GRAD_RTOL * max(1.0, g0):
        return f"the gradient norm at w* is {gn:.3g}, not ~0"
    return None


def _cache_put(cache_dir, key, f_star, w_star):
    if not cache_dir:
        return
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"ref-{key}.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"f_star": f_star, "w_star": w_star.tolist()}, fh)
    os.replace(tmp, path)


def newton_logistic(p: Problem, max_iter: int = 100) -> tuple[np.ndarray, int]:
    """(w*, Newton iterations) for the logistic problem p. Raises RuntimeError if not converged."""
    w = np.zeros(p.d)
    g = grad_np(p, w)
    tol = 1e-12 * max(1.0, float(np.linalg.norm(g)))
    for it in range(max_iter):
        if np.linalg.norm(g) <= tol:
            return w, it
        z = p.X @ w
        s = 0.5 * (1.0 + np.tanh(0.5 * z))
        D = s * (1.0 - s)
        H = (p.X.T * D) @ p.X / p.n + p.l2 * np.eye(p.d)
        step = np.linalg.solve(H, -g)
        f0, t, slope = loss_np(p, w), 1.0, float(g @ step)
        while loss_np(p, w + t * step) > f0 + 0.25 * t * slope and t > 1e-10:
            t *= 0.5
        w = w + t * step
        g = grad_np(p, w)
    if np.linalg.norm(g) <= tol:
        return w, max_iter
    raise RuntimeError(f"{p.name}: Newton did not reach ||grad|| <= {tol:.1e} in {max_iter} iterations")


def hessian_logistic(p: Problem, w: np.ndarray) -> np.ndarray:
    z = p.X @ w
    s = 0.5 * (1.0 + np.tanh(0.5 * z))
    return (p.X.T * (s * (1.0 - s))) @ p.X / p.n + p.l2 * np.eye(p.d)


def finish_logistic(name, X, y, X_test, y_test, opts, meta) -> Problem:
    """A logistic Problem with mu = l2, L from the data, f* from a cached Newton solve."""
    n = X.shape[0]
    l2 = float(opts.l2)
    lam_max = float(np.linalg.eigvalsh(X.T @ X / n)[-1])
    row_sq = np.einsum("ij,ij->i", X, X)
    p = Problem(
        name,
        "logistic",
        X,
        y,
        X_test,
        y_test,
        f_star=float("nan"),
        w_star=None,
        L=lam_max / 4.0 + l2,
        mu=l2,
        l2=l2,
        L_max=float(row_sq.max()) / 4.0 + l2,
        meta=dict(meta),
    )
    key = data_hash(X, y, extra=f"logistic l2={l2!r}")
    hit = _cache_get(opts.cache_dir, key)
    if hit is not None:
        why = check_reference(p, hit[0], hit[1], float(np.linalg.norm(grad_np(p, np.zeros(p.d)))))
        if why:
            from .problems import ProblemError

            raise ProblemError(
                f"{name}: the cached reference solution {_cache_path(opts.cache_dir, key)} is not this "
                f"problem's optimum ({why}): it was changed since it was written; remove it (it is "
                "solved again)"
            )
    if hit is None:
        w_star, its = newton_logistic(p)
        f_star = loss_np(p, w_star)
        _cache_put(opts.cache_dir, key, f_star, w_star)
        p.meta["newton_iterations"] = its
    else:
        f_star, w_star = hit
        p.meta["reference"] = "cached"
    p.f_star, p.w_star = f_star, w_star
    ev = np.linalg.eigvalsh(hessian_logistic(p, w_star))
    p.kappa_measured = float(ev[-1] / ev[0])
    p.meta["grad_norm_at_w_star"] = float(np.linalg.norm(grad_np(p, w_star)))
    return p


def finish_lsq(name, X, y, X_test, y_test, opts, meta) -> Problem:
    """A least-squares Problem: w* by lstsq, f* = f(w*), L and mu the extreme eigenvalues of X^T X / n."""
    n = X.shape[0]
    ev = np.linalg.eigvalsh(X.T @ X / n)
    if ev[0] <= 0:
        raise ValueError(f"{name}: X^T X is singular (smallest eigenvalue {ev[0]:.3e}); not strongly convex")
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    row_sq = np.einsum("ij,ij->i", X, X)
    p = Problem(
        name,
        "lsq",
        X,
        y,
        X_test,
        y_test,
        f_star=0.0,
        w_star=w_star,
        L=float(ev[-1]),
        mu=float(ev[0]),
        L_max=float(row_sq.max()),
        meta=dict(meta),
    )
    p.f_star = loss_np(p, w_star)
    p.kappa_measured = float(ev[-1] / ev[0])
    return p
