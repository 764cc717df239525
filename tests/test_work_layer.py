"""The work layer on its own: a job built only from it (tests/progs/squares_job.py) at 1, 2 and 4 ranks.

Its answer is known in closed form (sum of k^2 over each unit's range), so every layout, a stop by
signal, a killed rank and a resume at another rank count are checked against it, not against a
reference run.
"""

import os
import signal
import time

import numpy as np
import pytest

from conftest import PY, ROOT, Background, exited, leftovers, mpiexec_cmd, run

JOB = str(ROOT / "tests" / "progs" / "squares_job.py")
BASE = ["--no-progress", "--set", "work.commit_interval_s=0.1"]


def squares(n, out, *extra, timeout=120):
    return run(mpiexec_cmd(n, PY, JOB, "--out", str(out), *BASE, *extra), timeout=timeout)


def expected(units=24) -> dict:
    lo = 1000 * np.arange(units)
    hi = lo + 1000 + 37 * np.arange(units)
    s = np.array([sum(k * k for k in range(a, b)) for a, b in zip(lo, hi)])  # plain Python integers
    return {"unit": np.arange(units), "lo": lo, "hi": hi, "sum": s}


def check(path, units=24, resumed=False):
    from mpiapp.io.results import read_attrs, read_table

    t = read_table(path, "sums")
    want = expected(units)
    for c in want:
        assert np.array_equal(t[c], want[c]), c
    a = read_attrs(path)
    assert a["status"] == "complete" and a["job"] == "squares"
    prof = read_table(path, "profile")
    if resumed:  # the profile is the resumed run's: some units were done before it
        assert 0 < prof["units"].sum() <= units
    else:
        assert prof["units"].sum() == units and prof["numbers"].sum() == want["hi"].sum() - want["lo"].sum()
    assert not os.path.exists(f"{path}.partial") and not os.path.exists(f"{path}.lock")


@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("partition", ["static", "dynamic"])
def test_same_answer_at_any_rank_count(tmp_path, n, partition):
    out = tmp_path / "s.h5"
    r = squares(n, out, "--partition", partition)
    assert r.returncode == 0, r.output
    check(out)


@pytest.mark.parametrize("counter", ["rma", "messages"])
def test_claims_are_answered_while_rank_0_computes(tmp_path, counter):
    """Rank 0 keeps its interpreter busy 2 s in each of its units; rank 1's units take 0.01 s. A claim
    that waited for rank 0's unit to end would leave rank 0 about half of the 40 units; answered at once,
    rank 1 runs the other 39 during rank 0's first (one commit at the end: commits wait for units)."""
    out = tmp_path / "s.h5"
    r = run(
        mpiexec_cmd(
            2,
            PY,
            JOB,
            "--out",
            str(out),
            "--no-progress",
            "--partition",
            "dynamic",
            "--units",
            "40",
            "--delay",
            "0.01",
            "--rank0-busy",
            "2",
            "--set",
            "work.commit_interval_s=600",
            "--set",
            f"runtime.work_counter={counter}",
        ),
        timeout=180,
    )
    assert r.returncode == 0, r.output
    check(out, units=40)
    from mpiapp.io.results import read_attrs, read_table

    assert read_attrs(out)["work_counter"] == counter
    units = read_table(out, "profile")["units"].tolist()
    assert units[0] <= 2 and units[1] >= 38, units


def test_progress_bar_counts_every_rank_with_messages(tmp_path):
    out = tmp_path / "s.h5"
    r = squares(2, out, "--progress", "--partition", "static", "--set", "runtime.work_counter=messages")
    assert r.returncode == 0, r.output
    bars = [x for x in r.stderr.replace("\r", "\n").splitlines() if x.startswith("squares:")]
    assert bars and "24/24" in bars[-1], r.stderr  # the last state of the bar: every rank's units
    check(out)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_units_fed_in_rounds(tmp_path, n):
    out = tmp_path / "s.h5"
    r = squares(n, out, "--rounds", "5", "--partition", "dynamic")
    assert r.returncode == 0, r.output
    check(out)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_a_raising_unit_ends_the_job_with_its_traceback(tmp_path, n):
    out = tmp_path / "s.h5"
    # a hang would hit the timeout; the abort itself takes well under a second after the raise
    r = squares(n, out, "--raise-unit", "5", "--delay", "0.05", timeout=60)
    assert r.returncode == 1, r.output
    assert "RuntimeError: unit 5 raised on purpose" in r.stderr
    assert "Traceback (most recent call last)" in r.stderr
    assert os.path.exists(f"{out}.partial") and not os.path.exists(out)
    assert leftovers(r.pgid) == []
    r2 = squares(2 if n != 2 else 1, out, "--resume")
    assert r2.returncode == 0, r2.output
    check(out, resumed=True)


@pytest.mark.parametrize("n,n_resume", [(1, 2), (2, 4), (4, 1)])
def test_sigterm_stops_every_rank_with_75_and_resumes_at_another_rank_count(tmp_path, n, n_resume):
    out = tmp_path / "s.h5"
    job = Background(mpiexec_cmd(n, PY, JOB, "--out", str(out), *BASE, "--delay", "0.15"))
    pids = job.wait_for("UNIT", n)
    for pid in pids:  # each rank gets the signal (as srun or Slurm deliver it)
        os.kill(pid, signal.SIGTERM)
    code, _, err = job.wait(timeout=60)
    assert code == 75, (code, err)
    assert err.count("stopped by SIGTERM") == 1 and "rerun with --resume" in err
    assert all(exited(p) for p in pids)
    assert os.path.exists(f"{out}.partial") and not os.path.exists(out)
    r = squares(n_resume, out, "--resume")
    assert r.returncode == 0, r.output
    check(out, resumed=True)


def test_sigkill_of_one_rank_ends_the_job_and_resume_completes(tmp_path):
    out = tmp_path / "s.h5"
    job = Background(mpiexec_cmd(2, PY, JOB, "--out", str(out), *BASE, "--delay", "0.15"))
    pids = sorted(job.wait_for("UNIT", 2))
    time.sleep(0.4)  # a commit or two
    os.kill(pids[1], signal.SIGKILL)
    code, _, err = job.wait(timeout=60)
    assert code != 0
    assert os.path.exists(f"{out}.partial")
    r = squares(4, out, "--resume")
    assert r.returncode == 0, r.output
    check(out, resumed=True)


def test_contiguous_blocks_cover_every_item_once_balanced_by_weight():
    from mpiapp.work.finalize import contiguous_blocks

    w = [5, 5, 5, 5, 0, 0]  # two trailing items without rows (e.g. symbols skipped at the index)
    assert contiguous_blocks(w, 2) == [0, 2, 6]
    assert contiguous_blocks(w, 4) == [0, 1, 2, 3, 6]
    b = contiguous_blocks([1, 1, 10], 3)
    assert b[0] == 0 and b[-1] == 3 and all(x <= y for x, y in zip(b, b[1:]))
    assert contiguous_blocks([3, 3], 4)[-1] == 2 and contiguous_blocks([], 3) == [0, 0, 0, 0]
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.integers(1, 100, rng.integers(20, 200))
        b = contiguous_blocks(w, 4)
        share = [w[x:y].sum() / w.sum() for x, y in zip(b, b[1:])]
        assert max(share) <= 0.25 + w.max() / w.sum()  # one item's weight at most over the even share
