"""Model families: explicit threads, seeds from the unit, safe formats that load back to the same model."""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mpiapp import config
from mpiapp.engines.train import families as fam
from mpiapp.engines.train.dataset import ALL_FEATURES, symbol_data
from mpiapp.engines.train.final import ALL_FOLDS, baselines_table, metrics_table, sort_rows
from mpiapp.engines.train.params import TrainParams
from mpiapp.engines.train.unit import RAW_TABLES, failure_rows, train_unit
from mpiapp.io.series import Series

SMALL = [
    "train.lgbm.n_estimators=20",
    "train.xgb.n_estimators=20",
    "train.rf.n_estimators=10",
    "train.mlp.epochs=2",
    "train.cv.n_folds=3",
    "train.cv.min_train=100",
]


def _params(*extra):
    return TrainParams.from_config(config.load(overrides=SMALL + list(extra)).train)


def _series(n=1500, seed=0, name="SYN"):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, n)))
    h, lo = c * 1.004, c * 0.996
    t = (np.arange(n, dtype=np.int64) + 10_000) * 86_400 * 10**9
    return Series(name, t, c.copy(), h, lo, c, "test", True, rng.integers(100, 900, n).astype(float))


def _xy(m=800, f=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, f))
    return X, 0.01 * X[:, 0] + rng.normal(0, 0.02, m)


@pytest.mark.parametrize("family", ["lgbm", "xgb", "rf", "mlp"])
def test_fit_and_reload_from_the_safe_format(family):
    X, y = _xy()
    p = _params().params[family]
    model = fam.fit(fam.FitSpec(family, dict(p), threads=1, seed=7), X, y)
    blob = model.blob()
    if family in ("lgbm", "rf"):
        assert blob.startswith(b"tree\n")  # LightGBM's text model
    elif family == "xgb":
        assert blob[:1] == b"{"  # UBJSON object
    else:
        assert zipfile.is_zipfile(io.BytesIO(blob))
        import torch

        sd = torch.load(io.BytesIO(blob), weights_only=True)  # tensors and the architecture's JSON text
        arch = json.loads(sd.pop("architecture"))
        widths = [layer["out"] for layer in arch["layers"] if layer["type"] == "Linear"]
        assert arch["layers"][0]["in"] == X.shape[1] and widths == list(p["hidden"]) + [1]
        assert all(isinstance(v, torch.Tensor) for v in sd.values())
    again = fam.load(family, blob, n_features=X.shape[1])
    assert np.array_equal(again.predict(X), model.predict(X))
    g = model.gain()
    assert g.shape == (X.shape[1],) and (np.isnan(g).all() if family == "mlp" else g[0] == g.max())


@pytest.mark.parametrize("family", ["lgbm", "xgb", "rf"])
def test_same_model_at_one_and_two_threads_and_seeded(family):
    X, y = _xy(1500)
    p = _params().params[family]
    a, b = (fam.fit(fam.FitSpec(family, dict(p), threads=t, seed=3), X, y).predict(X) for t in (1, 2))
    assert np.array_equal(a, b)
    if family != "lgbm":  # row / feature sampling depends on the seed
        c = fam.fit(fam.FitSpec(family, dict(p), threads=1, seed=4), X, y).predict(X)
        assert not np.array_equal(a, c)


def test_seed_comes_from_the_unit_and_explicit_threads_are_required():
    assert fam.unit_seed("AAPL", "lgbm", 2) == fam.unit_seed("AAPL", "lgbm", 2)
    assert len({fam.unit_seed("AAPL", f, k) for f in fam.FAMILIES for k in range(5)}) == 5 * len(fam.FAMILIES)
    with pytest.raises(ValueError, match="explicit"):
        fam.fit(fam.FitSpec("lgbm", {}, threads=0), *_xy())


def test_missing_library_names_what_to_install(monkeypatch):
    monkeypatch.setitem(fam.FAMILIES, "xgb", (1, "no_such_xgboost_module", "pip install 'mpiapp[cpu]'", "x"))
    assert fam.missing_libraries(["lgbm", "xgb"]) == [
        "xgb: the 'no_such_xgboost_module' module is not installed (pip install 'mpiapp[cpu]')"
    ]
    with pytest.raises(fam.FamilyUnavailable, match="mpiapp\\[cpu\\]"):
        fam.fit(fam.FitSpec("xgb", {}, threads=1), *_xy())


