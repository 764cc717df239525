"""Every job on two hosts, simulated on this machine (tests/multinode/hosts.py), against one-host runs.

The hosts are network namespaces with their own hostname, /etc/hosts in Debian's style (the host's own
name on 127.0.1.1), /dev/shm, /sys and node-local /tmp, one CPU each; Open MPI joins them over TCP
(vader inside a host) through an rsh agent, with nothing set but what a cluster's ssh and root would need
(no OMPI_MCA_osc, btl or interface settings, no MPIAPP_* variables). Slurm runs on two such hosts.

Each check compares with the same command run with `mpiexec -n 2` on this machine (compare.py says
what is left out: the profile, clock and memory columns, when/where attributes):
- score at 2 hosts x 1 and x 2 ranks, static and dynamic, and `srun -N 2 -n 4`: identical tables;
  the work counter is `messages` (Debian's Open MPI has no one-sided component for TCP), and each
  rank read its own host's shared-memory copy of the symbols (profile `store_host`);
- train (lgbm), optbench, hpo (reproducible), ddp at 2 x 1: identical results;
- the ddp rendezvous across 127.0.1.1-named hosts: one address, listeners bound to it only;
- rank 0 busy in a long unit: the other host's claims are answered meanwhile;
- kill -9 of the rank on the second host: the job ends within seconds, nothing is left on either
  host, `--resume` on one host gives the uninterrupted tables;
- SIGUSR1 to the `srun -N 2` step: exit 75, `--resume` completes with the same tables;
- an output or an input in a node-local folder: exit 2 within seconds, naming it and the host;
- `mpiapp info`: one line per host; the README's cluster commands, adapted to two hosts, as typed.

Skips, with the reason, where namespaces cannot be made (not root, no CAP_SYS_ADMIN / CAP_NET_ADMIN)
or Slurm cannot be installed. By hand: `python tests/multinode/hosts.py -- CMD` (docs/cluster.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import PY, ROOT, mpiexec_cmd, run

sys.path.insert(0, str(ROOT / "tests" / "multinode"))
sys.path.insert(0, str(ROOT / "tests" / "slurm"))
import compare  # noqa: E402
import hosts as hosts_mod  # noqa: E402

pytestmark = pytest.mark.slow

PROGS = ROOT / "tests" / "progs"
# the small scan of tests/slurm: 8 symbols, 40 units of 5 windows
SCORE = [
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
TRAIN = [
    "--data",
    "synthetic:3",
    "--no-progress",
    "--set",
    "data.synthetic_bars=1300",
    "--families",
    "lgbm",
    "--set",
    "train.lgbm.n_estimators=15",
    "--set",
    "train.cv.n_folds=3",
    "--set",
    "train.cv.min_train=100",
]
OPTBENCH = [
    "--no-progress",
    "--problems",
    "lsq-k1e3-d30,logreg-d10",
    "--optimizers",
    "momentum,adam",
    "--backends",
    "numpy",
    "--set",
    "optbench.batch_sizes=[0, 8]",
    "--set",
    "optbench.repeats=2",
    "--set",
    "optbench.max_iters=100",
    "--set",
    "optbench.checkpoints=20",
    "--set",
    "optbench.bootstrap=200",
    "--set",
    "runtime.threads_per_rank=1",
    "--set",
    "optbench.cache=false",
]
HPO = [
    "--objective",
    "tests/progs/hpo_objectives.py:quad",
    "--trials",
    "8",
    "--set",
    "hpo.mode=reproducible",
    "--set",
    "hpo.batch_size=2",
]
DDP = [
    "--data",
    "synthetic:4",
    "--no-progress",
    "--set",
    "data.synthetic_bars=1200",
    "--set",
    "ddp.batch_size=64",
    "--set",
    "ddp.precision=fp32",
    "--set",
    "ddp.hidden=[16]",
    "--set",
    "ddp.patience=0",
    "--set",
    "ddp.warmup_steps=2",
    "--set",
    "ddp.epochs=1",
    "--set",
    "ddp.max_steps=6",
]


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("multinode")


@pytest.fixture(scope="module")
def hosts(work):
    why = hosts_mod.unavailable() or (None if shutil.which("mpiexec") else "mpiexec not on PATH")
    if why:
        pytest.skip(why)
    with hosts_mod.Hosts(2, shared=[work], loopback_names=True) as h:
        yield h


@pytest.fixture(scope="module")
def slurm(work):
    """Slurm on two more hosts of their own: slurmctld + slurmd on h1, slurmd on h2."""
    from local_slurm import LocalSlurm, ensure_installed

    why = hosts_mod.unavailable() or ensure_installed(os.environ.get("MPIAPP_SLURM_INSTALL", "1") != "0")
    if why:
        pytest.skip(why)
    with hosts_mod.Hosts(2, shared=[work], loopback_names=True) as h:
        with LocalSlurm(hosts=h, task_plugin="task/none") as s:
            yield s


def one_host(job_args, out, timeout=300):
    """The reference: `mpiexec -n 2` on this machine."""
    r = run(mpiexec_cmd(2, PY, *job_args, "--out", str(out)), timeout=timeout)
    assert r.returncode == 0, r.output
    return out


def across(hosts, per_host, job_args, out=None, env=None, timeout=300, check=True):
    """`mpiexec --host h1:k,h2:k` started on h1, as a user on a cluster's login node would."""
    cmd, env = mpirun(hosts, per_host, [PY, *job_args] + (["--out", str(out)] if out else []), env)
    t0 = time.monotonic()
    r = hosts.run("h1", cmd, env=env, timeout=timeout, cwd=ROOT)
    r.seconds = time.monotonic() - t0
    r.output = f"$ {' '.join(map(str, cmd))}\n--- rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    if check:
        assert r.returncode == 0, r.output
    return r


