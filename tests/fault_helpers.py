"""Helpers of the fault tests (tests/test_faults_*.py): one job under mpiexec in a folder, the one
line it says, and the digests of the files a user gave (which must come back byte-identical)."""

from __future__ import annotations

import hashlib
import os

import pandas as pd

from conftest import PY, ROOT, mpi_env, mpiexec_cmd, run

HPO_OBJ = str(ROOT / "tests" / "progs" / "hpo_objectives.py")
#: a small, fast ddp run (its feature store is built from whatever --data gives)
DDP = [
    "--set",
    "ddp.hidden=[8]",
    "--set",
    "ddp.batch_size=64",
    "--set",
    "ddp.max_steps=2",
    "--set",
    "ddp.precision=fp32",
    "--set",
    "ddp.warmup_steps=1",
    "--no-progress",
]
#: a small optbench grid on the NumPy backend only (no torch import)
OPT = [
    "--problems",
    "logreg-d10",
    "--optimizers",
    "sgd,adam",
    "--backends",
    "numpy",
    "--set",
    "optbench.repeats=1",
    "--set",
    "optbench.batch_sizes=[0]",
    "--set",
    "optbench.max_iters=50",
    "--no-progress",
]
HPO = ["--objective", f"{HPO_OBJ}:quad", "--trials", "4"]


def job(name: str, n: int, *args, cwd=None, env=None, timeout=240, prog=None):
    """`mpiexec -n N python -m mpiapp.NAME ARGS` (or a test program) run in `cwd`."""
    head = [PY, prog] if prog else [PY, "-m", f"mpiapp.{name}"]
    return run(mpiexec_cmd(n, *head, *args), timeout=timeout, env=mpi_env(env), cwd=cwd or ROOT)


def said(r, name: str) -> str:
    """The one `mpiapp NAME: ...` line of a run (asserting there is exactly one, and no traceback)."""
    lines = [x for x in r.stderr.splitlines() if x.startswith(f"mpiapp {name}:")]
    assert len(lines) == 1, r.output[-3000:]
    assert "Traceback" not in r.output, r.output[-3000:]
    return lines[0]


def digests(*paths) -> dict:
    """{path: sha256} of files, and of every file under folders (None for a missing path)."""
    out = {}
    for p in paths:
        p = str(p)
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for nm in names:
                    q = os.path.join(root, nm)
                    out[q] = hashlib.sha256(open(q, "rb").read()).hexdigest()
        else:
            out[p] = hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.exists(p) else None
    return out


def write_csvs(folder, n=3, bars=700, seed=7):
    """n seeded synthetic symbols S0..S{n-1} as CSV files in `folder`."""
    from mpiapp.io import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s, _ = synthetic.generate(seed, i, bars, 1.0, 0.1, n)
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


def edit_close(path, row=300, factor=1.001) -> None:
    """Change one close price of a CSV file (the same bars, another price)."""
    df = pd.read_csv(path)
    df.loc[row, "Close"] = df.loc[row, "Close"] * factor
    df.loc[row, "High"] = max(df.loc[row, "High"], df.loc[row, "Close"])
    df.to_csv(path, index=False)


def mpiapp_file(path, job_name: str) -> None:
    """An HDF5 file that says it is a results file of `job_name` (what the output claim reads)."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f.attrs["job"] = job_name
        f.attrs["status"] = "complete"
        f.create_dataset("patterns/score", data=np.arange(5.0))
