"""`mpiapp.results.load(path)` reads every job's file by the default table its JOBS entry names (read
back here with h5py, not through the code under test)."""

import h5py
import pytest

from fault_helpers import DDP, HPO, OPT, job

RUNS = {  # job -> (a quick run, the table results.load must return)
    "score": (["--data", "synthetic:2", "--no-progress", "--set", "scan.window_bars=300"], "patterns"),
    "train": (["--data", "synthetic:2", "--families", "lgbm", "--no-progress"], "metrics"),
    "optbench": (OPT, "summary"),
    "hpo": (HPO, "trials"),
    "ddp": (["--data", "synthetic:2", *DDP], "epochs"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_results_load_reads_each_jobs_default_table(tmp_path, name):
    from mpiapp import results
    from mpiapp.__main__ import JOBS

    args, table = RUNS[name]
    out = tmp_path / "r.h5"
    r = job(name, 2, *args, "--out", str(out))
    assert r.returncode == 0, r.output
    assert JOBS[name].table == table
    df = results.load(str(out))
    with h5py.File(out, "r") as f:
        g = f[table]
        n = len(g[list(g.keys())[0]])
        cols = set(g.keys())
    assert len(df) == n
    assert cols <= set(df.columns) | {"symbol"}, (cols, list(df.columns))
