"""Shared by the benchmarks: re-run a script under mpiexec when it was started without one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def ensure_mpiexec(n: int, script: str, argv: list[str]) -> None:
    """If not already under a launcher, run `mpiexec -n n python script argv` and exit with its code."""
    if os.environ.get("OMPI_COMM_WORLD_SIZE") or os.environ.get("PMI_SIZE") or os.environ.get("PMIX_RANK"):
        return
    cmd = [shutil.which("mpiexec") or "mpiexec", "-n", str(n), sys.executable, script, *argv]
    env = dict(
        os.environ,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
    )
    print("+ " + " ".join(cmd), flush=True)
    sys.exit(subprocess.call(cmd, env=env))
