"""Runs tests/mpi/ under mpiexec at 1, 2 and 4 ranks (4 oversubscribed on a 2-core machine)."""

import pytest

from conftest import PY, mpiexec_cmd, run


@pytest.mark.parametrize("n", [1, 2, 4])
def test_mpi_suite(n):
    cmd = mpiexec_cmd(
        n,
        PY,
        "-m",
        "mpi4py",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "tests/mpi",
    )
    r = run(cmd, timeout=600)
    assert r.returncode == 0, f"mpiexec -n {n} tests/mpi failed:\n{r.output[-6000:]}"
    assert " passed" in r.output and " failed" not in r.output
