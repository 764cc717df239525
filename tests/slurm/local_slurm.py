"""A real Slurm for tests: munged + slurmctld + slurmd on localhost, state in a temp folder — or, given
simulated hosts (tests/multinode/hosts.py), slurmctld and one slurmd on the first host and one slurmd
on each other host (`hosts=`).

Used by tests/slurm/run_slurm_test.py (the scenario), tests/test_launch_slurm.py (its pytest wrapper)
and tests/test_multinode.py (two nodes: `srun -N 2 --mpi=pmix`).

Debian's Slurm 22.05 and munge, run as root without systemd or cgroups (see ../shared/ENVIRONMENT.md,
"A real one-node Slurm"). Ports are chosen free at start (not 6817/6818), so two clusters, or a
system Slurm, can share the host. Teardown is by PID only: the daemons' pid files, then any process
whose environment names this cluster's slurm.conf (the jobs' tasks and slurmstepd inherit it) —
nothing else on the machine is touched. On simulated hosts munged stays in the root namespace (its
socket is a file path every host reaches), the other daemons and every client command (sbatch, srun,
scontrol, ...) run on the hosts, slurmd's pid file and spool are node-local (its /tmp), and PMIx keeps
its default node-local temporary folder (a shared one fails: "Cannot create directory ... File exists").
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "munged", "mungekey")


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.access(p := os.path.join(d, name), os.X_OK)), None
    )


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if _which(b) is None]


def ensure_installed(allow_install: bool = True) -> str | None:
    """None when Slurm and munge are usable; otherwise the reason they are not (to skip with)."""
    if not missing_binaries():
        return None
    if not allow_install:
        return f"Slurm/munge not installed ({', '.join(missing_binaries())} missing); installing not allowed"
    if os.geteuid() != 0:
        return f"Slurm/munge not installed ({', '.join(missing_binaries())} missing); not root: no apt-get"
    if shutil.which("apt-get") is None:
        return "Slurm/munge not installed and no apt-get on this machine"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or missing_binaries():
        return f"apt-get install {' '.join(PACKAGES)} failed ({r.returncode}): {r.stderr.strip()[-400:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmError(RuntimeError):
    pass


class LocalSlurm:
    """Context manager: `with LocalSlurm() as slurm: jobid = slurm.sbatch(script)`."""

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        partition: str = "debug",
        task_plugin: str = "task/affinity",
        cred_expire: int = 5,
        hosts=None,
    ):
        self.owns_root = root is None  # a temp folder of its own: removed on __exit__
        # on simulated hosts not under /tmp, which each host replaces by its own
        where = None if hosts is None else hosts.root
        self.root = Path(root or tempfile.mkdtemp(prefix="mpiapp-slurm-", dir=where))
        self.partition = partition
        self.task_plugin = task_plugin
        self.cred_expire = cred_expire  # a requeued job waits this long (plus a scheduler pass) to restart
        self.conf = self.root / "etc" / "slurm.conf"
        self.pidfiles = {n: self.root / "run" / f"{n}.pid" for n in ("munged", "slurmctld", "slurmd")}
        self.started: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self.hosts = hosts  # simulated hosts: the cluster's nodes (None: this machine, one node)
        if hosts is not None:
            for h in hosts.names:  # slurmd's pid file is node-local: the host's /tmp, seen from here
                self.pidfiles[f"slurmd@{h}"] = hosts.tmp(h) / "slurmd.pid"
            del self.pidfiles["slurmd"]

    @classmethod
    def attach(cls, root: str | os.PathLike) -> "LocalSlurm":
        """A cluster left up earlier (run_slurm_test.py --keep): LocalSlurm.attach(ROOT).stop() stops it."""
        self = cls(root)
        for name, pf in self.pidfiles.items():
            if pf.exists() and pf.read_text().strip().isdigit():
                self.started[name] = int(pf.read_text().strip())
        return self

    # --- bring-up ------------------------------------------------------------------------------
    def __enter__(self) -> "LocalSlurm":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.owns_root and not self.ours():
            shutil.rmtree(self.root, ignore_errors=True)

    def env(self, extra: dict | None = None) -> dict:
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        for k in [
            k for k in env if k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")) and k != "SLURM_CONF"
        ]:
            del env[k]  # a test run inside a real allocation must not leak that job's settings
        env.update(extra or {})
        return env

    def argv(self, cmd, host: str | None = None) -> list[str]:
        """`cmd` as run on `host` (default: the first host, where slurmctld is; "local": this machine's root
        namespace, where munged runs); unchanged on one node."""
        if self.hosts is None or host == "local":
            return [str(c) for c in cmd]
        return self.hosts.argv(host or self.hosts.names[0], [str(c) for c in cmd])

    def _run(self, *cmd, check=True, timeout=30, env=None, host=None) -> subprocess.CompletedProcess:
        r = subprocess.run(
            self.argv(cmd, host), capture_output=True, text=True, timeout=timeout, env=env or self.env()
        )
        if check and r.returncode != 0:
            raise SlurmError(
                f"{' '.join(map(str, cmd))} -> {r.returncode}\n{r.stdout}{r.stderr}\n{self.logs()}"
            )
        return r

    def start(self) -> None:
        t0 = time.monotonic()
        for d in ("etc", "run", "log", "state", "spool", "munge", "pmix", "jobs"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.root / "munge", 0o755)  # munged: "socket is inaccessible" otherwise
        key = self.root / "munge" / "munge.key"
        self._run(_which("mungekey"), "-c", "-b", "1024", "-k", key, env=dict(os.environ), host="local")
        os.chmod(key, 0o600)
        self.sock = self.root / "munge" / "munge.socket"
        self._run(
            _which("munged"),
            f"--socket={self.sock}",
            f"--key-file={key}",
            f"--pid-file={self.pidfiles['munged']}",
            f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--seed-file={self.root / 'munge' / 'munge.seed'}",
            "--force",
            env=dict(os.environ),
            host="local",
        )
        self._remember("munged")
        names = self.hosts.names if self.hosts is not None else [None]
        nodes = [
            self._run(_which("slurmd"), "-C", env=dict(os.environ), host=h).stdout.splitlines()[0]
            for h in names
        ]
        self.nodenames = [n.split()[0].split("=", 1)[1] for n in nodes]
        self.nodename = self.nodenames[0]
        self.cpus = int(re.search(r"CPUs=(\d+)", nodes[0]).group(1))
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        r = self.root
        (r / "etc" / "plugstack.conf").write_text("")
        if self.hosts is None:
            (r / "etc" / "mpi.conf").write_text(f"PMIxCliTmpDirBase={r / 'pmix'}\n")
            ctld, node_lines = "localhost(127.0.0.1)", [f"{nodes[0]} NodeAddr=127.0.0.1"]
            slurmd_files = [
                f"SlurmdPidFile={self.pidfiles['slurmd']}",
                f"SlurmdSpoolDir={r / 'spool'}",
                f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            ]
        else:
            first = self.hosts.names[0]
            ctld = f"{first}({self.hosts.addr(first)})"
            node_lines = [f"{n} NodeAddr={self.hosts.addr(h)}" for n, h in zip(nodes, self.hosts.names)]
            slurmd_files = [
                "SlurmdPidFile=/tmp/slurmd.pid",
                "SlurmdSpoolDir=/tmp/slurmd-spool",
                f"SlurmdLogFile={r / 'log' / 'slurmd-%n.log'}",
            ]
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=mpiapptest",
                    f"SlurmctldHost={ctld}",
                    f"SlurmctldPort={self.ctld_port}",
                    f"SlurmdPort={self.slurmd_port}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={self.sock},cred_expire={self.cred_expire}",
                    f"StateSaveLocation={r / 'state'}",
                    f"SlurmctldPidFile={self.pidfiles['slurmctld']}",
                    *slurmd_files,
                    f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
                    f"PlugStackConfig={r / 'etc' / 'plugstack.conf'}",
                    "ProctrackType=proctrack/linuxproc",
                    f"TaskPlugin={self.task_plugin}",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "MpiDefault=pmix",
                    # a requeued job restarts within ~1 s of cred_expire
                    "SchedulerParameters=sched_interval=2,bf_interval=1",
                    "MinJobAge=3600",
                    "ReturnToService=2",
                    "KillWait=5",
                    "InactiveLimit=0",
                    "SlurmdTimeout=60",
                    *node_lines,
                    f"PartitionName={self.partition} Nodes={','.join(self.nodenames)} Default=YES MaxTime=INFINITE "
                    "State=UP",
                ]
            )
            + "\n"
        )
        self._run(_which("slurmctld"), "-i", "-f", self.conf)
        self._remember("slurmctld")
        self._wait(
            lambda: self._run("scontrol", "ping", check=False).stdout.count("UP") > 0, 20, "scontrol ping"
        )
        for h in names:
            self._run(_which("slurmd"), "-f", self.conf, host=h)
            self._remember("slurmd" if h is None else f"slurmd@{h}")
        self._wait(
            lambda: self._run("sinfo", "-h", "-o", "%t", check=False).stdout.split() == ["idle"],
            30,
            "the nodes to be idle",
        )
        self.timings["bring_up_s"] = time.monotonic() - t0

    def _remember(self, name: str, timeout: float = 10) -> None:
        pf = self.pidfiles[name]
        self._wait(lambda: pf.exists() and pf.read_text().strip().isdigit(), timeout, f"{name}'s pid file")
        self.started[name] = int(pf.read_text().strip())

    def _wait(self, cond, timeout: float, what: str, every: float = 0.25) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cond():
                return
            time.sleep(every)
        raise SlurmError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    # --- jobs ----------------------------------------------------------------------------------
    def sbatch(self, script: str | os.PathLike, *args, env: dict | None = None) -> int:
        out = self._run("sbatch", "--parsable", *args, str(script), env=self.env(env)).stdout.strip()
        return int(out.split(";")[0])

    def job(self, jobid: int) -> dict:
        r = self._run("scontrol", "-o", "show", "job", str(jobid), check=False)
        if r.returncode != 0:
            return {}
        return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)

    def wait_job(
        self,
        jobid: int,
        states=(
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "TIMEOUT",
            "NODE_FAIL",
            "OUT_OF_MEMORY",
            "PREEMPTED",
            "BOOT_FAIL",
            "DEADLINE",
        ),
        timeout: float = 120,
        every: float = 0.5,
    ) -> dict:
        """Poll (not sbatch --wait: its back-off adds tens of seconds) until the job is in one of `states`."""
        t0, info = time.monotonic(), {}
        while time.monotonic() - t0 < timeout:
            info = self.job(jobid)
            if info.get("JobState") in states:
                return info
            time.sleep(every)
        raise SlurmError(f"job {jobid} still {info.get('JobState')} after {timeout:.0f} s\n{self.logs()}")

    def logs(self, tail: int = 15) -> str:
        out = []
        for f in sorted((self.root / "log").glob("*.log")):
            lines = f.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"--- {f.name} (last {len(lines)} lines)\n" + "\n".join(lines))
        return "\n".join(out)

    # --- teardown ------------------------------------------------------------------------------
    def ours(self) -> list[int]:
        """PIDs of processes started by this cluster: the daemons, and every process (slurmstepd, job
        shells, tasks) whose environment carries SLURM_CONF=<this cluster's slurm.conf>."""
        mark = f"SLURM_CONF={self.conf}".encode()
        pids = set()
        for name, pid in self.started.items():
            if _alive(pid) and _cmd_mentions(pid, str(self.root)):
                pids.add(pid)
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        pids.add(int(d))
            except OSError:
                pass
        return sorted(p for p in pids if _alive(p))

    def tasks(self, **env: str) -> dict[int, dict]:
        """Live (not zombie) processes of this cluster whose environment has every KEY=VALUE in `env`:
        {pid: {"cmdline": str, "env": {...}, "ppid": int}}. A marker variable given to srun reaches srun and its
        tasks; the tasks are the ones with SLURM_PROCID (and SLURM_JOB_ID) in "env"."""
        want = [f"{k}={v}".encode() for k, v in env.items()] + [f"SLURM_CONF={self.conf}".encode()]
        found = {}
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    items = f.read().split(b"\0")
                if not all(w in items for w in want) or not _alive(int(d)):
                    continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            e = dict(i.decode(errors="replace").split("=", 1) for i in items if b"=" in i)
            found[int(d)] = {"cmdline": cmd, "env": e, "ppid": _ppid(int(d))}
        return found

    def stop(self) -> None:
        t0 = time.monotonic()
        if self.started.get("slurmctld") and _alive(self.started["slurmctld"]):
            for extra in (["--full"], []):  # signal the batch shells too, then end the jobs
                self._run("scancel", *extra, "--partition", self.partition, check=False, timeout=10)
            end = time.monotonic() + 10
            while (
                time.monotonic() < end
                and self._run("squeue", "-h", "-t", "R,CG", check=False, timeout=10).stdout.strip()
            ):
                time.sleep(0.2)
        daemons = [
            self.started[n]
            for n in sorted(
                self.started, key=lambda n: ("slurmd", "slurmctld", "munged").index(n.split("@")[0])
            )
        ]
        _terminate(daemons, grace=5.0)
        _terminate(self.ours(), grace=2.0)  # slurmstepd and job processes that outlived slurmd
        self.timings["teardown_s"] = time.monotonic() - t0


def _terminate(pids, grace: float) -> None:
    """SIGTERM these PIDs, wait up to `grace` seconds, SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        live = [p for p in pids if _alive(p)]
        for p in live:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait
        while time.monotonic() < end and any(_alive(p) for p in live):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ppid(pid: int) -> int:
    """The parent pid from /proc/PID/stat (field 4, after the parenthesised name); -1 if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmd_mentions(pid: int, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False
