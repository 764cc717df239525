"""The optbench job under mpiexec: same cells at any rank count, an interrupted grid resumed at another
rank count, the cell cache, the report, and failures that end with exit 2 and a message."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import psutil
import pytest

from conftest import PY, Background, mpiexec_cmd, run

GRID = [
    "--no-progress",
    "--problems",
    "lsq-k1e3-d30,logreg-d10",
    "--optimizers",
    "momentum,adam",
    "--backends",
    "numpy,torch",
    "--set",
    "optbench.batch_sizes=[0, 8]",
    "--set",
    "optbench.repeats=3",
    "--set",
    "optbench.max_iters=100",
    "--set",
    "optbench.checkpoints=20",
    "--set",
    "optbench.bootstrap=200",
    "--set",
    "runtime.threads_per_rank=1",
]  # one BLAS thread at every rank count: the same rounding
N_CELLS = 2 * 2 * 2 * 2 * 3
#: columns that must not depend on the rank count (times, memory and cache bookkeeping may)
SAME = (
    "problem",
    "optimizer",
    "backend",
    "step",
    "batch",
    "seed",
    "status",
    "n",
    "d",
    "L",
    "mu",
    "kappa",
    "kappa_measured",
    "f_star",
    "lr",
    "momentum",
    "parity_dev",
    "iterations",
    "f0_gap",
    "final_rel",
    "min_rel",
    "iters_to_0.001",
    "iters_to_1e-06",
    "state_multiple",
    "state_ok",
    "param_bytes",
    "state_bytes",
)
CURVE_SAME = (
    "problem",
    "optimizer",
    "backend",
    "step",
    "batch",
    "seed",
    "point",
    "iteration",
    "epoch",
    "subopt",
    "rel_subopt",
    "grad_norm",
    "test_loss",
)


def optbench(n, out, *extra, timeout=300):
    return run(mpiexec_cmd(n, PY, "-m", "mpiapp.optbench", "--out", str(out), *GRID, *extra), timeout=timeout)


def tables(path):
    from mpiapp.io.results import read_attrs, read_table

    return read_attrs(path), read_table(path, "cells"), read_table(path, "curves")


def assert_same_results(a, b):
    _, ca, ua = tables(a)
    _, cb, ub = tables(b)
    for c in SAME:
        assert np.array_equal(ca[c], cb[c], equal_nan=True), c
    for c in CURVE_SAME:
        assert np.array_equal(ua[c], ub[c], equal_nan=True), c


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid at -n 1 without the cache: the reference every other run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "ob.h5"
    r = optbench(1, out, "--set", "optbench.cache=false")
    assert r.returncode == 0, r.output
    return out


def test_grid_at_1_and_2_ranks_gives_the_same_cells(reference, tmp_path):
    out = tmp_path / "ob.h5"
    r = optbench(2, out, "--set", "optbench.cache=false")
    assert r.returncode == 0, r.output
    assert_same_results(reference, out)
    a, cells, curves = tables(out)
    assert a["job"] == "optbench" and a["ranks"] == 2 and len(cells["status"]) == N_CELLS
    # every cell's curve starts at w0 (relative suboptimality exactly 1) and is a single run:
    # iterations strictly increase along it
    for key in set(zip(*(cells[k] for k in ("problem", "optimizer", "backend", "batch", "seed")))):
        m = np.ones(len(curves["point"]), dtype=bool)
        for k, v in zip(("problem", "optimizer", "backend", "batch", "seed"), key):
            m &= curves[k] == v
        it = curves["iteration"][m][np.argsort(curves["point"][m])]
        assert it[0] == 0 and np.all(np.diff(it) > 0)
    # the summaries next to the file; the least-squares f* is the closed form ||eps||^2 / (2n)
    assert (tmp_path / "ob.md").exists() and (tmp_path / "ob.json").exists()
    from mpiapp.engines.optbench import problems

    p = problems.build("lsq-k1e3-d30", problems.BuildOptions())
    resid = p.X @ p.w_star - p.y
    assert np.all(cells["f_star"][cells["problem"] == 0] == p.f_star)
    assert abs(resid @ resid / (2 * p.n) - p.f_star) <= 1e-12 * p.f_star


def _ranks(launcher_pid):
    """The rank processes under an mpiexec (its descendants running the job)."""
    out = []
    try:
        kids = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.Error:
        return out
    for proc in kids:
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if "mpiapp.optbench" in cmd and "mpiexec" not in os.path.basename(cmd[0]):
            out.append(proc.pid)
    return out


def _cache_files(folder):
    return sum(1 for _ in folder.glob("*/*.json")) if folder.is_dir() else 0


def test_interrupted_grid_resumes_at_another_rank_count_then_the_cache_serves_a_rerun(reference, tmp_path):
    out = tmp_path / "ob.h5"
    cache = tmp_path / "ob.h5.cache"
    job = Background(
        mpiexec_cmd(
            2, PY, "-m", "mpiapp.optbench", "--out", str(out), *GRID, "--set", "work.commit_interval_s=0"
        )
    )
    t0 = time.monotonic()
    while _cache_files(cache) < 6 and job.proc.poll() is None and time.monotonic() - t0 < 240:
        time.sleep(0.05)
    pids = _ranks(job.pid)
    assert len(pids) == 2, (pids, "".join(job.err)[-2000:])
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    code, _, err = job.wait(timeout=120)
    assert code == 75, (code, err[-3000:])
    assert os.path.exists(f"{out}.partial") and not out.exists()
    import h5py

    with h5py.File(f"{out}.partial", "r") as f:
        done_before = int(np.sum(f["_state"][:, 0] == 1))
    assert 0 < done_before < N_CELLS

    r = optbench(1, out, "--resume")
    assert r.returncode == 0, r.output
    from mpiapp.io.results import read_table

    ran = int(read_table(out, "profile")["units"].sum())
    assert ran == N_CELLS - done_before  # only the missing cells ran again
    assert_same_results(reference, out)

    # a rerun reads every cacheable cell from the cache; diverged cells are never cached: rerun
    r = optbench(2, out, "--force")
    assert r.returncode == 0, r.output
    assert_same_results(reference, out)
    _, cells, _ = tables(out)
    diverged = cells["status"] == 2
    assert diverged.any(), "the grid should hold a diverged cell (heavy ball, mini-batch, least squares)"
    assert np.all(cells["cached"][~diverged] == 1) and np.all(cells["cached"][diverged] == 0)


def test_report_writes_the_figures(reference, tmp_path):
    r = run([PY, "-m", "mpiapp.report", str(reference), "--plot", str(tmp_path / "png")], timeout=180)
    assert r.returncode == 0, r.output
    names = sorted(os.listdir(tmp_path / "png"))
    assert names == [
        "curves_logreg-d10.png",
        "curves_lsq-k1e3-d30.png",
        "memory.png",
        "profile.png",
        "time_to_target.png",
    ]
    assert "## Time to relative suboptimality 0.001" in r.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--problems", "lsq-k1e3-d30,nosuch"], "unknown problem 'nosuch'"),
        (["--problems", "california", "--data-dir", "/nonexistent"], "california_housing.csv"),
        (["--backends", "numpy,cupy"], "CuPy sees no GPU"),
        (["--set", "optbench.targets=[0.5, 2]"], "optbench.targets"),
        (["--set", "optbench.adam_betas=[0.9]"], "optbench.adam_betas = [0.9]: expected two numbers"),
    ],
)
def test_bad_grid_is_exit_2_with_a_message(tmp_path, args, message):
    if "cupy" in args[1]:
        from mpiapp.engines.optbench.backends import cupy_usable

        if cupy_usable():
            pytest.skip("a GPU is present")
    r = run(
        mpiexec_cmd(2, PY, "-m", "mpiapp.optbench", "--out", str(tmp_path / "x.h5"), "--no-progress", *args),
        timeout=120,
    )
    assert r.returncode == 2, r.output
    assert message in r.stderr
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.h5.partial").exists()


def test_help_is_fast_and_imports_no_heavy_library():
    code = (
        "import sys, mpiapp.optbench as j; a = j.parse(['--problems', 'a, b', '--backends', 'numpy']);"
        "assert a.problems == '[a, b]' and a.backends == '[numpy]', a;"
        "assert not {'torch', 'cupy', 'jax', 'sklearn', 'mpi4py'} & set(sys.modules), sorted(sys.modules)"
    )
    r = run([sys.executable, "-c", code], timeout=60)
    assert r.returncode == 0, r.output