def mpirun(hosts, per_host, argv, env=None):
    """(mpiexec command, its environment): the test programs' variables forwarded to every host (`-x`)."""
    env = {"PYTHONPATH": str(ROOT), **(env or {})}
    forward = [w for k in env for w in ("-x", k)]
    hostlist = ",".join(f"{h}:{per_host}" for h in hosts.names)
    return ["mpiexec", "--host", hostlist, *forward, *map(str, argv)], hosts.mpi_env(env)


def same(a, b, skip_columns=()):
    diff = compare.differences(a, b, skip_columns)
    assert not diff, f"{a} vs {b}: " + "; ".join(diff)


def attrs(path):
    return compare.read(path)[1]


def profile(path):
    t = compare.read(path)[0]["profile"]
    text = lambda x: x.decode() if isinstance(x, bytes) else x  # noqa: E731
    return [{k: text(v[i]) for k, v in t.items()} for i in range(len(t["rank"]))]


class Job:
    """A command in the background, its output collected line by line (a full pipe would block the ranks)."""

    def __init__(self, argv, env, cwd=ROOT):
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.out, self.err = [], []
        self.pumps = [
            threading.Thread(target=lambda s=s, b=b: b.extend(s), daemon=True)
            for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self.pumps:
            t.start()

    def lines(self, prefix):
        return [x for x in list(self.out) if x.startswith(prefix)]

    def wait_lines(self, prefix, pred, timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            found = self.lines(prefix)
            if pred(found):
                return found
            time.sleep(0.05)
        raise AssertionError(f"never saw enough {prefix!r} lines (exit {self.proc.poll()}):\n{self.text()}")

    def wait(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"still running after {timeout} s:\n{self.text()}") from None
        for t in self.pumps:
            t.join(5)
        return self.proc.returncode

    def text(self):
        return "".join(self.out)[-4000:] + "\n--- stderr\n" + "".join(self.err)[-4000:]


@pytest.fixture(scope="module")
def score_ref(work):
    return one_host(["-m", "mpiapp.score", *SCORE], work / "score-ref.h5")


# --- the harness itself ------------------------------------------------------------------------------
def test_hosts_are_hosts(hosts):
    """What the checks stand on: own names (resolving to 127.0.1.1 at home), own eth0, node-local /tmp."""
    r = hosts.run("h2", "hostname; getent hosts h2 h1; ls /sys/class/net; touch /tmp/only-h2; ls /tmp")
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[0] == "h2" and "127.0.1.1" in words and hosts.addr("h1") in words and "eth0" in words
    assert not (hosts.tmp("h1") / "only-h2").exists() and (hosts.tmp("h2") / "only-h2").exists()
    r = across(hosts, 1, ["-c", "import socket; print(socket.gethostname())"])
    assert sorted(r.stdout.split()) == ["h1", "h2"], r.output


# --- item 1: the work counter ------------------------------------------------------------------------
@pytest.mark.parametrize("per_host,partition", [(1, "static"), (1, "dynamic"), (2, "static"), (2, "dynamic")])
def test_score_across_hosts_equals_one_host(hosts, work, score_ref, per_host, partition):
    out = work / f"score-{per_host}-{partition}.h5"
    across(hosts, per_host, ["-m", "mpiapp.score", *SCORE, "--partition", partition], out)
    same(score_ref, out)
    a = attrs(out)
    assert a["hosts"] == "h1,h2" and a["ranks"] == 2 * per_host and a["work_counter"] == "messages", a
    rows = profile(out)
    assert [r["host"] for r in rows] == ["h1"] * per_host + ["h2"] * per_host
    assert all(r["store_host"] == r["host"] for r in rows), rows  # each host's own shared-memory copy


def test_claims_are_answered_while_rank_0_computes_across_hosts(hosts, work):
    """Rank 0 busy 2 s in each of its units, rank 1 (other host) 0.01 s: rank 1 runs the other 39."""
    out = work / "busy.h5"
    across(
        hosts,
        1,
        [
            str(PROGS / "squares_job.py"),
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
        ],
        out,
    )
    assert attrs(out)["work_counter"] == "messages"
    units = [r["units"] for r in profile(out)]
    assert units[0] <= 2 and units[1] >= 38, units


# --- the other jobs at 2 x 1 -------------------------------------------------------------------------
def test_train_across_hosts_equals_one_host(hosts, work):
    ref = one_host(["-m", "mpiapp.train", *TRAIN], work / "train-ref.h5")
    out = work / "train-2x1.h5"
    across(hosts, 1, ["-m", "mpiapp.train", *TRAIN], out)
    same(ref, out)


def test_optbench_across_hosts_equals_one_host(hosts, work):
    ref = one_host(["-m", "mpiapp.optbench", *OPTBENCH], work / "ob-ref.h5")
    out = work / "ob-2x1.h5"
    across(hosts, 1, ["-m", "mpiapp.optbench", *OPTBENCH], out)
    same(ref, out)


def test_hpo_reproducible_across_hosts_equals_one_host(hosts, work):
    ref = one_host(["-m", "mpiapp.hpo", *HPO], work / "hpo-ref.h5")
    out = work / "hpo-2x1.h5"
    across(hosts, 1, ["-m", "mpiapp.hpo", *HPO], out)
    same(ref, out)
    assert len(compare.read(out)[0]["trials"]["number"]) == 8


def test_ddp_across_hosts_equals_one_host(hosts, work):
    """Hosts whose own names resolve to 127.0.1.1: gloo must still meet (it used to dial 127.0.1.1)."""
    ref = one_host(
        ["-m", "mpiapp.ddp", *DDP, "--set", f"ddp.features_path={work / 'ddpf-ref.h5'}"], work / "ddp-ref.h5"
    )
    out = work / "ddp-2x1.h5"
    across(hosts, 1, ["-m", "mpiapp.ddp", *DDP, "--set", f"ddp.features_path={work / 'ddpf-2x1.h5'}"], out)
    same(ref, out)
    same(work / "ddpf-ref.h5", work / "ddpf-2x1.h5")  # the feature store, built across the hosts
    assert attrs(out)["best_validation_loss"] == attrs(ref)["best_validation_loss"]


def test_rendezvous_binds_one_address_across_hosts(hosts):
    """Rank 0's new listeners (the TCP store, gloo) are on the address every host reaches, nothing else."""
    r = across(hosts, 1, [str(PROGS / "ddp_sockets.py")])
    rows = {
        d["rank"]: d
        for d in (json.loads(x.split(" ", 1)[1]) for x in r.stdout.splitlines() if x.startswith("SOCKETS "))
    }
    assert sorted(rows) == [0, 1], r.output
    assert rows[0]["host"] == rows[1]["host"] == hosts.addr("h1"), rows
    assert rows[0]["sum"] == rows[1]["sum"] == 3.0
    assert rows[0]["gloo_if"] == rows[1]["gloo_if"] == "eth0", rows
    assert rows[0]["listen"] and all(a.rsplit(":", 1)[0] == hosts.addr("h1") for a in rows[0]["listen"]), rows
    assert all(a.rsplit(":", 1)[0] == hosts.addr("h2") for a in rows[1]["listen"]), rows


def test_rendezvous_listens_on_loopback_only_on_one_host():
    r = run(mpiexec_cmd(2, PY, str(PROGS / "ddp_sockets.py")), timeout=180)
    assert r.returncode == 0, r.output
    rows = [json.loads(x.split(" ", 1)[1]) for x in r.stdout.splitlines() if x.startswith("SOCKETS ")]
    assert len(rows) == 2 and all(d["host"] == "127.0.0.1" and d["listen"] for d in rows), rows
    assert all(a.rsplit(":", 1)[0] == "127.0.0.1" for d in rows for a in d["listen"]), rows  # never *:PORT
    assert all(d["gloo_if"] == "lo" for d in rows), rows


# --- failures across hosts ---------------------------------------------------------------------------
def _ours(hosts) -> dict:
    """Processes of the test jobs still alive on the hosts (the hosts run nothing else)."""
    import psutil

    left = {}
    for h in hosts.names:
        for p in hosts.pids(h):
            try:
                if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                    left[p] = (h, " ".join(psutil.Process(p).cmdline())[:120])
            except psutil.Error:
                pass
    return left


def test_kill9_of_a_rank_on_the_second_host_then_resume_on_one(hosts, work, score_ref):
    out = work / "killed.h5"
    cmd, env = mpirun(
        hosts,
        1,
        [PY, PROGS / "score_fault.py", *SCORE, "--out", out],
        {"FAULT_KIND": "slow", "FAULT_SLEEP": "0.3"},
    )
    job = Job(hosts.argv("h1", cmd), env)
    seen = job.wait_lines("SCANNING", lambda ls: all(any(f"rank={r} " in x for x in ls) for r in (0, 1)))
    victim = int(next(x for x in seen if "rank=1 " in x).split("pid=")[1].split()[0])
    assert victim in hosts.pids("h2")
    time.sleep(0.5)  # a commit or two
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    code = job.wait(timeout=60)
    ended = time.monotonic() - t0
    assert code != 0 and ended < 15, (code, ended, job.text())
    end = time.monotonic() + 5
    while _ours(hosts) and time.monotonic() < end:
        time.sleep(0.1)
    assert not _ours(hosts), _ours(hosts)
    assert os.path.exists(f"{out}.partial") and not out.exists()
    r = run(mpiexec_cmd(2, PY, "-m", "mpiapp.score", *SCORE, "--out", str(out), "--resume"), timeout=300)
    assert r.returncode == 0 and "resuming" in r.stderr, r.output
    same(score_ref, out)


def test_output_in_a_node_local_folder_is_refused_within_seconds(hosts, work):
    out = "/tmp/mpiapp-node-local/s.h5"  # /tmp is each host's own
    r = across(hosts, 1, ["-m", "mpiapp.score", *SCORE], out, timeout=120, check=False)
    assert r.returncode == 2, r.output
    assert "/tmp/mpiapp-node-local is not visible on host h2" in r.stderr and "Traceback" not in r.stderr, (
        r.output
    )
    assert not (hosts.tmp("h1") / "mpiapp-node-local" / "s.h5.partial").exists()
    assert r.seconds < 60, r.seconds  # a hang would end at the timeout


def test_input_in_a_node_local_folder_is_refused(hosts, work):
    import numpy as np

    data = hosts.tmp("h1") / "mpiapp-csv"  # /tmp/mpiapp-csv on h1 only
    data.mkdir(exist_ok=True)
    close = 50 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 400)))
    days = np.datetime64("2001-01-01") + np.arange(400)
    (data / "AAA.csv").write_text(
        "Date,Open,High,Low,Close,Volume\n"
        + "".join(f"{d},{c:.6f},{c * 1.01:.6f},{c * 0.99:.6f},{c:.6f},1000\n" for d, c in zip(days, close))
    )
    args = [
        "-m",
        "mpiapp.score",
        "--data",
        "csv:/tmp/mpiapp-csv",
        "--no-progress",
        "--set",
        "scan.window_bars=300",
    ]
    r = across(hosts, 1, args, work / "csv.h5", timeout=120, check=False)
    assert r.returncode == 2, r.output
    assert "the input /tmp/mpiapp-csv is not visible on host h2" in r.stderr, r.output
    assert "Traceback" not in r.stderr, r.output


