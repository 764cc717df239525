"""The score job's output and input are never lost or mixed: lock, output = input, unwritable paths,
a stale .partial after bad input, a resume over changed data, a stop signal from the first moment.

Each test launches real mpiexec subprocesses and asserts exit code, message and the files left.
"""

import hashlib
import os
import re
import signal
import time

import numpy as np
import pandas as pd
import pytest

from conftest import PY, ROOT, Background, mpiexec_cmd, run

FAULT = str(ROOT / "tests" / "progs" / "score_fault.py")
ARGS = [
    "--no-progress",
    "--set",
    "scan.window_bars=300",
    "--set",
    "scan.max_windows=20",
    "--set",
    "work.unit_size=4",
    "--set",
    "work.commit_interval_s=0.1",
]


def score(n, out, *extra, prog=None, timeout=180, env=None):
    args = [PY, prog] if prog else [PY, "-m", "mpiapp.score"]
    return run(
        mpiexec_cmd(n, *args, "--out", str(out), *ARGS, *extra),
        timeout=timeout,
        env=None if env is None else __import__("conftest").mpi_env(env),
    )


def write_csvs(folder, n=3, bars=700):
    from mpiapp.io import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s, _ = synthetic.generate(7, i, bars, 1.0, 0.1, n)
        pd.DataFrame(
            {
                "Date": pd.to_datetime(s.time).strftime("%Y-%m-%d"),
                "Open": s.open,
                "High": s.high,
                "Low": s.low,
                "Close": s.close,
                "Volume": 1000,
            }
        ).to_csv(folder / f"S{i}.csv", index=False)
    return folder


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_a_second_job_on_the_same_output_exits_2_at_once_and_the_first_completes(tmp_path):
    out = tmp_path / "r.h5"
    first = Background(
        mpiexec_cmd(2, PY, FAULT, "--out", str(out), "--data", "synthetic:6", *ARGS),
        env={"FAULT_KIND": "slow", "FAULT_SLEEP": "0.6"},
    )  # 30 units: ~9 s per rank
    first.wait_for("SCANNING", 2)
    for extra in (["--force"], ["--resume"]):
        second = score(2, out, "--data", "synthetic:6", *extra, timeout=60)
        assert first.proc.poll() is None, "the first job ended before the second was refused: a slower first"
        assert second.returncode == 2, second.output
        assert re.search(
            rf"{re.escape(str(out))}\.lock is held by another mpiapp job \(pid \d+ on ", second.stderr
        )
        assert "Traceback" not in second.stderr
    code, _, err = first.wait(timeout=180)
    assert code == 0, err
    ref = tmp_path / "ref.h5"
    assert score(1, ref, "--data", "synthetic:6").returncode == 0
    from mpiapp.io.results import read_attrs, read_table

    assert read_attrs(out)["status"] == "complete"
    for t in ("patterns", "windows", "symbols"):
        a, b = read_table(out, t), read_table(ref, t)
        assert all(np.array_equal(a[c], b[c], equal_nan=a[c].dtype.kind == "f") for c in a), t
    assert not os.path.exists(f"{out}.lock") and not os.path.exists(f"{out}.partial")


@pytest.mark.parametrize("which", ["csv", "hdf5"])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, which):
    data = write_csvs(tmp_path / "csv")
    if which == "csv":
        source, out = f"csv:{data}", data / "S1.csv"
    else:
        out = tmp_path / "prices.h5"
        r = run([PY, "-m", "mpiapp.io.convert", str(data), str(out)], timeout=120)
        assert r.returncode == 0, r.output
        source = f"hdf5:{out}"
    before = digest(out)
    r = score(2, out, "--data", source, "--force")
    assert r.returncode == 2, r.output
    assert "the output is an input of this job" in r.stderr and str(out) in r.stderr
    assert "Traceback" not in r.stderr
    assert digest(out) == before


@pytest.mark.parametrize(
    "bad,says",
    [
        ("", "the output path is empty"),
        ("{tmp}/afolder", "is a folder"),
        ("{tmp}/afile/x.h5", "is a file, not a folder"),
        ("/proc/x.h5", "cannot write to the output folder /proc"),
    ],
)
def test_an_unwritable_output_is_refused_before_compute(tmp_path, bad, says):
    (tmp_path / "afolder").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    out = bad.format(tmp=tmp_path)
    r = run(
        mpiexec_cmd(2, PY, "-m", "mpiapp.score", "--out", out, "--data", "synthetic:3", *ARGS), timeout=60
    )
    assert r.returncode == 2, r.output
    assert says in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "scan complete" not in r.stdout
    ours = [x for x in r.stderr.splitlines() if x.startswith("mpiapp score:")]
    assert len(ours) == 1 and says in ours[0], r.stderr


