"""Thresholds that follow each series' own scale, one warning line for a symbol nothing of which
was scanned, and false-discovery control over a run's windows.

Oracles outside the scan: the trailing volatility against np.std of the last returns, the scaled
zig-zag against its definition on bars written here, an hourly CSV and a constant series through the
score job, and the q-values against statsmodels' own Benjamini-Hochberg / -Yekutieli on the windows
table of a results file.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import PY, mpiexec_cmd, run
from mpiapp.engines.scan import ScanParams, scan_symbol, symbol_pivots
from mpiapp.kernels import pivots as pv
from test_scan_helpers import random_walk


def test_trailing_volatility_is_the_std_of_the_last_returns():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 700) * np.r_[np.ones(300), 3 * np.ones(400)]))
    sig = pv.trailing_volatility(close, 250)
    r = np.diff(np.log(close))
    assert np.all(np.isnan(sig[: pv.SCALE_MIN_RETURNS]))
    for j in (20, 21, 100, 250, 251, 400, 699):
        want = np.std(r[max(0, j - 250) : j])  # returns of bars max(1, j-249) .. j
        assert sig[j] == pytest.approx(want, rel=1e-9), j
    # the value at j reads no later bar: the series cut after j gives the same
    assert pv.trailing_volatility(close[:401], 250)[400] == sig[400]


def test_scaled_threshold_is_the_percent_times_the_trailing_volatility():
    # a close-only path that rises 0.5 % a bar for 40 bars, falls 1.2 % over 3 bars, then rises:
    # with the fixed 3 % threshold the fall is no reversal; with scale volatility the threshold
    # at bar j is 0.03 * sigma_j / 0.012, below 1.2 % here, so the top is a pivot
    rng = np.random.default_rng(0)
    steps = np.r_[rng.normal(0.0, 0.001, 30), np.full(40, 0.005), np.full(3, -0.004), np.full(10, 0.005)]
    close = 100 * np.exp(np.cumsum(np.r_[0.0, steps]))
    fixed = ScanParams(scale="fixed")
    scaled = ScanParams(scale="volatility", scale_bars=60, scale_reference=0.012)
    top = 70  # bar of the top before the fall
    assert top not in symbol_pivots(close, close, close, fixed, "numpy").t.tolist()
    got = symbol_pivots(close, close, close, scaled, "numpy")
    assert top in got.t.tolist()
    k = got.t.tolist().index(top)
    j = int(got.known[k])  # the confirming bar: the first whose close is <= top / (1 + thr_j)
    sig = np.array(
        [np.std(np.diff(np.log(close))[max(0, b - 60) : b]) if b else 0.0 for b in range(len(close))]
    )
    thr = 0.03 * sig / 0.012
    below = [b for b in range(top + 1, len(close)) if close[b] <= close[top] / (1 + thr[b])]
    assert j == below[0]
    for b in ("numba", "xp-numpy"):
        other = symbol_pivots(close, close, close, scaled, b)
        assert np.array_equal(other.t, got.t) and np.array_equal(other.known, got.known)


def _csv(folder, name, close, freq):
    folder.mkdir(parents=True, exist_ok=True)
    t = pd.date_range("2017-04-03", periods=len(close), freq=freq)
    o = np.r_[close[0], close[:-1]]
    pd.DataFrame(
        {
            "Date": t.strftime("%Y-%m-%d %H:%M:%S"),
            "Open": o,
            "High": np.maximum(o, close) * 1.0002,
            "Low": np.minimum(o, close) * 0.9998,
            "Close": close,
            "Volume": 100,
        }
    ).to_csv(folder / f"{name}.csv", index=False)


def _score(data, out, *extra):
    return run(
        mpiexec_cmd(
            2, PY, "-m", "mpiapp.score", "--no-progress", "--data", f"csv:{data}", "--out", str(out), *extra
        ),
        timeout=240,
    )


def test_an_hourly_series_is_scanned_and_a_flat_one_named_once(tmp_path):
    rng = np.random.default_rng(11)
    data = tmp_path / "csv"
    # hourly FX-like bars: 0.1 % per bar, 3,000 hours
    _csv(data, "HOURLY", 1.1 * np.exp(np.cumsum(rng.normal(0, 0.001, 3000))), "h")
    _csv(data, "FLAT", np.full(1500, 42.0), "D")  # a price that never moves
    r = _score(data, tmp_path / "s.h5")
    assert r.returncode == 0, r.output
    with h5py.File(tmp_path / "s.h5", "r") as f:
        names = [x.decode() for x in f["symbols"]["name"][()]]
        W = {k: f["windows"][k][()] for k in ("symbol", "skipped_flat")}
    hourly = W["symbol"] == names.index("HOURLY")
    assert (W["skipped_flat"][hourly] == 0).sum() > 0  # scanned
    assert (W["skipped_flat"][W["symbol"] == names.index("FLAT")] == 1).all()
    warn = [ln for ln in r.output.splitlines() if "FLAT: no window scanned" in ln]
    assert len(warn) == 1, r.output
    assert "fewer than 6 confirmed pivots" in warn[0] and "scan.skip_flat_windows=false" in warn[0]
    assert "HOURLY: no window" not in r.output
    # with the daily-bar numbers (scale fixed) the hourly series is not scanned, and says why
    r = _score(data, tmp_path / "f.h5", "--set", "scan.scale=fixed")
    assert r.returncode == 0, r.output
    warn = [ln for ln in r.output.splitlines() if "HOURLY: no window scanned" in ln]
    assert len(warn) == 1 and "scan.scale=volatility" in warn[0], r.output


@pytest.mark.parametrize("method", ["by", "bh"])
def test_q_values_are_those_of_statsmodels_on_the_windows_table(tmp_path, method):
    from statsmodels.stats.multitest import multipletests

    out = tmp_path / "q.h5"
    r = run(
        mpiexec_cmd(
            2,
            PY,
            "-m",
            "mpiapp.score",
            "--no-progress",
            "--data",
            "synthetic:4",
            "--out",
            str(out),
            "--set",
            "data.synthetic_bars=1500",
            "--set",
            "scan.window_bars=300",
            "--set",
            "scan.null_samples=8",
            "--set",
            f"scan.fdr_method={method}",
        ),
        timeout=600,
    )
    assert r.returncode == 0, r.output
    with h5py.File(out, "r") as f:
        W = {k: f["windows"][k][()] for k in f["windows"]}
        P = {k: f["patterns"][k][()] for k in f["patterns"]}
    tested = W["skipped_flat"] == 0
    p = np.where(np.isnan(W["best_p_value"][tested]), 1.0, W["best_p_value"][tested])
    want = multipletests(p, method={"by": "fdr_by", "bh": "fdr_bh"}[method])[1]
    assert np.allclose(W["best_q_value"][tested], want, rtol=1e-12, atol=0)
    assert np.all(np.isnan(W["best_q_value"][~tested]))
    assert tested.sum() > 300
    # a pattern's q: the smallest best_q_value of the windows it is the best of; NaN if none
    for i in range(len(P["score"])):
        sel = (W["symbol"] == P["symbol"][i]) & (W["best_p_value"] == P["p_value"][i]) & tested
        if P["n_best"][i] == 0:
            assert np.isnan(P["q_value"][i])
        else:
            assert P["q_value"][i] == pytest.approx(W["best_q_value"][sel].min(), rel=1e-12)
    assert np.sum(P["n_best"] > 0) > 10
    # the smallest attainable p (1 / (1 + 8 x 121 windows)) times the tests (484) is far above 0.05
    assert "warning: with" in r.stdout and "no pattern can be declared" in r.stdout, r.stdout


def test_report_max_q_lists_only_patterns_at_or_below_it(tmp_path):
    out = tmp_path / "q.h5"
    r = run(
        mpiexec_cmd(
            1,
            PY,
            "-m",
            "mpiapp.score",
            "--no-progress",
            "--data",
            "synthetic:2",
            "--out",
            str(out),
            "--set",
            "data.synthetic_bars=1500",
            "--set",
            "scan.window_bars=300",
            "--set",
            "scan.null_samples=8",
            "--set",
            "scan.fdr_method=bh",
        ),
        timeout=600,
    )
    assert r.returncode == 0, r.output
    import mpiapp.results as res

    pats = res.load(out)
    q = float(np.nanmedian(pats["q_value"]))
    r = run([PY, "-m", "mpiapp.report", str(out), "--max-q", repr(q), "--top", "1000"], timeout=120)
    assert r.returncode == 0, r.output
    section = r.stdout.split(f"structures with q <= {q:g}")[1].split("\n\n")[0]  # the top list only
    listed = [
        ln
        for ln in section.splitlines()
        if ln.strip().startswith(tuple(str(i) for i in range(1, 10))) and " SYN" in ln
    ]
    primaries = pats[(pats["group"] == pats.index) & (pats["q_value"] <= q)]
    assert len(listed) == len(primaries) > 0
    none = run([PY, "-m", "mpiapp.report", str(tmp_path / "q.h5"), "--max-q", "0.0"], timeout=120)
    assert none.returncode == 0, none.output
    assert " SYN" not in none.stdout.split("structures with q <= 0")[1].split("\n\n")[0]