# --- Slurm on two nodes --------------------------------------------------------------------------------
def srun(slurm, *args, env=None, timeout=300):
    argv = slurm.argv(["srun", "-N", "2", "-n", "4", "--mpi=pmix", *map(str, args)])
    t0 = time.monotonic()
    r = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=slurm.env({"PYTHONPATH": str(ROOT), **(env or {})}),
    )
    r.seconds = time.monotonic() - t0
    r.output = f"$ srun {' '.join(map(str, args))}\n--- rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_score_under_srun_on_two_nodes_equals_one_host(slurm, work, score_ref):
    out = work / "srun.h5"
    r = srun(slurm, PY, "-m", "mpiapp.score", *SCORE, "--out", out)
    assert r.returncode == 0, r.output
    same(score_ref, out)
    a = attrs(out)
    assert a["ranks"] == 4 and a["hosts"] == "h1,h2" and a["work_counter"] == "messages", a


def test_sigusr1_to_the_srun_step_exits_75_and_resume_completes(slurm, work, score_ref):
    out = work / "srun-usr1.h5"
    argv = slurm.argv(
        [
            "srun",
            "-N",
            "2",
            "-n",
            "4",
            "--mpi=pmix",
            PY,
            str(PROGS / "score_fault.py"),
            *SCORE,
            "--out",
            str(out),
        ]
    )
    job = Job(argv, slurm.env({"PYTHONPATH": str(ROOT), "FAULT_KIND": "slow", "FAULT_SLEEP": "0.3"}))
    job.wait_lines("SCANNING", lambda ls: len({x.split("rank=")[1].split()[0] for x in ls}) == 4)
    jobs = slurm._run("squeue", "-h", "-o", "%i").stdout.split()
    assert len(jobs) == 1, jobs
    slurm._run("scancel", "-s", "USR1", jobs[0])  # what --signal=USR1@T does: every task of the step
    code = job.wait(timeout=120)
    assert code == 75, (code, job.text())
    assert "stopped by SIGUSR1" in "".join(job.err) and os.path.exists(f"{out}.partial")
    r = srun(slurm, PY, "-m", "mpiapp.score", *SCORE, "--out", out, "--resume")
    assert r.returncode == 0 and "resuming" in r.stderr, r.output
    same(score_ref, out)


