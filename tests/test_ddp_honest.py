"""The ddp job's figures say what they are: one bar spacing per pool, a daily default universe,
symbols never trained on left out of the scores, every forecast kept, metrics per symbol beside the
pooled ones and beside the train job's ridge on the same features — each checked under mpiexec
against figures rebuilt another way (scipy, the in-memory ridge, the store itself)."""

import h5py
import numpy as np
import pytest

from conftest import PY, mpi_env, mpiexec_cmd, run
from mpiapp.engines.ddp import spacing

QUICK = [
    "--set",
    "ddp.hidden=[8]",
    "--set",
    "ddp.batch_size=256",
    "--set",
    "ddp.max_steps=3",
    "--set",
    "ddp.precision=fp32",
    "--set",
    "ddp.warmup_steps=1",
    "--no-progress",
]
DAY, HOUR = 86_400 * 10**9, 3_600 * 10**9


def ddp(out, *args, timeout=400):
    return run(
        mpiexec_cmd(2, PY, "-m", "mpiapp.ddp", "--out", str(out), *QUICK, *args),
        timeout=timeout,
        env=mpi_env(),
    )


def table(path, name):
    from mpiapp.io.results import read_table

    return read_table(str(path), name)


def test_spacing_is_the_median_gap_and_groups_within_a_factor():
    weekdays = np.cumsum([DAY] * 4 + [3 * DAY] + [DAY] * 4 + [3 * DAY] + [DAY] * 4)  # weekends: median 1 day
    assert spacing.median_spacing(weekdays) == DAY
    hourly = np.arange(50) * HOUR
    names, gaps = ["D1", "H", "D2", "W"], [DAY, HOUR, DAY, 7 * DAY]
    why = spacing.problem(names, gaps, allowed=False)
    assert "1 hour: H; 1 day: D1, D2; 7 days: W" in why and "ddp.mixed_spacing=true" in why
    assert spacing.problem(names, gaps, allowed=True) is None
    assert (
        spacing.problem(["A", "B"], [DAY, int(1.4 * DAY)], allowed=False) is None
    )  # one spacing within 1.5x
    assert spacing.median_spacing(hourly) == HOUR and spacing.describe(30 * 60 * 10**9) == "30 minutes"


def test_a_pool_of_hourly_and_daily_series_is_refused_naming_them(tmp_path):
    r = ddp(tmp_path / "a.h5", "--data", "builtin:all")
    assert r.returncode == 2, r.output
    lines = [x for x in r.stderr.splitlines() if x.startswith("mpiapp ddp:")]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output[-3000:]
    assert "1 hour: EURUSD; 1 day: GOOG, NASDAQ, SP500, VIX, WTI" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing built, nothing left


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddpdefault")
    r = ddp(d / "d.h5")  # no --data: the job's own default
    assert r.returncode == 0, r.output
    return d / "d.h5", d / "d.features.h5", r


def test_the_default_data_is_the_daily_sp500_stocks(default_run):
    from mpiapp.io.sources import SP500_STOCKS

    _, store, _ = default_run
    with h5py.File(store, "r") as f:
        names = [n.decode() for n in f["symbols"]["name"][:]]
        gaps = f["symbols"]["spacing_ns"][:]
    assert names == sorted(SP500_STOCKS) and set(gaps.tolist()) == {DAY}


def test_every_sample_is_forecast_once_with_its_store_row(default_run):
    from mpiapp.engines.ddp.store import StoreInfo

    out, store, _ = default_run
    p = table(out, "predictions")
    info = StoreInfo(str(store))
    with h5py.File(store, "r") as f:
        rows = {c: f["rows"][c][:] for c in ("symbol", "bar", "time", "y")}
    for split in ("train", "validation", "test"):
        lo, hi = info.split_ranges(split, 1)
        want = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
        got = p["split"] == split.encode()
        assert got.sum() == want.size, split
        key = rows["symbol"][want].astype(np.int64) * 10**7 + rows["bar"][want]
        assert np.array_equal(np.sort(key), p["symbol"][got].astype(np.int64) * 10**7 + p["bar"][got])
        assert np.array_equal(rows["y"][want][np.argsort(key, kind="stable")], p["y"][got])
    assert np.all(np.isfinite(p["yhat"])) and np.all(np.isfinite(p["ridge"]))


