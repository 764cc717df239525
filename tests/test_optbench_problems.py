"""optbench problems: closed-form checks against independent computations (SVD, eigh, normal equations)."""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.engines.optbench import basis, problems
from mpiapp.engines.optbench.problem import grad_np, loss_np

OPTS = problems.BuildOptions()


@pytest.mark.parametrize("kappa", [1e3, 1e6, 1e9])
def test_lsq_closed_form(kappa):
    p = problems.build(f"lsq-k{kappa:g}-d100", OPTS)
    assert (p.n, p.d) == (200, 100)
    # f at w* equals the closed-form f* to 1e-12 relative
    assert abs(loss_np(p, p.w_star) - p.f_star) <= 1e-12 * p.f_star
    # w* solves the normal equations: the gradient there is rounding noise next to the gradient at 0
    assert np.linalg.norm(grad_np(p, p.w_star)) <= 1e-12 * np.linalg.norm(grad_np(p, np.zeros(p.d)))
    # measured kappa(X^T X) from the singular values of X, independently of the construction
    sv = np.linalg.svd(p.X, compute_uv=False)
    measured = (sv[0] / sv[-1]) ** 2
    assert abs(measured / kappa - 1) <= 1e-6
    assert p.L == 1.0 and p.mu == 1.0 / kappa
    assert np.count_nonzero(p.w_star) == OPTS.informative


def test_kappa_1e9_through_the_gram_matrix_is_limited_by_float64():
    """At kappa = 1e9 the formed X^T X loses about eps * kappa relative at its small end: what float64
    allows there is ~1e-7, while the SVD of X itself keeps ~1e-12 (both recorded in meta)."""
    p = problems.build("lsq-k1e9-d100", OPTS)
    eps = np.finfo(np.float64).eps
    assert abs(p.meta["kappa_eigh_gram"] / 1e9 - 1) <= 100 * eps * 1e9
    assert abs(p.meta["kappa_svd"] / 1e9 - 1) <= 1e-9


def test_spectrum_eigenvalues_exact():
    p = problems.build("lsq-k1e3-d100", OPTS)
    ev = np.linalg.eigvalsh(p.X.T @ p.X / p.n)
    assert ev[-1] == pytest.approx(1.0, rel=1e-12)
    assert ev[0] == pytest.approx(1e-3, rel=1e-10)
    expected = np.sort(1e3 ** (-np.arange(100) / 99.0))
    assert np.allclose(ev, expected, rtol=1e-9, atol=0)


def test_clustered_spectrum():
    p = problems.build("lsq-k1e4-d40-clustered", OPTS)
    ev = np.sort(np.linalg.eigvalsh(p.X.T @ p.X / p.n))
    assert np.all(ev[:20] <= 1.1e-4 * (1 + 1e-9)) and np.all(ev[20:] >= 0.9 * (1 - 1e-9))
    assert ev[-1] / ev[0] == pytest.approx(1e4, rel=1e-8)


def test_dct_basis_same_closed_form():
    """The fast construction (used for d in the thousands) keeps every closed-form property."""
    o = problems.BuildOptions(qr_max_dim=10)
    p = problems.build("lsq-k1e6-d64", o)
    assert p.meta["basis"] == "dct"
    assert abs(loss_np(p, p.w_star) - p.f_star) <= 1e-12 * p.f_star
    sv = np.linalg.svd(p.X, compute_uv=False)
    assert abs((sv[0] / sv[-1]) ** 2 / 1e6 - 1) <= 1e-6
    B = basis.DCTBasis(np.random.default_rng(1), 50).columns(20)
    assert np.allclose(B.T @ B, np.eye(20), atol=1e-13)
    # delocalised: no coordinate-aligned structure for a diagonal preconditioner to exploit
    assert np.abs(B).max() <= 2.0 / np.sqrt(50)


def test_same_name_same_problem_and_seed_changes_it():
    a, b = problems.build("lsq-k1e3-d20", OPTS), problems.build("lsq-k1e3-d20", OPTS)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    c = problems.build("lsq-k1e3-d20", problems.BuildOptions(seed=1))
    assert not np.array_equal(a.X, c.X)


def test_logistic_reference_solution(tmp_path):
    o = problems.BuildOptions(cache_dir=str(tmp_path))
    p = problems.build("logreg-d20", o)
    assert p.kind == "logistic" and p.mu == o.l2
    g = grad_np(p, p.w_star)
    assert np.linalg.norm(g) <= 1e-10
    # f* is a minimum: every random nearby point is worse
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert loss_np(p, p.w_star + 1e-4 * rng.standard_normal(p.d)) > p.f_star
    # the cache is JSON, and a second build reads it
    files = list(tmp_path.glob("ref-*.json"))
    assert len(files) == 1
    q = problems.build("logreg-d20", o)
    assert q.meta.get("reference") == "cached" and q.f_star == p.f_star
    # the Hessian bound L really bounds the Hessian's largest eigenvalue
    from mpiapp.engines.optbench.solve import hessian_logistic

    ev = np.linalg.eigvalsh(hessian_logistic(p, p.w_star))
    assert ev[-1] <= p.L and ev[0] >= p.mu * (1 - 1e-12)


@pytest.mark.parametrize(
    "name,kind", [("breast_cancer", "logistic"), ("diabetes", "lsq"), ("finance", "lsq")]
)
def test_real_problems(name, kind):
    p = problems.build(name, OPTS)
    assert p.kind == kind and p.X_test.shape[0] > 0 and np.isfinite(p.kappa_measured)
    assert np.all(np.isfinite(p.X))
    assert np.linalg.norm(grad_np(p, p.w_star)) <= 1e-8
    assert p.kappa_measured > 1


def test_unknown_and_missing_problems(tmp_path):
    with pytest.raises(problems.ProblemError, match="unknown problem 'lsq-x'"):
        problems.build("lsq-x", OPTS)
    with pytest.raises(problems.ProblemError, match="california_housing.csv"):
        problems.build("california", problems.BuildOptions(data_dir=str(tmp_path)))
    with pytest.raises(problems.ProblemError, match="--data-dir"):
        problems.build("mnist", OPTS)


def test_california_from_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    cols = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
    X = rng.standard_normal((300, 8))
    y = X @ rng.standard_normal(8) + 0.1 * rng.standard_normal(300)
    import pandas as pd

    df = pd.DataFrame(X, columns=cols)
    df["MedHouseVal"] = y
    df.to_csv(tmp_path / "california_housing.csv", index=False)
    p = problems.build("california", problems.BuildOptions(data_dir=str(tmp_path)))
    assert p.d == 9 and p.n == 240
