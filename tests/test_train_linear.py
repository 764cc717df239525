"""The ridge baseline against scikit-learn, its penalty chosen on the inner slice, and the inner slice
purged like a test block."""

import numpy as np
import pytest

from mpiapp.engines.train import linear
from mpiapp.engines.train.cv import FoldError, inner_split


def _xy(m=600, f=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, f)) * rng.uniform(0.1, 10, f) + rng.normal(size=f)
    return X, 0.3 * X[:, 0] / X[:, 0].std() + rng.normal(size=m)


@pytest.mark.parametrize("penalty", [1e-4, 0.1, 3.0])
def test_fit_ridge_equals_scikit_learn_on_standardised_features(penalty):
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    X, y = _xy()
    ours = linear.fit_ridge(X, y, penalty)
    sc = StandardScaler().fit(X)
    ref = Ridge(alpha=penalty * X.shape[0]).fit(sc.transform(X), y)
    np.testing.assert_allclose(ours.coef, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.center, sc.mean_) and np.testing.assert_allclose(ours.scale, sc.scale_)
    np.testing.assert_allclose(ours.predict(X[:50]), ref.predict(sc.transform(X[:50])), rtol=1e-9, atol=1e-12)


def test_a_constant_feature_gets_no_weight():
    X, y = _xy()
    X[:, 3] = 2.5
    r = linear.fit_ridge(X, y, 0.1)
    assert r.scale[3] == 1.0 and r.coef[3] == 0.0 and np.isfinite(r.predict(X)).all()


def test_choose_penalty_takes_the_lowest_validation_error():
    from sklearn.linear_model import Ridge

    X, y = _xy(seed=1)
    fit, val = np.arange(0, 400), np.arange(420, 600)
    pens = [0.001, 0.03, 1.0, 30.0]
    chosen, mse = linear.choose_penalty(X, y, fit, val, pens)
    mu, sd = X[fit].mean(0), X[fit].std(0)
    ref = [
        np.mean(
            (Ridge(alpha=p * fit.size).fit((X[fit] - mu) / sd, y[fit]).predict((X[val] - mu) / sd) - y[val])
            ** 2
        )
        for p in pens
    ]
    np.testing.assert_allclose(mse, ref, rtol=1e-9)
    assert chosen == pens[int(np.argmin(ref))]


def test_bad_penalties_are_refused():
    X, y = _xy()
    with pytest.raises(ValueError, match="penalty"):
        linear.fit_ridge(X, y, 0.0)
    with pytest.raises(ValueError, match="penalties"):
        linear.choose_penalty(X, y, np.arange(10), np.arange(10, 20), [])


@pytest.mark.parametrize("seed", range(20))
def test_inner_slice_is_latest_and_purged_like_a_test_block(seed):
    rng = np.random.default_rng(seed)
    bars = np.cumsum(rng.integers(1, 3, size=int(rng.integers(30, 400))))  # gaps between samples
    h, emb, frac = int(rng.integers(1, 12)), int(rng.integers(0, 8)), float(rng.uniform(0.05, 0.5))
    s = inner_split(bars, h, frac, emb)
    m = bars.size
    assert s.val.size == min(m - 1, max(1, round(frac * m))) and s.val[-1] == m - 1
    assert np.array_equal(s.val, np.arange(m - s.val.size, m))
    lo, hi = bars[s.val[0]], bars[s.val[-1]] + h + emb
    t = bars[s.fit]
    assert np.all((t + h < lo) | (t + 1 > hi))  # no kept label interval meets the slice or its embargo
    dropped = np.setdiff1d(np.arange(m - s.val.size), s.fit)
    td = bars[dropped]
    assert np.all((td + h >= lo) & (td + 1 <= hi))  # and nothing else was removed


def test_inner_slice_of_too_few_samples_is_refused():
    with pytest.raises(FoldError):
        inner_split(np.arange(6), 5, 0.33, 5)