def test_metrics_per_symbol_and_pooled_are_rebuilt_from_the_predictions(default_run):
    from scipy.stats import pearsonr, spearmanr

    out, _, r = default_run
    p, m, e = table(out, "predictions"), table(out, "metrics"), table(out, "epochs")
    test = p["split"] == b"test"
    rows = np.flatnonzero(m["split"] == b"test")
    per = [i for i in rows if m["symbol"][i] >= 0]
    assert len(per) == 20
    for i in per:
        sel = test & (p["symbol"] == m["symbol"][i])
        assert m["n"][i] == sel.sum()
        assert m["ic"][i] == pytest.approx(spearmanr(p["yhat"][sel], p["y"][sel])[0], abs=1e-9)
        assert m["ridge_ic"][i] == pytest.approx(spearmanr(p["ridge"][sel], p["y"][sel])[0], abs=1e-9)
        assert 0 < m["ic_se"][i] < 1 and m["ic_n_eff"][i] == pytest.approx(1 / m["ic_se"][i] ** 2)
    pooled = next(i for i in rows if m["symbol"][i] == -1)
    assert m["pearson_ic"][pooled] == pytest.approx(pearsonr(p["yhat"][test], p["y"][test])[0], abs=1e-9)
    assert m["ic"][pooled] == pytest.approx(np.mean([m["ic"][i] for i in per]), abs=1e-12)
    best = int(np.argmin(e["validation_loss"]))  # the kept weights: the epochs table saw the same forecasts
    assert m["pearson_ic"][pooled] == pytest.approx(e["test_ic"][best], abs=1e-6)
    assert "test per symbol" in r.stdout and "baseline ridge on the same features" in r.stdout
    assert "n_eff" in r.stdout and "Driscoll-Kraay" in r.stdout


def test_every_t_in_the_summary_has_its_observations_and_every_ic_its_baseline(default_run):
    from scipy.stats import pearsonr

    out, _, r = default_run
    p, m = table(out, "predictions"), table(out, "metrics")
    test = p["split"] == b"test"
    pooled = next(i for i in range(len(m["n"])) if m["symbol"][i] == -1 and m["split"][i] == b"test")
    ridge = pearsonr(p["ridge"][test], p["y"][test])[0]
    assert m["ridge_pearson_ic"][pooled] == pytest.approx(ridge, abs=1e-9)
    best = next(x for x in r.stdout.splitlines() if x.strip().startswith("best epoch"))
    assert f"(ridge {ridge:+.4f})" in best, best
    for i in range(len(m["n"])):  # n_eff of the difference: 1 / se^2 with se = difference / t
        d, t, n = m["ic_minus_ridge"][i], m["ic_minus_ridge_t"][i], m["ic_minus_ridge_n_eff"][i]
        assert n == pytest.approx((t / d) ** 2, rel=1e-9) and 0 < n < 10 * m["n"][i]
    vs = next(x for x in r.stdout.splitlines() if "model - ridge" in x)
    want = f"(t {m['ic_minus_ridge_t'][pooled]:.2f}, n_eff {m['ic_minus_ridge_n_eff'][pooled]:,.0f})"
    assert want in vs, vs


def test_the_ridge_baseline_is_the_train_jobs_ridge_fitted_in_memory(default_run):
    from mpiapp import config
    from mpiapp.engines.ddp.store import StoreInfo
    from mpiapp.engines.train import linear
    from mpiapp.io.results import read_attrs

    out, store, _ = default_run
    info = StoreInfo(str(store))
    with h5py.File(store, "r") as f:
        X, y = f["X"][:].astype(np.float64), f["rows"]["y"][:].astype(np.float64)

    def rows(split):
        lo, hi = info.split_ranges(split, 1)
        return np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])

    tr, va, te = rows("train"), rows("validation"), rows("test")
    pens = config.load().train.ridge.penalties
    mse = [np.mean((linear.fit_ridge(X[tr], y[tr], lam).predict(X[va]) - y[va]) ** 2) for lam in pens]
    lam = pens[int(np.argmin(mse))]
    assert float(read_attrs(str(out))["ridge_penalty"]) == lam
    fit = linear.fit_ridge(X[tr], y[tr], lam)
    p = table(out, "predictions")
    test = p["split"] == b"test"
    with h5py.File(store, "r") as f:
        sym, bar = f["rows"]["symbol"][:][te], f["rows"]["bar"][:][te]
    k = np.lexsort((bar, sym))
    assert np.allclose(p["ridge"][test], fit.predict(X[te][k]), rtol=1e-7, atol=1e-10)


def test_a_symbol_with_no_training_rows_is_left_out_and_named(tmp_path):
    r = ddp(tmp_path / "a.h5", "--data", "builtin:all", "--set", "ddp.mixed_spacing=true")
    assert r.returncode == 0, r.output
    assert "left out of validation and test (no training rows): EURUSD" in r.stdout, r.output[-3000:]
    with h5py.File(tmp_path / "a.features.h5", "r") as f:
        names = [n.decode() for n in f["symbols"]["name"][:]]
        left = f["symbols"]["left_out"][:]
    eur = names.index("EURUSD")
    assert left.tolist() == [1 if n == "EURUSD" else 0 for n in names]
    p = table(tmp_path / "a.h5", "predictions")
    mine = p["symbol"] == eur
    assert mine.sum() == 0  # no training rows, so none scored either
    m = table(tmp_path / "a.h5", "metrics")
    assert eur not in m["symbol"].tolist()