def test_units_to_final_tables():
    params = _params()
    s = _series()
    sd = symbol_data(s, params)
    assert [n for n in ALL_FEATURES if n.startswith("scan")] and sd.feature_ids.max() < len(ALL_FEATURES)
    raw = {t: [] for t in RAW_TABLES}
    for fid in (0, 3):
        for k in range(3):
            for t, rows in train_unit(sd, (0, fid, k), "SYN", params, 1, "cpu").items():
                raw[t].append(rows)
    cat = {
        t: {c: np.concatenate([r[c] for r in parts]) for c, _ in RAW_TABLES[t]}
        for t, parts in raw.items()
        if parts
    }
    pred = sort_rows(cat["predictions"], ["symbol", "family", "fold", "bar"])
    # every test bar predicted once per family, in time order, with its timestamp
    for fid in (0, 3):
        b = pred["bar"][pred["family"] == fid]
        assert np.all(np.diff(b) > 0) and np.array_equal(pred["time"][pred["family"] == fid], s.time[b])
    mt = metrics_table(pred, cat["folds"], proba=False, horizon=params.horizon)
    assert sorted(set(mt["fold"].tolist())) == [ALL_FOLDS, 0, 1, 2]
    allrow = (mt["family"] == 0) & (mt["fold"] == ALL_FOLDS)
    assert mt["n_test"][allrow][0] == np.sum(mt["n_test"][(mt["family"] == 0) & (mt["fold"] >= 0)])
    bt = baselines_table(pred, cat["folds"], proba=False)
    zero = bt["r2_oos"][(bt["baseline"] == 0)]
    assert np.all(zero == 0.0) and len(bt["symbol"]) == 2 * 4


def _leaf_counts_lgb(model):
    out = []

    def walk(node):
        if "leaf_count" in node:
            out.append(node["leaf_count"])
        for k in ("left_child", "right_child"):
            if k in node:
                walk(node[k])

    for t in model.b.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    return out


@pytest.mark.parametrize("family", ["lgbm", "rf"])
def test_every_leaf_holds_the_share_of_rows(family):
    X, y = _xy(1000)
    p = dict(_params(f"train.{family}.min_leaf_fraction=0.15", f"train.{family}.num_leaves=8").params[family])
    counts = _leaf_counts_lgb(fam.fit(fam.FitSpec(family, p, threads=1, seed=1), X, y))
    assert counts and min(counts) >= 150  # 0.15 of the 1,000 rows (rf: of the rows bagged into each tree)
    p0 = dict(_params(f"train.{family}.min_leaf_fraction=0", f"train.{family}.num_leaves=8").params[family])
    assert min(_leaf_counts_lgb(fam.fit(fam.FitSpec(family, p0, threads=1, seed=1), X, y))) < 150


def test_xgboost_children_hold_the_share_of_rows():
    X, y = _xy(1000)
    p = dict(_params("train.xgb.min_child_fraction=0.15", "train.xgb.max_depth=4").params["xgb"])
    model = fam.fit(fam.FitSpec("xgb", p, threads=1, seed=1), X, y)
    covers = [
        float(x.split("cover=")[1].split(",")[0])
        for t in model.b.get_dump(with_stats=True)
        for x in t.splitlines()
        if "leaf=" in x
    ]
    # cover = the hessian sum of the rows in the leaf: 1 a row under squared error, of the 80 % subsample
    assert covers and min(covers) >= 150


def _inner(m, frac=0.33):
    from mpiapp.engines.train.cv import inner_split

    return inner_split(np.arange(m), 5, frac, 5)


@pytest.mark.parametrize("family", ["lgbm", "xgb"])
def test_early_stopping_chooses_the_rounds_on_the_inner_slice_and_refits(family):
    X, y = _xy(1200)
    inner = _inner(1200)
    flip = y.copy()
    flip[inner.val] = -0.01 * X[inner.val, 0] + np.random.default_rng(9).normal(0, 0.02, inner.val.size)
    keys = [f"train.{family}.early_stopping_rounds=20", f"train.{family}.n_estimators=300"]
    p = dict(_params(*keys).params[family])
    same = fam.fit(fam.FitSpec(family, dict(p), threads=1, seed=1), X, y, inner)
    anti = fam.fit(fam.FitSpec(family, dict(p), threads=1, seed=1), X, flip, inner)
    # where the slice follows the training rows the signal is worth many rounds; where it contradicts
    # them, the first round is already the best
    assert 20 < same.chosen <= 300 and anti.chosen <= 3
    n_trees = same.b.num_trees() if family == "lgbm" else same.b.num_boosted_rounds()
    assert n_trees == same.chosen  # the refit on the whole fold has the chosen rounds
    with pytest.raises(ValueError, match="inner validation slice"):
        fam.fit(fam.FitSpec(family, dict(p), threads=1, seed=1), X, y)
    assert np.isnan(
        fam.fit(fam.FitSpec(family, dict(_params().params[family]), threads=1, seed=1), X, y).chosen
    )


