"""The launch kit against a real Slurm: rendered sbatch scripts, srun with 2 ranks, preemption + requeue.

    python tests/slurm/run_slurm_test.py                 # all scenarios; prints timings; exit 0 = pass
    python tests/slurm/run_slurm_test.py srun            # some scenarios: steps | srun | mpirun
    python tests/slurm/run_slurm_test.py --keep srun     # leave the cluster and files up for a look

Scenario `steps` (plain `srun -n 2 --mpi=pmix`, no sbatch): tests/progs/fail.py with rank 1 raising while
rank 0 waits in an allreduce must end the step non-zero within 10 s of the rank-prefixed traceback, with
no task of the job left; `python -m mpiapp info --json` must show one size-2 job with parallel h5py.
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
from local_slurm import LocalSlurm, _alive, ensure_installed  # noqa: E402

PY = sys.executable
FAULT = ROOT / "tests" / "progs" / "score_fault.py"
SKIP = 77
# the small scan of tests/test_score_job.py, on 8 symbols: 40 work units of 5 windows
SCORE_ARGS = [
    "--data",
    "synthetic:8",
    "--no-progress",
    "--set",
    "data.synthetic_bars=900",
    "--set",
    "scan.window_bars=300",
    "--set",
    "scan.max_windows=24",
    "--set",
    "work.unit_size=5",
    "--set",
    "work.commit_interval_s=0.2",
]
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
    cmd = [
        PY,
        "-m",
        "mpiapp.launch",
        "--name",
        name,
        "--script",
        str(script),
        "--partition",
        slurm.partition,
        "--cores-per-node",
        str(slurm.cpus),
        "--ranks-per-node",
        "2",
        "--threads-per-rank",
        "1",
        "--time",
        "00:10:00",
        "--signal-seconds",
        "60",
        "--log-dir",
        str(work / "logs"),
        "--out",
        str(work / f"{name}.h5"),
        *extra,
    ]
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
            check(
                np.array_equal(a[t][c], b[t][c], equal_nan=a[t][c].dtype.kind == "f"),
                f"table {t} column {c} differs",
            )


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
    check(
        info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
        f"job A: {info.get('JobState')} exit {info.get('ExitCode')}\n{out}\n{err}",
    )
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
    check(
        info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
        f"job {name}: {info.get('JobState')} exit {info.get('ExitCode')}\n{both}",
    )
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


def srun_step(slurm: LocalSlurm, name: str, *cmd, watch: str | None = None, timeout: float = 60) -> dict:
    """`srun -n 2 --mpi=pmix CMD` straight against the test cluster (an allocation of its own), watched.

    Returns rc, out, err, seconds (srun's wall time), t_end, t_watch (when `watch` first showed on
    stderr, None if never), tasks ({pid: cmdline} of the step's tasks, seen by polling /proc for a
    marker variable srun hands on to them) and jobid (from the tasks' SLURM_JOB_ID, None if none seen).
    """
    import threading

    marker = f"{name}-{os.getpid()}-{time.monotonic_ns()}"
    argv = ["srun", "-n", "2", "--mpi=pmix", "-J", name, *map(str, cmd)]
    t0 = time.monotonic()
    p = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=slurm.env({"MPIAPP_STEP": marker}),
    )
    out: list = []
    err: list = []
    t_watch: list = []

    def pump(stream, buf, pattern):
        for line in stream:
            if pattern and not t_watch and pattern in line:
                t_watch.append(time.monotonic())
            buf.append(line)

    streams = ((p.stdout, out, None), (p.stderr, err, watch))
    pumps = [threading.Thread(target=pump, args=a, daemon=True) for a in streams]
    for t in pumps:
        t.start()
    tasks: dict = {}
    parents: dict = {}
    jobids: set = set()
    while p.poll() is None and time.monotonic() - t0 < timeout:
        for pid, t in slurm.tasks(MPIAPP_STEP=marker).items():
            # a task, not srun itself, nor a short-lived child a task spawned while importing (h5py's
            # import runs `uname -p` through platform.processor(); it inherits the task's environment,
            # and between fork and exec it even shows the task's own command line)
            if "SLURM_PROCID" in t["env"] and t["cmdline"].startswith(sys.executable):
                tasks[pid] = t["cmdline"]
                parents[pid] = t["ppid"]
                jobids.add(t["env"].get("SLURM_JOB_ID"))
        time.sleep(0.1)
    tasks = {pid: c for pid, c in tasks.items() if parents[pid] not in tasks}  # a task's child is no task
    t_end = time.monotonic()
    timed_out = p.poll() is None
    if timed_out:  # the failure under test: the step hangs. End it, then report what it printed
        for j in jobids:
            slurm._run("scancel", str(j), check=False)
        p.kill()
    p.wait()
    for t in pumps:
        t.join(5)
    r = {
        "rc": p.returncode,
        "out": "".join(out),
        "err": "".join(err),
        "seconds": t_end - t0,
        "t_end": t_end,
        "t_watch": t_watch[0] if t_watch else None,
        "tasks": tasks,
        "jobid": int(next(iter(jobids))) if len(jobids) == 1 else None,
    }
    r["both"] = f"$ {' '.join(argv)}\n--- rc {r['rc']}\n--- out\n{r['out']}\n--- err\n{r['err']}"
    check(not timed_out, f"srun step {name}: still running after {timeout:.0f} s\n{r['both']}")
    check(len(jobids) <= 1, f"srun step {name}: tasks from several jobs {jobids}\n{r['both']}")
    return r


def run_steps(slurm: LocalSlurm, work: Path, timings: dict) -> None:
    """Plain `srun -n 2` steps (issue 2: error agreement under srun too, and `mpiapp info` sees one job).

    (a) tests/progs/fail.py: rank 1 raises in step 3 while rank 0 waits in an allreduce -> the step ends
        non-zero within 10 s of the traceback, which is rank-prefixed, and no task of the job is left;
    (b) `python -m mpiapp info --json`: one size-2 job (both ranks in per_rank), parallel h5py.
    """
    outdir = work / "fail"
    outdir.mkdir(exist_ok=True)
    fail_line = "[mpiapp rank 1/2] RuntimeError: deliberate failure in step 3"
    r = srun_step(slurm, "fail", PY, ROOT / "tests" / "progs" / "fail.py", 1, outdir, watch=fail_line)
    both = r["both"]
    check(r["rc"] != 0, f"srun fail.py: exit 0 although rank 1 raised\n{both}")
    check(fail_line in r["err"], f"srun fail.py: no rank-prefixed RuntimeError on stderr\n{both}")
    check(
        "[mpiapp rank 1/2] Traceback (most recent call last):" in r["err"],
        f"srun fail.py: no rank-prefixed traceback\n{both}",
    )
    check("finished" not in r["out"], f"srun fail.py: a rank finished after the failure\n{both}")
    abort_s = r["t_end"] - r["t_watch"]
    check(abort_s <= 10, f"srun fail.py: the step ended {abort_s:.1f} s after the failure (> 10 s)\n{both}")
    check(
        len(r["tasks"]) == 2 and r["jobid"] is not None,
        f"srun fail.py: expected to see the job's 2 tasks, saw {r['tasks']}\n{both}",
    )
    jid = r["jobid"]

    def left():  # the two rank pids we saw, and any process of this cluster still carrying the job id
        pids = {p: c for p, c in r["tasks"].items() if _alive(p)}
        pids.update({p: t["cmdline"] for p, t in slurm.tasks(SLURM_JOB_ID=str(jid)).items()})
        return pids

    try:
        wait_for(lambda: not left(), 3, "the job's tasks to go", every=0.1)
    except Failed:
        raise Failed(f"srun fail.py: processes of job {jid} left: {left()}\n{both}") from None
    info = slurm.wait_job(jid, timeout=15, every=0.2)
    check(
        info.get("JobState") in ("FAILED", "CANCELLED"),
        f"srun fail.py: job {jid} ended {info.get('JobState')}\n{both}",
    )
    import h5py

    with h5py.File(outdir / "rank1.h5", "r") as f:  # the failing rank closed its file before the abort
        check(list(f["written_before_failure"][:]) == list(range(10)), "srun fail.py: rank1.h5 not intact")
    timings["step_fail_s"] = r["seconds"]
    timings["step_fail_to_end_s"] = abort_s

    import json

    r = srun_step(slurm, "info", PY, "-m", "mpiapp", "info", "--json")
    both = r["both"]
    check(r["rc"] == 0, f"srun mpiapp info: exit {r['rc']}\n{both}")
    try:
        doc = json.loads(r["out"])
    except ValueError as exc:  # two singletons would print two documents
        raise Failed(f"srun mpiapp info: stdout is not one JSON document ({exc})\n{both}") from None
    rows = sorted((row.get("rank"), row.get("ranks_on_node")) for row in doc.get("per_rank", []))
    check(
        doc.get("ranks") == 2 and rows == [(0, 2), (1, 2)],
        f"srun mpiapp info: ranks={doc.get('ranks')} per_rank (rank, ranks_on_node)={rows}, "
        f"expected one size-2 job\n{both}",
    )
    check(doc.get("h5py_mpi") is True, f"srun mpiapp info: h5py_mpi={doc.get('h5py_mpi')}\n{both}")
    timings["step_info_s"] = r["seconds"]


def scenario(which=("steps", "srun", "mpirun"), keep: bool = False, allow_install: bool = True) -> dict:
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
        if "steps" in which:
            run_steps(slurm, work, timings)
        launchers = [w for w in which if w in ("srun", "mpirun")]
        if launchers:
            reference = run_reference(slurm, work, timings)
        for launcher in launchers:
            run_preempted(slurm, work, reference, launcher, timings)
    finally:
        if keep:
            print(
                f"kept: export SLURM_CONF={slurm.conf}   (files in {slurm.root})\n"
                f"stop: python -c \"import sys; sys.path.insert(0, '{HERE}'); import local_slurm; "
                f"local_slurm.LocalSlurm.attach('{slurm.root}').stop()\""
            )
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
    which = tuple(a for a in argv if a in ("steps", "srun", "mpirun")) or ("steps", "srun", "mpirun")
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
