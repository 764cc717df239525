"""Out-of-sample metrics against hand-computed values and an independent implementation (scipy)."""

import math

import numpy as np
import pytest

from mpiapp.engines.train.metrics import auc, baseline_predictions, compute, spearman


def test_regression_metrics_by_hand():
    y = np.array([0.02, -0.01, 0.03, -0.02])
    p = np.array([0.01, 0.00, 0.02, -0.01])
    m = compute(y, p, proba=False)
    e = [0.01, -0.01, 0.01, -0.01]
    assert m["rmse"] == pytest.approx(0.01) and m["mae"] == pytest.approx(0.01)
    assert m["r2_oos"] == pytest.approx(1 - sum(x * x for x in e) / sum(x * x for x in y))
    # ranks: p -> [3, 2, 4, 1], y -> [3, 2, 4, 1]: perfect rank agreement
    assert m["ic"] == pytest.approx(1.0)
    # sign calls p > 0: [T, F, T, F] vs up [T, F, T, F]
    assert m["accuracy"] == m["hit_rate"] == 1.0 and m["base_rate"] == 0.5
    assert math.isnan(m["log_loss"])


def test_classification_metrics_by_hand():
    y = np.array([0.1, -0.1, 0.2, -0.3])
    p = np.array([0.9, 0.4, 0.3, 0.2])
    m = compute(y, p, proba=True)
    # up samples scored 0.9, 0.3; down 0.4, 0.2: pairs won (0.9>0.4, 0.9>0.2, 0.3>0.2) = 3 of 4
    assert m["auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75)  # 0.9 up ok, 0.4 down ok, 0.3 up wrong, 0.2 down ok
    ll = -(math.log(0.9) + math.log(0.6) + math.log(0.3) + math.log(0.8)) / 4
    assert m["log_loss"] == pytest.approx(ll)
    assert math.isnan(m["rmse"]) and math.isnan(m["r2_oos"])


def test_rank_statistics_match_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 7, 300).astype(float)
    b = a + rng.integers(0, 5, 300)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, rel=1e-12)
    lab = rng.random(300) < 0.4
    u = stats.mannwhitneyu(a[lab], a[~lab]).statistic
    assert auc(a, lab) == pytest.approx(u / (lab.sum() * (~lab).sum()), rel=1e-12)


def test_constant_forecast_has_no_ic_and_baselines():
    y = np.array([0.01, -0.02, 0.03])
    assert math.isnan(compute(y, np.zeros(3), proba=False)["ic"])
    b = baseline_predictions(0.01, 2, proba=False)
    assert b[0].tolist() == [0.0, 0.0] and b[1] == pytest.approx([0.01, 0.01])
    assert compute(y, np.zeros(3), proba=False)["r2_oos"] == 0.0
    with pytest.raises(ValueError):
        compute(y, np.zeros(2), proba=False)
