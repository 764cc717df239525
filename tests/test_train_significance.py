"""IC standard errors: Newey-West per symbol against statsmodels, Driscoll-Kraay across symbols, exact
sums at any split, and calibration on data with overlapping labels."""

import math

import numpy as np
import pytest

from mpiapp.engines.train import significance as sig
from mpiapp.engines.train.final import merge_panel_parts, panel_parts, panel_stats


def _walk(rng, n, h):
    """A random walk's h-bar forward returns (overlapping labels) and a persistent forecast of them."""
    r = rng.normal(0, 0.01, n + h)
    c = np.cumsum(r)
    y = c[h:] - c[:-h]
    p = np.convolve(rng.normal(size=n + 50), np.ones(50) / 50, "valid")[
        :n
    ]  # a 50-bar moving average: persistent
    return p, y


def test_rank_products_sum_to_scipy_spearman():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    p, y = rng.normal(size=300), rng.normal(size=300)
    p[::7] = p[0]  # ties
    u = sig.rank_products(p, y)
    assert u.sum() == pytest.approx(spearmanr(p, y).statistic, abs=1e-12)
    assert np.isnan(sig.rank_products(np.ones(5), y[:5])).all()


@pytest.mark.parametrize("lag", [0, 1, 4, 9])
def test_newey_west_matches_statsmodels_hac(lag):
    import statsmodels.api as sm

    rng = np.random.default_rng(lag)
    u = np.convolve(rng.normal(size=520), np.ones(5), "valid")[:500] * 1e-3  # MA(4): autocorrelated
    n = u.shape[0]
    fit = sm.OLS(u, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lag, "use_correction": False})
    # statsmodels gives the variance of the mean; newey_west the variance of the sum
    assert sig.newey_west(u - u.mean(), lag) == pytest.approx(fit.bse[0] ** 2 * n * n, rel=1e-9)


def test_ic_se_of_independent_pairs_is_one_over_root_m():
    rng = np.random.default_rng(1)
    ic, se, n_eff = sig.ic_se(rng.normal(size=4000), rng.normal(size=4000), horizon=1)
    assert se == pytest.approx(1 / math.sqrt(4000), rel=0.05) and n_eff == pytest.approx(1 / se**2)


def test_ic_se_is_calibrated_on_overlapping_labels():
    """Under no signal, with 5-bar labels and a persistent forecast, the spread of the IC over many
    independent symbols is what the Newey-West se says (the iid se 1/sqrt(m) is far too small)."""
    rng = np.random.default_rng(2)
    h, m = 5, 2000
    ics, ses = [], []
    for _ in range(300):
        p, y = _walk(rng, m, h)
        ic, se, _ = sig.ic_se(p, y, h)
        ics.append(ic)
        ses.append(se)
    spread = float(np.std(ics))
    assert spread > 1.7 / math.sqrt(m)  # the iid standard error would claim 1/sqrt(m)
    # Bartlett weights at lag h - 1 understate the long-run variance of an MA(h - 1) product a little
    # (docs/train.md: at most sqrt(5 / 3.4) = 1.21 for h = 5 with a forecast as persistent as this one)
    assert 0.9 < spread / float(np.sqrt(np.mean(np.square(ses)))) < 1.3


def _panel(p_list, y_list, times_list, fam=0):
    rows = {"symbol": [], "family": [], "fold": [], "bar": [], "time": [], "y": [], "yhat": []}
    for s, (p, y, t) in enumerate(zip(p_list, y_list, times_list)):
        n = len(y)
        rows["symbol"] += [s] * n
        rows["family"] += [fam] * n
        rows["fold"] += [0] * n
        rows["bar"] += list(range(n))
        rows["time"] += list(t)
        rows["y"] += list(y)
        rows["yhat"] += list(p)
    return {k: np.asarray(v) for k, v in rows.items()}


def test_panel_se_of_one_symbol_is_its_newey_west_se():
    rng = np.random.default_rng(3)
    p, y = _walk(rng, 1500, 5)
    st = panel_stats(panel_parts(_panel([p], [y], [np.arange(1500)]))[0]["ic"], 5)
    ic, se, _ = sig.ic_se(p, y, 5)
    assert st["mean"] == pytest.approx(ic, abs=1e-12) and st["se"] == pytest.approx(se, rel=1e-9)


def test_copies_of_one_symbol_do_not_shrink_the_se():
    """Ten perfectly correlated symbols carry the information of one: the cross-symbol se must stay that
    of one symbol (the iid formula sd / sqrt(N) would give 0 here and an infinite t)."""
    rng = np.random.default_rng(4)
    p, y = _walk(rng, 1500, 5)
    one = panel_stats(panel_parts(_panel([p], [y], [np.arange(1500)]))[0]["ic"], 5)
    ten = panel_stats(panel_parts(_panel([p] * 10, [y] * 10, [np.arange(1500)] * 10))[0]["ic"], 5)
    assert ten["symbols"] == 10 and ten["se"] == pytest.approx(one["se"], rel=1e-9)


def test_independent_symbols_shrink_the_se_by_root_n():
    rng = np.random.default_rng(5)
    ps, ys = zip(*[_walk(rng, 1500, 5) for _ in range(16)])
    t = [np.arange(1500)] * 16
    st = panel_stats(panel_parts(_panel(ps, ys, t))[0]["ic"], 5)
    per = [sig.ic_se(p, y, 5)[1] for p, y in zip(ps, ys)]
    # Var(mean) = mean(var) / N up to the sampled cross-products of independent symbols
    assert st["se"] == pytest.approx(math.sqrt(np.mean(np.square(per)) / 16), rel=0.3)


def test_panel_parts_add_up_exactly_in_any_split():
    rng = np.random.default_rng(6)
    ps, ys = zip(*[_walk(rng, 700 + 50 * i, 5) for i in range(6)])
    times = [np.arange(len(y)) * 7 + 3 * i for i, y in enumerate(ys)]  # calendars that only partly meet
    whole = panel_parts(_panel(ps, ys, times))
    ranks = []
    for lo, hi in ((0, 1), (1, 4), (4, 6)):
        part = _panel(ps[lo:hi], ys[lo:hi], times[lo:hi])
        part["symbol"] = part["symbol"] + lo
        ranks.append(panel_parts(part))
    merged = merge_panel_parts(ranks)
    for a, b in zip(whole[0]["ic"], merged[0]["ic"]):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_to_fixed_refuses_values_it_cannot_hold():
    with pytest.raises(ValueError):
        sig.to_fixed([0.5, 1.5])
