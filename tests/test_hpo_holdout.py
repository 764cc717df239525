"""Every search ends with an unbiased answer: the best trial by its search value, and the defaults,
scored on a held-out part the search never saw — the search value beside the held-out one, a search
value that is fitted noise called out, nothing chosen by held-out value. Under real mpiexec, read back
with h5py and Optuna's journal (not the code under test)."""

import json
import math

import h5py
import numpy as np
import pytest
import yaml

from conftest import PY, ROOT, mpiexec_cmd, run

pytest.importorskip("optuna")
NOISE = str(ROOT / "tests" / "progs" / "hpo_noise.py")


def hpo(n, out, *args, timeout=300):
    return run(
        mpiexec_cmd(n, PY, "-m", "mpiapp.hpo", "--out", str(out), "--no-progress", *args), timeout=timeout
    )


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("hpo_noise_oracle", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def holdout_table(path) -> list[dict]:
    with h5py.File(path, "r") as f:
        g = f["holdout"]
        cols = [c.decode() for c in g.attrs["columns"]]
        t = {c: g[c][:] for c in cols}
    return [
        {c: (t[c][i].decode() if t[c].dtype.kind == "S" else t[c][i].item()) for c in cols}
        for i in range(len(t["role"]))
    ]


def test_a_search_value_of_fitted_noise_is_far_above_its_held_out_value(tmp_path):
    out = tmp_path / "n.h5"
    r = hpo(2, out, "--objective", f"{NOISE}:fit", "--trials", "12", "--set", "hpo.sampler=random")
    assert r.returncode == 0, r.output
    rows = {x["role"]: x for x in holdout_table(out)}
    best, dflt = rows["best"], rows["defaults"]
    with h5py.File(out, "r") as f:
        values, numbers = f["trials"]["value"][:], f["trials"]["number"][:]
    assert best["trial"] == int(numbers[np.argmax(values)])  # chosen by the search value, nothing else
    assert best["search_value"] == pytest.approx(float(values.max()))
    # the search value is in-sample noise: far above the held-out value, in held-out standard errors
    assert best["search_value"] - best["holdout_value"] > 3 * best["holdout_se"], best
    assert best["gap_se"] > 3 and best["holdout_n"] == 400
    assert abs(best["holdout_value"]) < 3 * best["holdout_se"]  # no signal out of sample
    assert (
        json.loads(dflt["params"]) == {"k": 1} and dflt["trial"] == -1 and math.isfinite(dflt["search_value"])
    )
    said = r.stdout
    assert "standard errors better than the held-out value" in said and "overstates" in said, said
    assert "held-out" in said and "search" in said
    # the best search value is printed beside the defaults' on the same part (rebuilt from the module)
    noise = _load(NOISE)
    X, y = noise.setup(None)["search"]
    b1 = np.linalg.lstsq(X[:, :1], y, rcond=None)[0]
    dv = float(np.corrcoef(X[:, :1] @ b1, y)[0, 1])
    assert dflt["search_value"] == pytest.approx(dv, abs=1e-12)
    line = next(x for x in said.splitlines() if "best search value" in x)
    assert f"(the defaults on the same part: {dv:.6g})" in line, line
    rep = run([PY, "-m", "mpiapp.report", str(out)], timeout=120)
    assert rep.returncode == 0 and f"(the defaults on the same part: {dv:.6g})" in rep.stdout, rep.output
    head = [x for x in (tmp_path / "n.best.yaml").read_text().splitlines() if x.startswith("#")]
    assert any("held-out" in x and f"best trial {best['trial']}" in x for x in head), head
    assert yaml.safe_load((tmp_path / "n.best.yaml").read_text())["k"] == json.loads(best["params"])["k"]


def test_the_holdout_is_the_same_at_one_and_two_ranks(tmp_path):
    got = []
    for n in (1, 2):
        out = tmp_path / f"d{n}.h5"
        r = hpo(
            n,
            out,
            "--objective",
            "demo",
            "--trials",
            "4",
            "--set",
            "hpo.mode=reproducible",
            "--set",
            "hpo.batch_size=2",
        )
        assert r.returncode == 0, r.output
        got.append([{k: "nan" if v != v else v for k, v in row.items()} for row in holdout_table(out)])
    assert got[0] == got[1] and [x["role"] for x in got[0]] == ["best", "defaults"]


def test_when_the_defaults_do_better_held_out_the_summary_says_so(tmp_path):
    # demo: the defaults (x = y = 0) score 5 + noise; two random trials over [-5, 5]^2 almost surely worse
    out = tmp_path / "d.h5"
    r = hpo(
        1, out, "--objective", "demo", "--trials", "2", "--set", "hpo.sampler=random", "--set", "hpo.seed=3"
    )
    assert r.returncode == 0, r.output
    rows = {x["role"]: x for x in holdout_table(out)}
    assert rows["defaults"]["holdout_value"] < rows["best"]["holdout_value"]  # minimised
    assert "the defaults do better on the held-out part than the best trial" in r.stdout
    assert "keep the defaults" in (tmp_path / "d.best.yaml").read_text()


# --- the train objective: its held-out period and its search space ------------------------------------


def _series(n, seed=0):
    from mpiapp.io.series import Series

    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, n)))
    t = (np.arange(n, dtype=np.int64) + 10_000) * 86_400 * 10**9
    return Series("SYN", t, c.copy(), c * 1.004, c * 0.996, c, "test", True, None)


