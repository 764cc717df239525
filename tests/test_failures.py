"""Failure paths of the runtime, each provoked in a real mpiexec (or singleton) subprocess."""

import h5py
import pytest

from conftest import PY, ROOT, leftovers, mpiexec_cmd, run

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
