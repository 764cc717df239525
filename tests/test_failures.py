"""Failure paths of the runtime, each provoked in a real mpiexec (or singleton) subprocess."""

import os

import h5py
import pytest

from conftest import PY, ROOT, leftovers, mpi_env, mpiexec_cmd, run
from mpiapp.__main__ import JOBS

PROG = str(ROOT / "tests" / "progs" / "fail.py")


@pytest.mark.parametrize("n,fail_rank", [(4, 1), (2, 0), (1, 0)])
def test_a_rank_that_raises_ends_the_job_quickly(tmp_path, n, fail_rank):
    r = run(mpiexec_cmd(n, PY, PROG, str(fail_rank), str(tmp_path)), timeout=60)
    assert r.returncode != 0
    assert r.seconds <= 10, f"took {r.seconds:.1f}s"
    assert f"[mpiapp rank {fail_rank}/{n}] Traceback (most recent call last):" in r.stderr, r.output
    assert f"[mpiapp rank {fail_rank}/{n}] RuntimeError: deliberate failure in step 3" in r.stderr
    assert "in step" in r.stderr and "fail.py" in r.stderr  # the frame of the failing call is shown
    assert "finished" not in r.stdout
    assert leftovers(r.pgid) == []
    with h5py.File(tmp_path / f"rank{fail_rank}.h5", "r") as f:  # closed before the abort
        assert list(f["written_before_failure"][:]) == list(range(10))


def test_singleton_without_launcher(tmp_path):
    r = run([PY, PROG, "0", str(tmp_path)], timeout=60)
    assert r.returncode != 0
    assert r.seconds <= 10
    assert "[mpiapp rank 0/1] RuntimeError: deliberate failure in step 3" in r.stderr, r.output
    assert leftovers(r.pgid) == []


def test_no_failure_means_exit_zero(tmp_path):
    r = run(mpiexec_cmd(2, PY, PROG, "-1", str(tmp_path)), timeout=60)
    assert r.returncode == 0, r.output
    assert r.stdout.count("finished") == 2


MPI_JOBS = sorted(j for j, info in JOBS.items() if info.mpi)
#: the flags every job that writes results takes (cli.parser)
SHARED = ("--config", "--set", "--out", "--resume", "--force", "--progress", "--no-progress", "--profile")


@pytest.mark.parametrize("job", MPI_JOBS)
def test_a_config_error_is_said_once_not_once_per_rank(tmp_path, job):
    out = ["--out", str(tmp_path / "x.h5")] if JOBS[job].resume else []
    r = run(mpiexec_cmd(2, PY, "-m", f"mpiapp.{job}", "--set", "scan.top_k=-3", *out), timeout=120)
    assert r.returncode == 2, r.output
    lines = [x for x in r.stderr.splitlines() if "config error" in x]
    assert len(lines) == 1 and "scan.top_k" in lines[0] and lines[0].startswith(f"mpiapp {job}:"), r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("job", sorted(j for j, info in JOBS.items() if info.resume))
def test_every_job_lists_the_shared_flags(job):
    import subprocess

    r = subprocess.run(
        [PY, "-m", f"mpiapp.{job}", "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    missing = [f for f in SHARED if f not in r.stdout.split()]
    assert not missing, (job, missing)


def test_an_interpreter_without_mpi4py_gets_one_line_and_exit_2(tmp_path):
    # an mpi4py that cannot be imported first on the path: what a Python without it does
    fake = tmp_path / "shadow" / "mpi4py"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named mpi4py (test shadow)')\n")
    env = mpi_env()
    env["PYTHONPATH"] = f"{tmp_path / 'shadow'}{os.pathsep}{ROOT}"
    r = run(mpiexec_cmd(2, PY, "-m", "mpiapp.score", "--out", str(tmp_path / "x.h5")), timeout=120, env=env)
    assert r.returncode == 2, r.output
    lines = [x for x in r.stderr.splitlines() if "mpi4py is not importable" in x]
    assert len(lines) == 1 and ".venv/bin/python" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