def test_mlp_early_stopping_chooses_the_epochs_on_the_inner_slice():
    X, y = _xy(900)
    p = dict(_params("train.mlp.early_stopping_epochs=2", "train.mlp.epochs=30").params["mlp"])
    model = fam.fit(fam.FitSpec("mlp", p, threads=1, seed=2), X, y, _inner(900))
    assert 1 <= model.chosen <= 30 and model.chosen == int(model.chosen)
    with pytest.raises(ValueError, match="inner validation slice"):
        fam.fit(fam.FitSpec("mlp", p, threads=1, seed=2), X, y)


def test_ridge_family_takes_the_penalty_of_the_inner_slice():
    from mpiapp.engines.train import linear

    X, y = _xy(1000)
    inner = _inner(1000)
    p = dict(_params().params["ridge"])
    model = fam.fit(fam.FitSpec("ridge", p, threads=1, seed=0), X, y, inner)
    best, _ = linear.choose_penalty(X, y, inner.fit, inner.val, p["penalties"])
    assert model.chosen == best and model.blob() == b"" and np.isnan(model.gain()).all()
    assert np.array_equal(model.predict(X), linear.fit_ridge(X, y, best).predict(X))
    with pytest.raises(ValueError, match="inner validation slice"):
        fam.fit(fam.FitSpec("ridge", p, threads=1, seed=0), X, y)
    cls = fam.fit(fam.FitSpec("ridge", p, threads=1, seed=0, task="classification"), X, y, inner).predict(X)
    assert cls.min() >= 1e-3 and cls.max() <= 1 - 1e-3


def test_ridge_is_trained_whatever_the_families_list():
    assert _params("train.families=[lgbm]").families == ("lgbm", "ridge")
    assert _params("train.families=[ridge,mlp]").families == ("ridge", "mlp")


def test_failure_row_carries_the_message():
    rows = failure_rows((3, 1, 2), ValueError("bad split " + "x" * 400))
    msg = rows["failures"]["message"][0].decode()
    assert msg.startswith("ValueError: bad split") and len(msg) == 240


def test_openmp_runtimes_and_the_mixed_warning():
    from mpiapp.engines.train.omp import mixed_warning, openmp_runtimes

    gnu = {"user_api": "openmp", "prefix": "libgomp", "filepath": "/usr/lib/libgomp.so.1", "num_threads": 2}
    llvm = {"user_api": "openmp", "prefix": "libomp", "filepath": "/venv/libomp.so", "num_threads": 2}
    blas = {"user_api": "blas", "prefix": "libopenblas", "filepath": "/x", "num_threads": 2}
    assert mixed_warning(openmp_runtimes([gnu, dict(gnu, filepath="/venv/sklearn/libgomp.so")])) is None
    w = mixed_warning(openmp_runtimes([gnu, blas, llvm]))
    assert "2 different OpenMP runtimes" in w and "GNU" in w and "LLVM" in w
    import lightgbm  # noqa: F401  (loads libgomp)

    assert any(r["family"] == "GNU" for r in openmp_runtimes())


def test_job_import_of_the_tree_libraries_leaves_out_the_sklearn_glue():
    # in a fresh interpreter: the job's import of lightgbm and xgboost loads neither scikit-learn nor
    # pandas nor scipy.stats, and both stay importable afterwards (the block lasts the import only)
    prog = (
        "import sys\n"
        "from mpiapp.engines.train.families import import_libraries\n"
        "import_libraries(['lgbm', 'xgb'])\n"
        "heavy = sorted(m for m in ('sklearn', 'pandas', 'scipy.stats', 'dask') if m in sys.modules)\n"
        "import lightgbm, xgboost, numpy as np\n"
        "assert not lightgbm.compat.SKLEARN_INSTALLED, 'lightgbm saw scikit-learn'\n"
        "b = lightgbm.train({'verbosity': -1, 'num_threads': 1}, lightgbm.Dataset(np.arange(200.0).reshape(100, 2),"
        " label=np.arange(100.0)), 3)\n"
        "import sklearn, pandas\n"
        "print('heavy', heavy, 'ok', b.num_trees(), sys.modules['sklearn'] is not None)\n"
    )
    p = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "heavy [] ok 3 True"
