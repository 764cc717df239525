"""Does the train job find a weak signal that is there, and stay quiet where there is none?

A test-suite universe written here, independent of the train code: SYMBOLS series of BARS daily
closes whose one-bar log returns are AR(1) with phi = 0.3, and as many random walks. The oracle
linear forecast of the default 5-bar return, r_t (phi + ... + phi^5), has a Spearman IC of 0.1439 with
it (closed form below; bench/train_signal.py checks it on 2,000,000 simulated bars). The job runs
with its defaults at -n 2; the figures come from its `summary` table (docs/train.md).
"""

import math

import numpy as np
import pytest

from conftest import PY, mpi_env, mpiexec_cmd, run

#: slow (~1 min: AR(1) and random-walk universes through the train job): `python -m pytest -m slow`
pytestmark = pytest.mark.slow

SYMBOLS, BARS, PHI, H = 8, 3000, 0.3, 5


def oracle_ic(phi=PHI, h=H):
    rho = sum(phi**j for j in range(1, h + 1)) / math.sqrt(h + 2 * sum((h - k) * phi**k for k in range(1, h)))
    return 6 / math.pi * math.asin(rho / 2)  # Spearman of a Gaussian pair (Pearson 1907)


def _universe(folder, phi, seed):
    from scipy.signal import lfilter

    folder.mkdir()
    days = np.datetime64("2000-01-03") + np.arange(BARS)
    for i in range(SYMBOLS):
        rng = np.random.default_rng([seed, i])
        r = lfilter([1.0], [1.0, -phi], rng.normal(0, 0.01 * math.sqrt(1 - phi * phi), BARS))
        c = 50.0 * np.exp(np.cumsum(r))
        (folder / f"S{i:02d}.csv").write_text(
            "Date,Close\n" + "".join(f"{d},{v:.10g}\n" for d, v in zip(days, c))
        )
    return f"csv:{folder}"


def _train(data, out, *extra):
    r = run(
        mpiexec_cmd(2, PY, "-m", "mpiapp.train", "--data", data, "--out", str(out), "--no-progress", *extra),
        timeout=900,
        env=mpi_env(),
    )
    assert r.returncode == 0, r.output
    from mpiapp.engines.train.families import FAMILY_BY_ID
    from mpiapp.io.results import read_table

    s = read_table(out, "summary")
    return {
        FAMILY_BY_ID[int(f)]: {c: v[i] for c, v in s.items()} for i, f in enumerate(s["family"])
    }, r.stdout


@pytest.fixture(scope="module")
def ar1(tmp_path_factory):
    d = tmp_path_factory.mktemp("ar1")
    return _train(_universe(d / "csv", PHI, 25), d / "ar1.h5")


@pytest.fixture(scope="module")
def walks(tmp_path_factory):
    d = tmp_path_factory.mktemp("rw")
    return d, _universe(d / "csv", 0.0, 26)


def test_oracle_ic_closed_form():
    assert oracle_ic() == pytest.approx(0.1439, abs=5e-5)


def test_every_family_finds_the_ar1_signal(ar1):
    """All five families, at their defaults, find the signal: positive mean IC with t > 3, each beside
    its baselines in the printed summary."""
    fams, out = ar1
    assert set(fams) == {"lgbm", "xgb", "rf", "mlp", "ridge"}
    for name, r in fams.items():
        assert r["symbols"] == SYMBOLS
        assert r["ic_t"] > 3, (name, r)
        assert r["ic_n_eff"] < SYMBOLS * BARS / 2  # overlapping labels: far fewer independent pairs than bars
    # measured here 0.37 (lgbm) and 0.50 (ridge) of the oracle IC; the earlier defaults gave lgbm 0.14, t 1.7
    assert fams["lgbm"]["ic_mean"] > 0.3 * oracle_ic() and fams["ridge"]["ic_mean"] > 0.3 * oracle_ic()
    assert "beats ridge" in out and "RMSE/hist-mean" in out and "n_eff" in out


@pytest.mark.xfail(
    strict=True,
    reason="goal missed at 3,000 bars (docs/train.md, 'Finding a weak signal'): "
    "least squares on all ten features reaches 0.47 of the oracle IC fold by fold (on the one "
    "informative feature alone 0.89); ridge 0.46, LightGBM 0.44; at 30,000 bars both 0.88",
)
def test_goal_lgbm_two_thirds_and_ridge_four_fifths_of_the_oracle_ic(ar1):
    fams, _ = ar1
    assert fams["lgbm"]["ic_mean"] >= 2 / 3 * oracle_ic() and fams["ridge"]["ic_mean"] >= 0.8 * oracle_ic()


def test_random_walks_give_no_significant_ic(walks, tmp_path):
    d, data = walks
    fams, out = _train(data, tmp_path / "rw.h5")
    for name, r in fams.items():
        assert abs(r["ic_t"]) < 3, (name, r)
        assert np.isfinite(r["ic_minus_ridge_t"]) or name == "ridge"


def test_random_walks_with_scan_features_give_no_significant_ic(walks, tmp_path):
    d, data = walks
    score = tmp_path / "score.h5"
    r = run(
        mpiexec_cmd(2, PY, "-m", "mpiapp.score", "--data", data, "--out", str(score), "--no-progress"),
        timeout=600,
        env=mpi_env(),
    )
    assert r.returncode == 0, r.output
    fams, _ = _train(data, tmp_path / "rw_scan.h5", "--scan", str(score))
    for name, r in fams.items():
        assert abs(r["ic_t"]) < 3, (name, r)
