"""The train job end to end, in real mpiexec subprocesses.

One reference file (-n 1, static); other rank counts and partitions must reproduce its predictions
and metrics (bitwise for the tree families; the MLP within 1e-9 relative, see docs/train.md);
failure paths (a raising model, a missing library, SIGTERM) end as documented and resume to the
same tables.
"""

import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from conftest import PY, ROOT, mpi_env, mpiexec_cmd, run

FAULT = str(ROOT / "tests" / "progs" / "train_fault.py")
FAST = [
    "--no-progress",
    "--set",
    "train.lgbm.n_estimators=15",
    "--set",
    "train.xgb.n_estimators=15",
    "--set",
    "train.rf.n_estimators=8",
    "--set",
    "train.mlp.epochs=2",
    "--set",
    "train.mlp.hidden=[8]",
    "--set",
    "train.cv.n_folds=3",
    "--set",
    "train.cv.min_train=100",
    "--set",
    "work.commit_interval_s=0.2",
]
NAMES = ("AAA", "BBB", "CCC")
MLP = 3
RIDGE = 4


def _write_csv(folder, name, n, seed):
    rng = np.random.default_rng(seed)
    c = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    o = c * np.exp(rng.normal(0, 0.004, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    days = np.datetime64("2001-01-01") + np.arange(n)
    lines = ["Date,Open,High,Low,Close,Volume"] + [
        f"{d},{o[i]:.6f},{h[i]:.6f},{lo[i]:.6f},{c[i]:.6f},{int(rng.integers(1000, 9000))}"
        for i, d in enumerate(days)
    ]
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("csv")
    for i, nm in enumerate(NAMES):
        _write_csv(d, nm, 1300 + 100 * i, i)
    _write_csv(d, "SHORT", 420, 9)  # too short for 3 folds with min_train 100 after a 199-bar warm-up
    return f"csv:{d}"


def train(n, out, data, *extra, prog=None, env=None, timeout=300):
    args = [PY, prog] if prog else [PY, "-m", "mpiapp.train"]
    return run(
        mpiexec_cmd(n, *args, "--data", data, "--out", str(out), *FAST, *extra),
        timeout=timeout,
        env=mpi_env(env),
    )


def tables(
    path,
    names=(
        "predictions",
        "metrics",
        "baselines",
        "folds",
        "importances",
        "coefficients",
        "models",
        "skipped",
        "summary",
    ),
):
    from mpiapp.io.results import read_table

    return {t: read_table(path, t) for t in names}


def assert_same(a, b):
    for t in (
        "predictions",
        "metrics",
        "baselines",
        "folds",
        "importances",
        "coefficients",
        "skipped",
        "summary",
    ):
        assert a[t].keys() == b[t].keys(), t
        for c in a[t]:
            x, y = a[t][c], b[t][c]
            if t == "summary" and x.dtype.kind == "f":  # every family's row compares it with ridge; the MLP's
                np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, err_msg=f"{t}.{c}")  # within 1e-9
            elif t in ("predictions", "metrics") and x.dtype.kind == "f":
                tree = a[t]["family"] != MLP
                assert np.array_equal(x[tree], y[tree], equal_nan=True), f"{t}.{c} differs (trees)"
                np.testing.assert_allclose(
                    x[~tree], y[~tree], rtol=1e-9, atol=1e-12, err_msg=f"{t}.{c} (mlp)"
                )
            elif t == "folds" and c == "threads":
                continue  # the thread count per model is recorded, and may differ with the rank count
            else:
                assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{t}.{c} differs"


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    r = train(1, out, data, "--partition", "static")
    assert r.returncode == 0, r.output
    t = tables(out)
    assert len(t["predictions"]["y"]) > 1000 and set(t["predictions"]["family"].tolist()) == {
        0,
        1,
        2,
        3,
        RIDGE,
    }
    return out, t


@pytest.mark.parametrize("n,partition", [(2, "static"), (2, "dynamic"), (4, "static"), (4, "dynamic")])
def test_same_predictions_and_metrics_at_any_rank_count(reference, data, tmp_path, n, partition):
    out = tmp_path / "r.h5"
    r = train(n, out, data, "--partition", partition)
    assert r.returncode == 0, r.output
    assert_same(reference[1], tables(out))
    assert "  skipped: SHORT: " in r.stdout, (
        r.stdout
    )  # the summary names the skipped symbol, from any rank's block


def test_reference_file_contents(reference):
    from mpiapp.io.results import read_attrs, read_table

    path, t = reference
    names = [x.decode() for x in read_table(path, "symbols")["name"]]
    assert names == sorted(NAMES + ("SHORT",))
    sk = t["skipped"]
    assert [names[s] for s in sk["symbol"]] == ["SHORT"] and b"needs at least" in sk["reason"][0]
    m = t["metrics"]
    # one all-folds row per (symbol, family), computed from its predictions, n_test the sum of its folds
    allf = m["fold"] == -1
    assert allf.sum() == 3 * 5  # four families and the ridge baseline
    for s, f in zip(m["symbol"][allf], m["family"][allf]):
        per = (m["symbol"] == s) & (m["family"] == f) & (m["fold"] >= 0)
        assert m["n_test"][allf & (m["symbol"] == s) & (m["family"] == f)][0] == m["n_test"][per].sum()
    p = t["predictions"]
    sel = (p["symbol"] == 0) & (p["family"] == 0)
    from scipy.stats import spearmanr  # boosted stumps forecast few distinct values: ties take mean ranks

    ic = spearmanr(p["yhat"][sel], p["y"][sel]).statistic
    assert m["ic"][allf & (m["symbol"] == 0) & (m["family"] == 0)][0] == pytest.approx(ic, abs=1e-12)
    # the purged counts are recorded per fold; walk-forward never trains past its test block
    f = t["folds"]
    assert np.all(f["n_purged"] > 0) and np.all(f["train_last"] < f["test_first"])
    a = read_attrs(path)
    assert a["job"] == "train" and int(a["threads_per_model"]) >= 1 and "GNU" in a["openmp_runtimes"]


def test_load_model_reproduces_the_stored_predictions(reference, data):
    from mpiapp import config
    from mpiapp.engines.train.dataset import fold_arrays, symbol_data
    from mpiapp.engines.train.params import TrainParams
    from mpiapp.io.sources import open_source
    from mpiapp.results import load_model

    path, t = reference
    cfg = config.load(overrides=[x for x in FAST if "=" in x])
    params = TrainParams.from_config(cfg.train)
    series = open_source(data).load("BBB")
    sd = symbol_data(series, params)
    p = t["predictions"]
    for fid, family in enumerate(("lgbm", "xgb", "rf", "mlp", "ridge")):
        model = load_model(path, "BBB", family, 2)
        _, _, Xte, _, bars = fold_arrays(sd, sd.folds[2])
        sel = (p["symbol"] == 1) & (p["family"] == fid) & (p["fold"] == 2)
        assert np.array_equal(p["bar"][sel], bars)
        assert np.array_equal(model.predict(Xte), p["yhat"][sel]), family
    with pytest.raises(KeyError, match="no lgbm model for SHORT"):
        load_model(path, "SHORT", "lgbm", 0)
    with pytest.raises(KeyError, match="no ridge model for SHORT"):
        load_model(path, "SHORT", "ridge", 0)


def test_report_prints_families_and_draws_charts(reference, tmp_path):
    path = reference[0]
    r = subprocess.run(
        [PY, "-m", "mpiapp.report", str(path), "--plot", str(tmp_path / "png")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for fam in ("lgbm", "xgb", "rf", "mlp", "ridge"):
        assert any(line.strip().startswith(fam) for line in r.stdout.splitlines()), r.stdout
    head = r.stdout.splitlines()[3]
    for col in (
        "mean IC",
        "± se",
        " t ",
        "n_eff",
        "ridge IC",
        "beats ridge",
        "RMSE/hist-mean",
        "beats hist-mean",
    ):
        assert col in head, head
    assert "skipped SHORT" in r.stdout
    pngs = sorted(os.listdir(tmp_path / "png"))
    assert "ic_per_symbol.png" in pngs and any(x.startswith("folds_") for x in pngs)


def test_every_t_in_the_family_lines_has_its_independent_observations_beside_it():
    from mpiapp.engines.train.report import SUMMARY_COLUMNS, family_lines

    row = {
        "family": 0,
        "symbols": 4,
        "ic_mean": 0.05,
        "ic_se": 0.01,
        "ic_t": 5.0,
        "ic_n_eff": 10_000.0,
        "ridge_ic_mean": 0.04,
        "beats_ridge": 0.75,
        "ic_minus_ridge": 0.01,
        "ic_minus_ridge_t": 2.5,
        "ic_minus_ridge_n_eff": 62_500.0,
        "loss_ratio": 0.99,
        "beats_hist_mean": 1.0,
        "r2_oos_mean": 0.01,
        "auc_mean": float("nan"),
    }
    summary = {c: np.array([row[c]], dtype=dt) for c, dt in SUMMARY_COLUMNS}
    head, line = family_lines(summary, proba=False)[:2]
    assert head.split("│")[1].split() == ["ridge", "IC", "beats", "ridge", "IC", "−", "ridge", "t", "n_eff"]
    assert line.split("│")[1].split() == ["0.0400", "75%", "+0.0100", "2.50", "62,500"], line
    assert line.split("│")[0].split()[-2:] == ["5.00", "10,000"]


def test_a_model_that_raises_is_recorded_and_the_job_goes_on(reference, data, tmp_path):
    out = tmp_path / "r.h5"
    env = {"FAULT_KIND": "raise", "FAULT_SYMBOL": "CCC", "FAULT_FAMILY": "xgb", "FAULT_FOLD": "1"}
    r = train(2, out, data, prog=FAULT, env=env)
    assert r.returncode == 3, r.output
    assert "failed: CCC xgb fold 1: ValueError: injected model failure (CCC xgb fold 1)" in r.stdout, r.output
    t = tables(out, ("failures", "predictions", "models"))
    assert t["failures"]["message"][0].decode() == "ValueError: injected model failure (CCC xgb fold 1)"
    p = t["predictions"]
    gone = (p["symbol"] == 2) & (p["family"] == 1) & (p["fold"] == 1)
    assert not gone.any() and len(p["y"]) == len(reference[1]["predictions"]["y"]) - _fold_rows(
        reference, 2, 1, 1
    )
    assert len(t["models"]["symbol"]) == len(reference[1]["models"]["symbol"]) - 1


@pytest.fixture(scope="module")
def one_thread(data, tmp_path_factory):
    """-n 1 with one thread per model, a failed unit (CCC xgb fold 1) and a skipped symbol (SHORT)."""
    out = tmp_path_factory.mktemp("one") / "one.h5"
    r = train(1, out, data, "--families", "lgbm,xgb", *ONE, prog=FAULT, env=FAIL_CCC)
    assert r.returncode == 3, r.output
    return out


ONE = ["--set", "train.threads_per_model=1"]
FAIL_CCC = {"FAULT_KIND": "raise", "FAULT_SYMBOL": "CCC", "FAULT_FAMILY": "xgb", "FAULT_FOLD": "1"}
EVERY = (
    "symbols",
    "features",
    "predictions",
    "metrics",
    "baselines",
    "folds",
    "importances",
    "coefficients",
    "models",
    "model_bytes",
    "skipped",
    "failures",
    "summary",
)


@pytest.mark.parametrize("n,hdf5_mpi", [(3, "auto"), (3, "off")])
def test_every_final_table_is_identical_when_ranks_finalize_their_own_symbols(
    one_thread, data, tmp_path, n, hdf5_mpi
):
    """Each rank finalizes a block of symbols (mpio) or rank 0 all (gather): every table, the model
    index and bytes included, is the same as at -n 1 (one thread per model: the LightGBM model text
    records its thread count), and the exit code is 3 from whichever rank holds the failure."""
    from mpiapp.io.results import read_table

    out = tmp_path / "r.h5"
    r = train(
        n,
        out,
        data,
        "--families",
        "lgbm,xgb",
        *ONE,
        "--set",
        f"output.hdf5_mpi={hdf5_mpi}",
        prog=FAULT,
        env=FAIL_CCC,
    )
    assert r.returncode == 3, r.output
    assert "failed: CCC xgb fold 1" in r.stdout, r.output
    for t in EVERY:
        a, b = read_table(one_thread, t), read_table(out, t)
        assert a.keys() == b.keys(), t
        for c in a:
            assert np.array_equal(a[c], b[c], equal_nan=a[c].dtype.kind == "f"), f"{t}.{c} differs"
    m = read_table(out, "models")
    assert m["start"][0] == 0 and np.array_equal(m["start"][1:], np.cumsum(m["count"])[:-1])
    assert m["start"][-1] + m["count"][-1] == len(read_table(out, "model_bytes")["byte"])
    prof = read_table(out, "profile")
    assert len(prof["rank"]) == n and np.all(prof["finalize_s"] > 0)


def _fold_rows(reference, s, f, k):
    p = reference[1]["predictions"]
    return int(np.sum((p["symbol"] == s) & (p["family"] == f) & (p["fold"] == k)))


def test_on_error_abort_ends_the_job(data, tmp_path):
    out = tmp_path / "r.h5"
    env = {"FAULT_KIND": "raise", "FAULT_SYMBOL": "AAA", "FAULT_FAMILY": "lgbm", "FAULT_FOLD": "0"}
    r = train(2, out, data, "--set", "train.on_error=abort", prog=FAULT, env=env)
    assert r.returncode not in (0, 3, 75), r.output
    assert "ValueError: injected model failure (AAA lgbm fold 0)" in r.stderr, r.output
    assert os.path.exists(f"{out}.partial") and not os.path.exists(out)


def test_a_missing_library_is_exit_2_before_compute(data, tmp_path):
    out = tmp_path / "r.h5"
    r = train(2, out, data, "--families", "lgbm,xgb", prog=FAULT, env={"FAULT_KIND": "missing"})
    assert r.returncode == 2, r.output
    assert (
        "xgb: the 'xgboost_not_installed_here' module is not installed (pip install 'mpiapp[cpu]'" in r.stderr
    )
    assert not os.path.exists(f"{out}.partial") and not os.path.exists(out)
    r = train(2, out, data, "--families", "lgbm")  # without xgb the same data trains
    assert r.returncode == 0, r.output


def test_sigterm_then_resume_at_another_rank_count(reference, data, tmp_path):
    out = tmp_path / "r.h5"
    cmd = mpiexec_cmd(2, PY, FAULT, "--data", data, "--out", str(out), *FAST)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=mpi_env({"FAULT_KIND": "slow", "FAULT_SLEEP": "0.25"}),
        start_new_session=True,
    )
    lines, err = [], []
    readers = [
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True),
        threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True),
    ]
    for t in readers:
        t.start()
    t0 = time.monotonic()
    while sum("TRAINING" in x for x in lines) < 6:
        assert time.monotonic() - t0 < 120 and proc.poll() is None, "".join(lines + err)
        time.sleep(0.1)
    # SIGTERM to every rank, as srun / scancel deliver it (Open MPI's mpiexec, signalled itself, sends
    # SIGKILL a moment after forwarding SIGTERM: a rank in the middle of a slow unit cannot reach its commit)
    pids = {int(x.split("pid=")[1].split()[0]) for x in lines if "TRAINING" in x}
    assert len(pids) == 2
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        pytest.fail("job still running 60 s after SIGTERM")
    for t in readers:
        t.join(timeout=10)
    assert proc.returncode != 0
    assert os.path.exists(f"{out}.partial") and not os.path.exists(out)
    # mpiexec may stop relaying the ranks' output after its SIGTERM: the file says how the run ended
    from mpiapp.io.results import read_attrs

    a = read_attrs(f"{out}.partial")
    assert (a.get("status"), a.get("interrupted_by")) == ("interrupted", "SIGTERM"), (a, "".join(err))
    r = train(4, out, data, "--resume")
    assert r.returncode == 0, r.output
    assert_same(reference[1], tables(out))


def test_help_is_fast_and_imports_no_model_library():
    probe = (
        "import runpy, sys; sys.argv = ['x', '--help']\n"
        "try:\n    runpy.run_module('mpiapp.train', run_name='__main__')\nexcept SystemExit: pass\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'lightgbm', 'xgboost', 'numba', 'h5py', 'mpi4py.MPI')"
        " if m in sys.modules))"
    )
    out = subprocess.run([PY, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.strip().endswith("HEAVY="), out.stdout[-500:] + out.stderr
    assert (
        "--families" in out.stdout
        and "--scan" in out.stdout
        and "3 complete, but some units failed" in out.stdout
    )