def test_the_search_never_sees_the_held_out_period_or_the_gap_before_it():
    from mpiapp import config
    from mpiapp.engines.hpo.train_objective import gap_bars, split_series
    from mpiapp.engines.train.dataset import symbol_data
    from mpiapp.engines.train.params import TrainParams

    params = TrainParams.from_config(
        config.load(overrides=["train.cv.n_folds=3", "train.cv.min_train=100"]).train
    )
    n, search_bars, hold = 2600, 1500, 500
    s = _series(n)
    search, held = split_series(s, params, search_bars, hold)
    gap = gap_bars(params)
    assert gap == params.horizon + params.cv.embargo_bars == 10
    end = n - hold - gap  # the search's bars are [end - 1500, end)
    assert len(search) == search_bars and search.time[-1] == s.time[end - 1]
    first = n - search_bars - hold - gap  # the held-out SymbolData starts where the search does
    assert held.time[0] == s.time[first] and held.time[-1] == s.time[-1]
    (fold,) = held.folds
    bars = held.ds.bars
    # training samples: exactly the search part's samples (their labels end inside it)
    sd = symbol_data(search, params)
    assert np.array_equal(bars[fold.train], sd.ds.bars)
    assert np.array_equal(held.ds.X[fold.train], sd.ds.X) and np.array_equal(held.ds.y[fold.train], sd.ds.y)
    assert (bars[fold.train] + params.horizon).max() < end - first  # no label reaches the gap
    # test samples: every sample dated in the held-out period, and nothing else
    h0 = len(held.time) - hold
    assert np.array_equal(bars[fold.test], bars[bars >= h0]) and bars[fold.test][0] == h0
    assert fold.test.size == hold - params.horizon


def _grid(p):
    """low, middle and high of a space parameter (the middle geometric on a log scale)."""
    if p.type == "categorical":
        return list(p.choices)
    mid = math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2
    vals = [p.low, mid, p.high]
    return sorted({int(round(v)) for v in vals}) if p.type == "int" else vals


@pytest.mark.parametrize("family", ["lgbm", "xgb", "rf", "mlp", "ridge"])
def test_every_searched_dimension_changes_the_model_across_its_range(family):
    """At the family's defaults, each parameter of the default space gives a different forecast at its
    low, middle and high value, on rows of a search's size (the last fold: ~1,000 training rows)."""
    from mpiapp import config
    from mpiapp.engines.hpo import space
    from mpiapp.engines.hpo.train_objective import SPACES, trial_params
    from mpiapp.engines.train import families as fam
    from mpiapp.engines.train.params import TrainParams, family_params

    pytest.importorskip(
        {"lgbm": "lightgbm", "rf": "lightgbm", "xgb": "xgboost", "mlp": "torch", "ridge": "numpy"}[family]
    )
    cfg = config.load()
    base = TrainParams.from_config(cfg.train)
    state = {
        "family": family,
        "params": base.__class__(families=(family,), params={family: family_params(cfg.train, family)}),
    }
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1100, 10))
    y = 0.02 * X[:, 0] - 0.01 * X[:, 1] * X[:, 2] + rng.normal(0, 0.1, 1100)
    Xtr, ytr, Xte = X[:1000], y[:1000], X[1000:]
    for p in space.parse(SPACES[family]):
        preds = []
        for v in _grid(p):
            tp = trial_params(state, {p.name: v}, 1)
            spec = fam.FitSpec(family, dict(tp.params[family]), threads=1, seed=7)
            preds.append(fam.fit(spec, Xtr, ytr).predict(Xte))
        same = [i for i in range(len(preds) - 1) if np.array_equal(preds[i], preds[i + 1])]
        assert not same, f"{p.name}: {[_grid(p)[i] for i in same]} and the next value give the same model"


def test_a_searched_ridge_penalty_is_a_one_item_list_in_the_best_yaml():
    from mpiapp import config
    from mpiapp.engines.hpo.train_objective import best_config

    cfg = config.load(overrides=["hpo.train_family=ridge"])
    keys = best_config({"train.ridge.penalties": 0.05}, cfg)
    assert keys == {"train.ridge.penalties": [0.05], "train.families": ["ridge"]}
    text = yaml.safe_dump({"train": {"ridge": {"penalties": [0.05]}, "families": ["ridge"]}})
    assert config.loads(text).train.ridge.penalties == [0.05]