def test_bad_input_before_compute_leaves_no_partial_and_the_fixed_rerun_works(tmp_path):
    data = write_csvs(tmp_path / "csv")
    good = (data / "S1.csv").read_text()
    lines = good.splitlines()
    lines[50] = lines[50].split(",")[0] + ",null,null,null,null,null"  # a Yahoo-style empty row
    (data / "S1.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.h5"
    r = score(2, out, "--data", f"csv:{data}")
    assert r.returncode == 2, r.output
    assert "S1" in r.stderr and "Traceback" not in r.stderr
    assert not os.path.exists(f"{out}.partial") and not os.path.exists(out)
    (data / "S1.csv").write_text(good)
    r2 = score(2, out, "--data", f"csv:{data}")
    assert r2.returncode == 0, r2.output


def test_a_resume_over_changed_data_is_refused_naming_the_symbol(tmp_path):
    data = write_csvs(tmp_path / "csv", n=3, bars=900)
    out = tmp_path / "r.h5"
    job = Background(
        mpiexec_cmd(2, PY, FAULT, "--out", str(out), "--data", f"csv:{data}", *ARGS),
        env={"FAULT_KIND": "slow", "FAULT_SLEEP": "0.2"},
    )
    job.wait_for("SCANNING", 3)
    os.kill(job.pid, signal.SIGUSR1)
    code, _, err = job.wait(timeout=60)
    assert code == 75, err
    df = pd.read_csv(data / "S2.csv")
    df[["Open", "High", "Low", "Close"]] *= 1.01  # the same bars, other prices
    df.to_csv(data / "S2.csv", index=False)
    r = score(2, out, "--data", f"csv:{data}", "--resume")
    assert r.returncode == 2, r.output
    assert "the data of S2 changed since the interrupted run" in r.stderr
    assert os.path.exists(f"{out}.partial")  # kept: --force is the user's call


def _catches_usr1(pid) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = int(next(x for x in f if x.startswith("SigCgt:")).split()[1], 16)
    except (OSError, StopIteration):
        return False
    return bool(caught & (1 << (signal.SIGUSR1 - 1)))


def test_a_stop_signal_from_the_first_moment_ends_resumably(tmp_path):
    import psutil

    out = tmp_path / "r.h5"
    job = Background(
        mpiexec_cmd(2, PY, "-m", "mpiapp.score", "--out", str(out), "--data", "synthetic:4", *ARGS)
    )
    ranks, t0 = [], time.monotonic()
    while len(ranks) < 2 and time.monotonic() - t0 < 30:  # the ranks, as soon as they handle SIGUSR1
        ranks = [
            p.pid
            for p in psutil.Process(job.pid).children(recursive=True)
            if "mpiapp.score" in " ".join(p.cmdline()) and _catches_usr1(p.pid)
        ]
        time.sleep(0.005)
    assert len(ranks) == 2
    for pid in ranks:
        os.kill(pid, signal.SIGUSR1)
    code, _, err = job.wait(timeout=60)
    assert code == 75, err
    assert os.path.exists(f"{out}.partial") and not os.path.exists(out)
    r = score(1, out, "--data", "synthetic:4", "--resume")
    assert r.returncode == 0, r.output


def test_results_files_are_sized_to_their_data_and_any_name_reads_back(tmp_path):
    import shutil

    import h5py

    case = ROOT.parent / "shared" / "cases" / "faults" / "unicode-names"
    if not case.is_dir():
        pytest.skip("shared/cases not beside the checkout")
    data = tmp_path / "unicode"
    shutil.copytree(case, data)
    out = tmp_path / "u.h5"
    r = score(2, out, "--data", f"csv:{data}")
    assert r.returncode == 0, r.output
    from mpiapp import results

    names = set(results.load_table(out, "symbols")["name"])
    assert names == {"Börse_Stuttgart_DAX", "^GSPC", "日経225"}
    assert set(results.load(out)["symbol"]) <= names
    rep = run([PY, "-m", "mpiapp.report", str(out)], timeout=120)
    assert rep.returncode == 0 and "日経225" in rep.stdout, rep.output
    assert os.path.getsize(out) < 1 << 20

    # a symbol name of 5,000 characters (packed HDF5 source): the file grows by the name, not by
    # the name times a chunk of rows
    packed = tmp_path / "long.h5"
    assert (
        run([PY, "-m", "mpiapp.io.convert", f"csv:{data}", str(packed), "--packed"], timeout=120).returncode
        == 0
    )
    long_name = "Ж" + "x" * 4999
    with h5py.File(packed, "r+") as f:
        syms = [s.decode() if isinstance(s, bytes) else s for s in f["packed/symbols"][:]]
        syms[0] = long_name
        del f["packed/symbols"]
        f["packed"].create_dataset(
            "symbols", data=np.array(syms, dtype=object), dtype=h5py.string_dtype("utf-8")
        )
    out2 = tmp_path / "l.h5"
    r = score(2, out2, "--data", f"hdf5:{packed}")
    assert r.returncode == 0, r.output
    assert long_name in set(results.load_table(out2, "symbols")["name"])
    assert os.path.getsize(out2) < 1 << 20
