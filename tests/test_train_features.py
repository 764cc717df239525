"""Train features and targets: hand-computed values, warm-up accounting, and no look-ahead."""

import math

import numpy as np
import pytest

from mpiapp.engines.train.features import build_dataset, feature_names, price_features, targets, warmup_bars
from mpiapp.engines.train.scanfeat import scan_features, symbol_patterns


def _ohlcv(n, seed=0):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = c * np.exp(rng.normal(0, 0.003, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.005, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.005, n)))
    v = rng.integers(1000, 5000, n).astype(float)
    return c, h, lo, v


def test_hand_values_at_one_bar():
    c, h, lo, v = _ohlcv(400, 1)
    X, names = price_features(c, h, lo, v)
    col = {n: X[:, i] for i, n in enumerate(names)}
    t = 300
    assert col["ret_5"][t] == pytest.approx(math.log(c[t] / c[t - 5]), rel=1e-12)
    r = [math.log(c[i] / c[i - 1]) for i in range(t - 19, t + 1)]
    mu = sum(r) / 20
    assert col["vol_20"][t] == pytest.approx(math.sqrt(sum((x - mu) ** 2 for x in r) / 19), rel=1e-10)
    trs = [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(t - 13, t + 1)]
    assert col["atr_14"][t] == pytest.approx(sum(trs) / 14 / c[t], rel=1e-10)
    hh, ll = max(h[t - 13 : t + 1]), min(lo[t - 13 : t + 1])
    assert col["range_pos"][t] == pytest.approx((c[t] - ll) / (hh - ll), rel=1e-10)
    vw = v[t - 19 : t + 1]
    assert col["vol_z_20"][t] == pytest.approx((v[t] - vw.mean()) / vw.std(ddof=1), rel=1e-10)
    assert col["ma_dist_200"][t] == pytest.approx(math.log(c[t] / (sum(c[t - 199 : t + 1]) / 200)), rel=1e-10)


def test_close_only_series_has_no_range_features():
    c, *_ = _ohlcv(300)
    X, names = price_features(c, c, c, None)
    assert "atr_14" not in names and "range_pos" not in names and "vol_z_20" not in names
    assert X.shape == (300, len(names)) == (300, len(feature_names(False, False)))


def test_targets_and_warmup_counts():
    c, h, lo, v = _ohlcv(500, 2)
    y = targets(c, 5)
    assert y[10] == pytest.approx(math.log(c[15] / c[10]), rel=1e-12)
    assert np.isnan(y[-5:]).all() and np.isfinite(y[:-5]).all()
    X, names = price_features(c, h, lo, v)
    ds = build_dataset(X, names, c, 5)
    assert ds.bars[0] == warmup_bars() == 199  # ma_dist_200 needs bars 0..199
    assert ds.dropped_warmup == 199 and ds.dropped_tail == 5 and len(ds) == 500 - 199 - 5
    assert np.all(np.isfinite(ds.X))
    with pytest.raises(ValueError, match="horizon"):
        targets(c, 0)


def _full_features(c, h, lo, v, pats, lookback):
    X, _ = price_features(c, h, lo, v)
    n = c.shape[0]
    kb, sc, dr = pats
    seen = kb < n  # what a scan of bars 0..n-1 can have confirmed
    S = scan_features(n, kb[seen], sc[seen], dr[seen], lookback)
    return np.concatenate([X, S], axis=1)


def _lookahead_rows(fn, c, h, lo, v, cuts):
    full = fn(c, h, lo, v)
    bad = []
    for t in cuts:
        part = fn(c[: t + 1], h[: t + 1], lo[: t + 1], v[: t + 1])
        if not np.array_equal(part, full[: t + 1], equal_nan=True):
            bad.append(int(t))
    return bad


def test_no_lookahead_price_and_scan_features():
    rng = np.random.default_rng(7)
    c, h, lo, v = _ohlcv(1500, 3)
    n_pat = 60
    kb = rng.integers(0, 1500, n_pat)
    pats = (kb, rng.uniform(0.3, 1.0, n_pat).round(2), rng.choice([-1, 1], n_pat))  # ties on purpose
    cuts = rng.integers(0, 1500, 40)
    fn = lambda c_, h_, l_, v_: _full_features(c_, h_, l_, v_, pats, 30)  # noqa: E731
    assert _lookahead_rows(fn, c, h, lo, v, cuts) == []


def test_lookahead_check_catches_a_centred_moving_average():
    """The check above can fail: a centred average (reads bars after t) is caught."""
    c, h, lo, v = _ohlcv(600, 4)

    def leaky(c_, h_, l_, v_):
        X, _ = price_features(c_, h_, l_, v_)
        k = np.ones(11) / 11
        centred = np.convolve(c_, k, mode="same")
        return np.concatenate([X, centred[:, None]], axis=1)

    assert _lookahead_rows(leaky, c, h, lo, v, [300, 450]) == [300, 450]


def test_scan_feature_enters_at_known_bar_not_at_t5():
    # one bullish pattern whose last pivot is at bar 100, confirmed by the reversal at bar 112
    table = {
        "symbol": np.array([0, 0, 1]),
        "t5": np.array([100, 150, 50]),
        "known_bar": np.array([112, 160, 60]),
        "score": np.array([0.8, 0.6, 0.9]),
        "direction": np.array([1, -1, 1]),
    }
    kb, sc, dr = symbol_patterns(table, 0)
    S = scan_features(200, kb, sc, dr, lookback=40)
    assert S[111].tolist() == [0.0, 0.0, 40.0]  # bar 100..111: pivot 5 not yet confirmed
    assert S[112].tolist() == [0.8, 1.0, 0.0]
    assert S[151].tolist() == [0.8, 1.0, 39.0]  # last bar of its look-back
    assert S[160].tolist() == [0.6, -1.0, 0.0]  # the first expired at 152; the second known at 160
    assert S[199].tolist() == [0.6, -1.0, 39.0]


def test_scan_table_without_known_bar_is_refused():
    with pytest.raises(KeyError, match="known_bar"):
        symbol_patterns({"symbol": np.zeros(1), "score": np.ones(1), "direction": np.ones(1)}, 0)
