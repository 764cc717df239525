"""The launch kit against a real Slurm: rendered sbatch scripts, srun with 2 ranks, preemption + requeue.

    python tests/slurm/run_slurm_test.py                 # both scenarios; prints timings; exit 0 = pass
    python tests/slurm/run_slurm_test.py srun            # one scenario: srun | mpirun
    python tests/slurm/run_slurm_test.py --keep srun     # leave the cluster and files up for a look

Scenario `srun` (the default sbatch script): job A is a plain score run (2 ranks through srun --mpi=pmix);
job B is the same run slowed down per work unit, sent SIGUSR1 mid-run with `scancel -s USR1` (what
`--signal=USR1@T` does at the warning time: every task of the step gets it). B's ranks commit and exit
75, the script requeues the job, the requeued run resumes OUT.partial and must end with tables equal,
column for column, to A's.
Scenario `mpirun` (--launcher mpirun): the same slowed run under Open MPI's mpirun inside the
allocation, signalled through the batch shell only (`scancel -b -s USR1`, what --signal=B:USR1@T
does): the script's trap forwards it to mpirun, which forwards it to every rank; requeue, resume, same tables.

Needs root and Debian's slurmctld/slurmd/slurm-client/munge (installed with apt-get when missing,
unless MPIAPP_SLURM_INSTALL=0). Exit 0 pass, 1 fail, 77 skipped (the reason is printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from local_slurm import LocalSlurm, ensure_installed  # noqa: E402

PY = sys.executable
FAULT = ROOT / "tests" / "progs" / "score_fault.py"
SKIP = 77
# the small scan of tests/test_score_job.py, on 8 symbols: 40 work units of 5 windows
SCORE_ARGS = ["--data", "synthetic:8", "--no-progress", "--set", "data.synthetic_bars=900",
              "--set", "scan.window_bars=300", "--set", "scan.max_windows=24",
              "--set", "score.unit_windows=5", "--set", "score.commit_interval_s=0.2"]  # fmt: skip
# every scanned unit sleeps 0.2 s (~20 per rank: ~4 s of scanning), so a signal sent as soon as both
# ranks scan lands mid-scan, and the resumed run is short
SLOW = {"FAULT_KIND": "slow", "FAULT_SLEEP": "0.2"}


class Failed(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def render(slurm: LocalSlurm, work: Path, name: str, *extra, program=None) -> Path:
    """The script, rendered by the real CLI exactly as a user would."""
    script = work / f"{name}.sbatch"
    cmd = [PY, "-m", "mpiapp.launch", "--name", name, "--script", str(script), "--partition", slurm.partition,
           "--cores-per-node", str(slurm.cpus), "--ranks-per-node", "2", "--threads-per-rank", "1",
           "--time", "00:10:00", "--signal-seconds", "60", "--log-dir", str(work / "logs"),
           "--out", str(work / f"{name}.h5"), *extra]  # fmt: skip
    if program:
        cmd += ["--program", str(program)]
    r = subprocess.run(cmd + ["--", *SCORE_ARGS], capture_output=True, text=True, cwd=work, timeout=60)
    check(r.returncode == 0, f"rendering failed: {r.stderr}")
    return script


def log_of(work: Path, name: str, jobid: int, ext: str) -> str:
    p = work / "logs" / f"{name}-{jobid}.{ext}"
    return p.read_text(errors="replace") if p.exists() else ""


def tables(path):
    from mpiapp.io.results import read_table

    return {t: read_table(path, t) for t in ("patterns", "windows", "symbols")}


def attrs(path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def same_tables(a, b) -> None:
    for t in a:
        check(a[t].keys() == b[t].keys(), f"table {t}: columns differ")
        for c in a[t]:
            check(np.array_equal(a[t][c], b[t][c]), f"table {t} column {c} differs")


def wait_for(cond, timeout: float, what: str, every: float = 0.2):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")


def run_reference(slurm: LocalSlurm, work: Path, timings: dict) -> dict:
    """Job A: an uninterrupted 2-rank run through srun; its results are the reference."""
    t0 = time.monotonic()
    script = render(slurm, work, "ref", "--report-bindings")
    jid = slurm.sbatch(script)
    info = slurm.wait_job(jid, timeout=120)
    out, err = log_of(work, "ref", jid, "out"), log_of(work, "ref", jid, "err")
    check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
          f"job A: {info.get('JobState')} exit {info.get('ExitCode')}\n{out}\n{err}")  # fmt: skip
    h5 = work / "ref.h5"
    a = attrs(h5)
    check(
        int(a.get("ranks", 0)) == 2,
        f"job A: results written by {a.get('ranks')} rank(s), expected one size-2 job",
    )
    check("on 2 rank(s)" in out, f"job A: the summary does not say 2 ranks\n{out}")
    # srun --cpu-bind=verbose,cores: each task reports its own mask (task/affinity binds them)
    masks = sorted(
        set(
            line.split("mask ")[1].split()[0]
            for line in err.splitlines()
            if "cpu-bind" in line and "mask " in line
        )
    )
    check(
        len(masks) == 2,
        f"job A: expected two different CPU masks from --cpu-bind=verbose, got {masks}\n{err}",
    )
    timings["job_a_s"] = time.monotonic() - t0
    return tables(h5)


def run_preempted(slurm: LocalSlurm, work: Path, reference: dict, launcher: str, timings: dict) -> None:
    """Job B: slowed, signalled mid-run, requeued by its own script, resumed; same tables as job A."""
    t0 = time.monotonic()
    name = f"pre-{launcher}"
    script = render(slurm, work, name, "--launcher", launcher, program=FAULT)
    # Open MPI 4.1's mpirun returns ~1-2 x odls_base_sigkill_timeout after the first rank exits 75 (the
    # scripts' default is 10 s): 2 s keeps this test short; the value is not what is under test
    jid = slurm.sbatch(script, env={**SLOW, "OMPI_MCA_odls_base_sigkill_timeout": "2"})

    def scanning():  # both ranks are inside the scan loop
        text = log_of(work, name, jid, "out")
        ranks = {
            line.split("rank=")[1].split()[0] for line in text.splitlines() if line.startswith("SCANNING")
        }
        return len(ranks) == 2

    try:
        wait_for(scanning, 90, f"job {jid} ({name}) to scan on both ranks")
    except Failed as exc:
        raise Failed(
            f"{exc}\n--- out\n{log_of(work, name, jid, 'out')}\n--- err\n{log_of(work, name, jid, 'err')}"
        ) from None
    time.sleep(1.5)  # ~7 of each rank's ~20 units done: at least 2.5 s of scanning left (slower when loaded)
    if launcher == "srun":  # like --signal=USR1@T: to every task of every step, not to the batch shell
        slurm._run("scancel", "-s", "USR1", str(jid))
    else:  # like --signal=B:USR1@T: to the batch shell only; its trap forwards to mpirun
        slurm._run("scancel", "-b", "-s", "USR1", str(jid))
    t_sig = time.monotonic()
    info = slurm.wait_job(
        jid, states=("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"), timeout=120
    )
    out, err = log_of(work, name, jid, "out"), log_of(work, name, jid, "err")
    both = f"--- out\n{out}\n--- err\n{err}"
    check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
          f"job {name}: {info.get('JobState')} exit {info.get('ExitCode')}\n{both}")  # fmt: skip
    check(
        int(info.get("Restarts", 0)) >= 1,
        f"job {name}: never requeued (Restarts={info.get('Restarts')})\n{both}",
    )
    check("stopped by SIGUSR1" in err, f"job {name}: the ranks did not report the stop\n{both}")
    check("requeueing job" in err, f"job {name}: the script did not requeue itself\n{both}")
    check("resuming" in err, f"job {name}: the requeued run did not resume\n{both}")
    if launcher == "mpirun":
        check(
            "got SIGUSR1; passing it to the launcher" in err, f"job {name}: the trap did not forward\n{both}"
        )
    h5 = work / f"{name}.h5"
    check(h5.exists() and not Path(f"{h5}.partial").exists(), f"job {name}: no complete results file\n{both}")
    a = attrs(h5)
    check(int(a.get("ranks", 0)) == 2, f"job {name}: results written by {a.get('ranks')} rank(s)")
    same_tables(reference, tables(h5))
    timings[f"job_{name}_s"] = time.monotonic() - t0
    timings[f"job_{name}_signal_to_done_s"] = time.monotonic() - t_sig


def scenario(which=("srun", "mpirun"), keep: bool = False, allow_install: bool = True) -> dict:
    """Run the scenarios; returns timings. Raises Failed on a wrong result, SlurmError on a broken cluster."""
    why = ensure_installed(allow_install)
    if why:
        raise Skipped(why)
    timings: dict = {}
    t0 = time.monotonic()
    slurm = LocalSlurm()
    try:
        slurm.start()
        timings.update(slurm.timings)
        work = slurm.root / "jobs"
        os.chmod(work, 0o755)
        reference = run_reference(slurm, work, timings)
        for launcher in which:
            run_preempted(slurm, work, reference, launcher, timings)
    finally:
        if keep:
            print(f"kept: export SLURM_CONF={slurm.conf}   (files in {slurm.root})\n"
                  f"stop: python -c \"import sys; sys.path.insert(0, '{HERE}'); import local_slurm; "
                  f"local_slurm.LocalSlurm.attach('{slurm.root}').stop()\"")  # fmt: skip
        else:
            slurm.stop()
            timings["teardown_s"] = slurm.timings.get("teardown_s", 0.0)
            left = slurm.ours()
            if left:
                raise Failed(f"processes left behind after teardown: {left}")
            import shutil

            shutil.rmtree(slurm.root, ignore_errors=True)
    timings["total_s"] = time.monotonic() - t0
    return timings


class Skipped(Exception):
    pass


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    keep = "--keep" in argv
    which = tuple(a for a in argv if a in ("srun", "mpirun")) or ("srun", "mpirun")
    try:
        timings = scenario(which, keep=keep, allow_install=os.environ.get("MPIAPP_SLURM_INSTALL", "1") != "0")
    except Skipped as exc:
        print(f"SKIPPED: {exc}")
        return SKIP
    except Failed as exc:
        print(f"FAILED: {exc}")
        return 1
    print("PASSED " + "  ".join(f"{k}={v:.1f}" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