# --- what a user sees ------------------------------------------------------------------------------
def test_info_says_one_line_per_host(hosts):
    r = across(hosts, 2, ["-m", "mpiapp", "info"])
    block = r.stdout.split("hosts:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block[0].split() == ["host", "ranks", "cpus", "work_counter", "interface"], r.output
    assert [ln.split() for ln in block[1:]] == [
        ["h1", "0,1", "1", "messages", "eth0", hosts.addr("h1")],
        ["h2", "2,3", "1", "messages", "eth0", hosts.addr("h2")],
    ], r.output


def test_readme_cluster_commands_on_two_hosts(hosts, slurm, work):
    """`mpirun -n 64 python -m mpiapp.score --config configs/high_perf.yaml` and `srun` as the README has
    them, adapted to two hosts (`-n 4 --host h1:2,h2:2`, `srun -N 2 -n 4`), typed in the checkout; `--out`
    keeps the checkout's own results/ untouched (docs/cluster.md: the same commands without it, by hand)."""
    score = ".venv/bin/python -m mpiapp.score --config configs/high_perf.yaml --out"
    for i, cmd in enumerate(
        [f"mpirun -n 4 --host h1:2,h2:2 {score} {work}/rm0.h5", f"srun -N 2 -n 4 {score} {work}/rm1.h5"]
    ):
        if i == 0:
            r = hosts.run("h1", cmd, env=hosts.mpi_env(), cwd=ROOT, timeout=600)
        else:
            r = subprocess.run(
                slurm.argv(["sh", "-c", cmd]),
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=slurm.env(),
                timeout=600,
            )
        assert r.returncode == 0, f"$ {cmd}\n{r.stdout}\n{r.stderr}"
        assert f"scan complete: {work}/rm{i}.h5" in r.stdout and "on 4 rank(s)" in r.stdout, r.stdout
        a = attrs(work / f"rm{i}.h5")
        assert a["hosts"] == "h1,h2" and a["ranks"] == 4 and a["work_counter"] == "messages", a
    same(work / "rm0.h5", work / "rm1.h5")
