"""The train job's faults at its edges, under real mpiexec: a resume over a replaced --scan file, a
--scan that is not a score results file, a rolling window shorter than min_train, and a stop while
the ranks still import their model libraries (provoked at that phase by the test-only hold
MPIAPP_TEST_HOLD=imports, not by a sleep)."""

import os
import shutil
import signal

import pytest

from conftest import PY, ROOT, Background, mpiexec_cmd
from fault_helpers import digests, job, said, write_csvs

FAULT = str(ROOT / "tests" / "progs" / "train_fault.py")
TRAIN = ["--families", "lgbm", "--no-progress"]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """CSV data long enough to train on, and a score results file of it."""
    d = tmp_path_factory.mktemp("trainfaults")
    write_csvs(d / "data", n=3, bars=1500)
    r = job(
        "score",
        2,
        "--data",
        f"csv:{d / 'data'}",
        "--out",
        str(d / "s.h5"),
        "--no-progress",
        "--set",
        "scan.window_bars=300",
        "--set",
        "scan.max_windows=20",
    )
    assert r.returncode == 0, r.output
    return d


def test_a_resume_after_the_scan_file_was_replaced_is_refused(scanned, tmp_path):
    import h5py

    scan = tmp_path / "scan.h5"
    shutil.copy(scanned / "s.h5", scan)
    out = tmp_path / "t.h5"
    args = [
        "--data",
        f"csv:{scanned / 'data'}",
        *TRAIN,
        "--scan",
        str(scan),
        "--out",
        str(out),
        "--set",
        "work.commit_interval_s=0.2",
    ]
    first = Background(mpiexec_cmd(2, PY, FAULT, *args), env={"FAULT_KIND": "slow", "FAULT_SLEEP": "0.5"})
    first.wait_for("TRAINING", 2, timeout=120)
    os.kill(first.pid, signal.SIGUSR1)  # mpiexec forwards it to every rank
    code, _, err = first.wait(timeout=120)
    assert code == 75, err
    with h5py.File(scan, "r+") as f:  # the same layout, other patterns: another scan at the same path
        s = f["patterns"]["score"]
        s[:] = s[:] * 0.5
    before = digests(scan, scanned / "data", f"{out}.partial")
    r = job("train", 2, *args, "--resume")
    assert r.returncode == 2, r.output
    line = said(r, "train")
    assert f"the data of the scan file {scan} changed since the interrupted run" in line, line
    assert "start over with --force" in line
    assert digests(scan, scanned / "data", f"{out}.partial") == before and not out.exists()


@pytest.mark.parametrize(
    "what,says",
    [
        ("csv", "not an HDF5 file, not a results file of mpiapp.score"),
        ("folder", "is a folder; give a results file of mpiapp.score"),
        ("train", "a results file of mpiapp.train, not a results file of mpiapp.score"),
        ("missing", "no such file"),
    ],
)
def test_a_scan_file_that_is_not_a_score_file_is_one_line(scanned, tmp_path, what, says):
    from fault_helpers import mpiapp_file

    data = scanned / "data"
    scan = {"csv": data / "S0.csv", "folder": data, "missing": tmp_path / "nope.h5"}.get(what)
    if what == "train":
        scan = tmp_path / "t.h5"
        mpiapp_file(scan, "train")
    before = digests(data, scan)
    r = job("train", 2, "--data", f"csv:{data}", *TRAIN, "--scan", str(scan), "--out", str(tmp_path / "o.h5"))
    assert r.returncode == 2, r.output
    line = said(r, "train")
    assert line == f"mpiapp train: --scan {scan}: {says}" or f"--scan {scan}: {says}" in line, line
    assert "h5py" not in r.stderr and "Unable to open" not in r.stderr
    assert digests(data, scan) == before


def test_a_rolling_window_shorter_than_min_train_is_refused_at_load(tmp_path):
    r = job(
        "train",
        2,
        "--data",
        "synthetic:2",
        *TRAIN,
        "--set",
        "train.cv.window=rolling",
        "--set",
        "train.cv.train_bars=50",
        "--set",
        "train.cv.min_train=200",
        "--out",
        str(tmp_path / "t.h5"),
    )
    assert r.returncode == 2, r.output
    line = said(r, "train")
    assert "train.cv.train_bars = 50 < train.cv.min_train = 200" in line and "config error" in line, line
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("to", ["ranks", "mpiexec"])
def test_a_stop_while_the_ranks_import_torch_ends_them_at_once_and_the_rerun_completes(tmp_path, to):
    out = tmp_path / "t.h5"
    args = [
        "-m",
        "mpiapp.train",
        "--data",
        "synthetic:2",
        "--families",
        "mlp",
        "--set",
        "train.mlp.epochs=2",
        "--set",
        "train.cv.n_folds=2",
        "--out",
        str(out),
        "--no-progress",
    ]
    held = Background(mpiexec_cmd(2, PY, *args), env={"MPIAPP_TEST_HOLD": "imports"})
    pids = held.wait_for("mpiapp test hold imports", 2, timeout=120)
    for pid in pids if to == "ranks" else [held.pid]:
        os.kill(pid, signal.SIGTERM)
    code, _, err = held.wait(timeout=60)
    lines = [x for x in err.splitlines() if x.startswith("mpiapp train:")]
    assert lines == [
        "mpiapp train: stopped by SIGTERM while loading the model libraries, before any new work: "
        "run the same command again"
    ], err
    if to == "ranks":  # as srun / scancel deliver it: mpiexec passes the ranks' exit code on
        assert code == 75, err
    else:  # mpiexec, signalled itself, ends with its own code; the ranks left before its SIGKILL
        assert code != 0 and "signal 9" not in err and "Killed" not in err, err
    assert os.listdir(tmp_path) == []  # nothing written: the same command runs from the start
    r = job("train", 2, *args[2:])
    assert r.returncode == 0, r.output
