"""optbench statistics and the cell cache: hand-computed cases and what a cache key must depend on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mpiapp.engines.optbench import backends, cache, grid, recorder, stats


def test_performance_profile_by_hand():
    # problem 0: times 1, 2, missed; problem 1: nobody solves; problem 2: 3, 1.5, 6
    T = np.array([[1, 2, np.inf], [np.inf, np.inf, np.inf], [3, 1.5, 6]])
    rho = stats.performance_profile(T, np.array([1.0, 2.0, 4.0, 100.0]))
    assert np.allclose(
        rho, [[1 / 3, 2 / 3, 2 / 3, 2 / 3], [1 / 3, 2 / 3, 2 / 3, 2 / 3], [0, 0, 1 / 3, 1 / 3]]
    )
    taus = stats.default_taus(T, 5)
    assert taus[0] == 1.0 and taus[-1] >= 4.0


def test_median_and_bootstrap_interval():
    med, lo, hi = stats.median_ci([3.0, 1.0, 2.0], B=500, seed=1)
    assert med == 2.0 and lo in (1.0, 2.0) and hi in (2.0, 3.0) and lo <= med <= hi
    # a missed target stays inf (no nan from interpolating with inf)
    med, lo, hi = stats.median_ci([1.0, math.inf, math.inf], B=500)
    assert med == math.inf and hi == math.inf and lo in (1.0, math.inf)
    assert stats.median_ci([5.0]) == (5.0, 5.0, 5.0)
    with pytest.raises(ValueError):
        stats.median_ci([])


def test_cache_key_depends_on_cell_params_data_and_environment(tmp_path):
    p = grid.BenchParams()
    c = grid.cells(p)[0]
    env = {"numpy": "1", "threads": 1}
    k = cache.cell_key(p, c, "data", env)
    assert k == cache.cell_key(grid.BenchParams(), c, "data", dict(env))
    assert k != cache.cell_key(p, grid.cells(p)[1], "data", env)  # another seed
    assert k != cache.cell_key(grid.BenchParams(max_iters=7), c, "data", env)
    assert k != cache.cell_key(p, c, "other data", env)
    assert k != cache.cell_key(p, c, "data", {**env, "threads": 2})
    # the grid's lists and I/O places do not change a cell's result
    assert k == cache.cell_key(grid.BenchParams(repeats=9, cache_dir="/x"), c, "data", env)


def test_cache_round_trip_is_exact(tmp_path):
    cc = cache.CellCache(tmp_path)
    curve = recorder.Curve(
        time=np.array([0.0, 0.1]),
        iteration=np.array([0, 5]),
        epoch=np.array([0.0, 5.0]),
        subopt=np.array([1.0, 1 / 3]),
        grad_norm=np.array([2.0, math.pi]),
        test_loss=np.array([math.nan, 0.5]),
        status="budget",
        f0_gap=1.0,
        steps_per_epoch=1,
    )
    c = grid.cells(grid.BenchParams())[0]
    cc.put("ab" + "0" * 62, "budget", {"time_to_1e-06": math.inf, "lr": 0.1}, curve, c)
    status, sc, back = cc.get("ab" + "0" * 62)
    assert status == "budget" and sc["time_to_1e-06"] == math.inf and sc["lr"] == 0.1
    assert np.array_equal(back.subopt, curve.subopt) and np.array_equal(back.grad_norm, curve.grad_norm)
    assert np.isnan(back.test_loss[0]) and back.iteration.dtype == np.int64
    assert cc.get("cd" + "0" * 62) is None and len(cc) == 1
    assert list(tmp_path.glob("*/*.json"))  # JSON on disk, never pickle


def test_environment_fingerprint_names_what_timing_depends_on():
    fp = cache.env_fingerprint(backends.make("numpy"), 3)
    assert (
        fp["threads"] == 3
        and fp["backend"] == "numpy"
        and fp["device"] == "cpu"
        and fp["numpy"] == np.__version__
    )


def test_the_printed_claim_check_states_the_claim_and_its_verdict():
    from mpiapp.engines.optbench.job import format_summary

    runs = [
        {
            "problem": "lsq-k1e6-d100",
            "optimizer": o,
            "backend": "numpy",
            "step_scale": 1.0,
            "target": 1e-6,
            "reached": o == "adam",
            "final_rel_med": 0.5 if o == "sgd" else 1e-7,
        }
        for o in ("sgd", "adam")
    ]
    text = format_summary({"claims": runs, "status_counts": {}}, "x.h5")
    assert (
        'claim check, "SGD fails to converge at kappa = 1e6 within its budget while Adam does": shown' in text
    )
    assert "lsq-k1e6-d100 sgd/numpy step scale 1: target 1e-06 missed" in text
    runs[0]["reached"] = True
    assert '": refuted' in format_summary({"claims": runs, "status_counts": {}}, "x.h5")
