"""Plain srun steps and the rendered sbatch scripts on a real one-node Slurm (slurm/run_slurm_test.py, ~45 s).

Brings up munged + slurmctld + slurmd from Debian's packages under a temporary folder (free ports, not
6817/6818), submits `python -m mpiapp.launch` scripts, and tears everything down by PID. Skips, with
the reason, where Slurm is missing and cannot be installed (not root, no apt-get, or
MPIAPP_SLURM_INSTALL=0).

- srun -n 2 tests/progs/fail.py 1: rank 1 raises while rank 0 waits in an allreduce -> the step ends
  non-zero within 10 s, stderr has the `[mpiapp rank 1/2]` traceback, no task of the job is left;
- srun -n 2 python -m mpiapp info --json: one size-2 job (per_rank rows for ranks 0 and 1), h5py_mpi;
- job A: srun with 2 ranks (MpiDefault=pmix): one size-2 job (results attrs ranks == 2), each rank
  bound to its own core by --cpu-bind=cores;
- job B (srun): SIGUSR1 to the step mid-run (what --signal=USR1@T does) -> ranks commit and exit 75 ->
  the script requeues itself -> the requeued run resumes -> tables equal to job A's, column for column;
- job C (mpirun inside the allocation): SIGUSR1 to the batch shell only (--signal=B:USR1@T) -> the
  script's trap forwards it to mpirun -> same requeue, resume and identical tables.
"""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "slurm"))
import run_slurm_test  # noqa: E402

pytestmark = pytest.mark.slow


def test_rendered_sbatch_runs_2_ranks_and_resumes_after_preemption(capsys):
    import os

    try:
        timings = run_slurm_test.scenario(
            ("steps", "srun", "mpirun"), allow_install=os.environ.get("MPIAPP_SLURM_INSTALL", "1") != "0"
        )
    except run_slurm_test.Skipped as exc:
        pytest.skip(str(exc))
    except run_slurm_test.Failed as exc:
        pytest.fail(str(exc), pytrace=False)
    with capsys.disabled():
        print("\n  slurm timings: " + "  ".join(f"{k}={v:.1f}s" for k, v in timings.items()))
