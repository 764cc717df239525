"""The hpo job's built-in `train` and `optbench` objectives under mpiexec: a small search completes,
its best-parameters YAML runs the target job unchanged, and (train) reproducible mode gives the same
values at 1 and 2 ranks. Results are read back with Optuna (the journal) and h5py, not the code under
test. Kept small: 2 symbols of 1,500 bars, at most a few hundred trees."""

import math

import h5py
import pytest
import yaml

from conftest import PY, mpiexec_cmd, run

pytest.importorskip("optuna")
pytest.importorskip("lightgbm")

# 2 symbols x 1,500 bars, 3 folds; trees capped at 120 so a trial takes well under a second
TRAIN = [
    "--objective",
    "train",
    "--set",
    "hpo.train_symbols=2",
    "--set",
    "hpo.train_bars=1500",
    "--set",
    "train.cv.n_folds=3",
    "--set",
    "train.threads_per_model=1",
]
SPACE = """train.lgbm.n_estimators: {type: int, low: 20, high: 120, log: true}
train.lgbm.learning_rate: {type: float, low: 0.01, high: 0.2, log: true}
train.lgbm.num_leaves: {type: int, low: 4, high: 32, log: true}
"""


def hpo(n, out, *args, timeout=240):
    return run(mpiexec_cmd(n, PY, "-m", "mpiapp.hpo", "--out", str(out), *args), timeout=timeout)


def load(journal):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="mpiapp", storage=JournalStorage(JournalFileBackend(str(journal))))


def stored_config(path) -> dict:
    with h5py.File(path, "r") as f:
        return yaml.safe_load(f.attrs["config"])


def test_train_search_reports_folds_and_its_best_yaml_trains_that_family(tmp_path):
    (tmp_path / "space.yaml").write_text(SPACE)
    r = hpo(2, tmp_path / "t.h5", *TRAIN, "--trials", "5", "--space", str(tmp_path / "space.yaml"))
    assert r.returncode == 0, r.output
    study = load(tmp_path / "t.journal")
    trials = study.get_trials()
    assert len(trials) == 5 and all(t.state.name == "COMPLETE" for t in trials)
    assert study.direction.name == "MAXIMIZE"
    for t in trials:
        assert math.isfinite(t.value) and -1.0 <= t.value <= 1.0
        assert sorted(t.intermediate_values) == [0, 1, 2]  # one step per fold
        assert t.intermediate_values[2] == pytest.approx(t.value)  # the last running mean is the value
    with h5py.File(tmp_path / "t.h5", "r") as f:
        values = f["trials"]["value"][:]
    assert all(math.isfinite(v) for v in values)

    best = tmp_path / "t.best.yaml"
    doc = yaml.safe_load(best.read_text())
    assert doc["train"]["families"] == ["lgbm"]
    tr = run(
        mpiexec_cmd(
            1,
            PY,
            "-m",
            "mpiapp.train",
            "--config",
            str(best),
            "--data",
            "builtin:GOOG",
            "--set",
            "train.cv.n_folds=3",
            "--out",
            str(tmp_path / "train.h5"),
            "--no-progress",
        ),
        timeout=240,
    )
    assert tr.returncode == 0, tr.output
    cfg = stored_config(tmp_path / "train.h5")
    assert cfg["train"]["families"] == ["lgbm"]
    for k, v in study.best_params.items():
        assert cfg["train"]["lgbm"][k.split(".")[-1]] == v


def test_train_rmse_metric_is_minimised(tmp_path):
    (tmp_path / "space.yaml").write_text(SPACE)
    r = hpo(
        2,
        tmp_path / "r.h5",
        *TRAIN,
        "--trials",
        "4",
        "--space",
        str(tmp_path / "space.yaml"),
        "--set",
        "hpo.train_metric=rmse",
    )
    assert r.returncode == 0, r.output
    study = load(tmp_path / "r.journal")
    assert study.direction.name == "MINIMIZE"
    assert all(t.state.name == "COMPLETE" and 0 < t.value < 1 for t in study.get_trials())


def test_train_reproducible_mode_gives_the_same_values_at_1_and_2_ranks(tmp_path):
    (tmp_path / "space.yaml").write_text(SPACE)
    args = [
        *TRAIN,
        "--trials",
        "4",
        "--space",
        str(tmp_path / "space.yaml"),
        "--set",
        "hpo.mode=reproducible",
        "--set",
        "hpo.batch_size=2",
    ]
    seen = {}
    for n in (1, 2):
        r = hpo(n, tmp_path / f"p{n}.h5", *args)
        assert r.returncode == 0, r.output
        seen[n] = [
            (t.number, t.params, t.values, dict(t.intermediate_values))
            for t in load(tmp_path / f"p{n}.journal").get_trials()
        ]
    assert len(seen[1]) == 4
    assert seen[1] == seen[2]


@pytest.mark.parametrize(
    "optimizer,keys", [("momentum", {"step_scales", "momentum"}), ("adam", {"adam_lr", "adam_betas"})]
)
def test_optbench_search_and_its_best_yaml_runs_the_benchmark(tmp_path, optimizer, keys):
    out = tmp_path / "o.h5"
    r = hpo(
        2,
        out,
        "--objective",
        "optbench",
        "--trials",
        "6",
        "--set",
        f"hpo.optbench_optimizer={optimizer}",
        "--set",
        "optbench.max_iters=300",
        "--set",
        "optbench.repeats=2",
    )
    assert r.returncode == 0, r.output
    study = load(tmp_path / "o.journal")
    trials = study.get_trials()
    assert len(trials) == 6 and study.direction.name == "MINIMIZE"
    for t in trials:  # iterations to the target, or the miss penalty 2 x max_iters
        assert t.state.name == "COMPLETE" and math.isfinite(t.value) and 1 <= t.value <= 600

    best = tmp_path / "o.best.yaml"
    doc = yaml.safe_load(best.read_text())["optbench"]
    assert keys <= set(doc) and doc["optimizers"] == [optimizer]
    ob = run(
        mpiexec_cmd(
            1,
            PY,
            "-m",
            "mpiapp.optbench",
            "--config",
            str(best),
            "--set",
            "optbench.backends=[numpy]",
            "--set",
            "optbench.repeats=1",
            "--set",
            "optbench.max_iters=100",
            "--set",
            "optbench.bootstrap=10",
            "--out",
            str(tmp_path / "ob.h5"),
            "--no-progress",
        ),
        timeout=240,
    )
    assert ob.returncode == 0, ob.output
    cfg = stored_config(tmp_path / "ob.h5")["optbench"]
    for k in keys:
        assert cfg[k] == doc[k]
    bp = study.best_params
    if optimizer == "momentum":
        assert (
            cfg["step_scales"] == [bp["optbench.step_scale"]] and cfg["momentum"] == bp["optbench.momentum"]
        )
        with h5py.File(tmp_path / "ob.h5", "r") as f:
            assert f["cells"]["momentum"][0] == pytest.approx(bp["optbench.momentum"])  # the job used it
    else:
        assert cfg["adam_lr"] == bp["optbench.adam_lr"]
        assert cfg["adam_betas"] == [bp["optbench.beta1"], bp["optbench.beta2"]]
