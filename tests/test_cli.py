"""The CLIs start light: --help never imports torch, cupy, lightgbm, xgboost, optuna, numba, h5py or MPI.

(What makes --help slow is importing those; the check is on the modules, not on the clock.)"""

import subprocess

import pytest

from conftest import PY, ROOT

HEAVY = ("torch", "cupy", "lightgbm", "xgboost", "optuna", "numba", "h5py", "mpi4py.MPI")


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "mpiapp", "--help"],
        ["-m", "mpiapp", "info", "--help"],
        ["-m", "mpiapp.score", "--help"],
        ["-m", "mpiapp.report", "--help"],
        ["-m", "mpiapp.info", "--help"],
        ["-m", "mpiapp.launch", "--help"],
        ["-m", "mpiapp.config", "--help"],
        ["-m", "mpiapp.hpo", "--help"],
    ],
)
def test_help_is_fast_and_light(argv):
    probe = (
        "import runpy, sys; sys.argv = {argv!r};\n"
        "try:\n    runpy.run_module({mod!r}, run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules))"
    ).format(argv=["x"] + argv[2:], mod=argv[1], heavy=HEAVY)
    out = subprocess.run([PY, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("HEAVY="), out.stdout[-300:]


def test_unknown_job_is_an_error():
    out = subprocess.run([PY, "-m", "mpiapp", "nosuchjob"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "unknown job 'nosuchjob'" in out.stderr


def test_console_script_dispatches():
    exe = ROOT / ".venv" / "bin" / "mpiapp"
    if not exe.exists():
        pytest.skip("console script not installed in .venv")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "info" in out.stdout


def test_every_listed_job_has_a_module_with_main():
    import importlib

    from mpiapp.__main__ import JOBS

    for job in JOBS:
        assert callable(importlib.import_module(f"mpiapp.{job}").main), job


def test_exit_process_flushes_runs_atexit_and_keeps_the_code():
    """The jobs' fast exit (runtime.comm.exit_process) skips only the interpreter's teardown: piped
    output arrives, atexit handlers run, MPI is finalised, the exit code is the job's."""
    prog = (
        "import atexit, sys\n"
        "from mpiapp.runtime import comm\n"
        "MPI = comm.mpi()\n"
        "atexit.register(lambda: print('atexit ran', MPI.Is_finalized()))\n"
        "print('summary', end=' ')\n"
        "sys.stderr.write('to stderr')\n"
        "comm.exit_process(75)\n"
        "print('never')\n"
    )
    r = subprocess.run([PY, "-c", prog], capture_output=True, text=True, timeout=120)
    assert r.returncode == 75, r.stderr
    assert r.stdout == "summary atexit ran False\n" and r.stderr == "to stderr"
