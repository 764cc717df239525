"""Several hosts on one machine, for tests: network namespaces with their own name, /etc/hosts,
/dev/shm, /sys and node-local /tmp; every other path is shared, like a cluster file system.

Why: on one host Open MPI joins all ranks through shared memory, every rank resolves the same
hostname and sees every path. A cluster differs in exactly those points, and they can be made real
on one machine (see ../shared/MULTINODE.md for what was measured):

- a host is a network namespace whose `eth0` is one end of a veth pair; the other ends sit in a
  bridge inside a namespace of their own, so nothing is added to the root namespace (no address,
  route or interface); addresses come from a private /24 configured only inside the namespaces, with
  no default route (no traffic can leave);
- a command runs "on" a host through `nsenter --net` + `unshare --mount --uts --ipc`, then, inside:
  the hostname; a per-host hosts file bind-mounted on /etc/hosts (Debian style with
  `loopback_names`: the host's own name on 127.0.1.1); a fresh tmpfs on /dev/shm; a fresh sysfs on /sys
  (the host's own interfaces) with the cgroup tree moved back under it (slurmd needs it); a per-host
  folder on /tmp with the caller's `shared` folders bound back in; optionally a cpuset of its own;
- Open MPI reaches the other hosts through `rsh_agent`, a program that runs its arguments on the named
  host the way sshd would (a clean login environment, the words joined and run by a shell).

Needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN, iproute2 and util-linux; `unavailable()` says why
not where they are missing (tests skip with it). Teardown kills the namespaces' processes by PID
(`ip netns pids`) and deletes the namespaces; it runs from `__exit__`, so a failing test leaves nothing.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

#: the hosts' network, configured only inside their namespaces
SUBNET = "10.211.7"
LOGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_made = itertools.count()


def unavailable() -> str | None:
    """Why hosts cannot be built here (None when they can): root, the tools, a namespace that works."""
    if os.geteuid() != 0:
        return "simulated hosts need root (network and mount namespaces)"
    missing = [b for b in ("ip", "nsenter", "unshare", "mount") if shutil.which(b) is None]
    if missing:
        return f"simulated hosts need {', '.join(missing)} (iproute2, util-linux)"
    name = f"mpiapp-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create a network namespace (no CAP_NET_ADMIN / CAP_SYS_ADMIN?): {r.stderr.strip()}"
    try:
        r = subprocess.run(
            [
                "nsenter",
                f"--net=/run/netns/{name}",
                "--",
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "slave",
                "--",
                "sh",
                "-c",
                "hostname probe && mount -t tmpfs tmpfs /dev/shm",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if r.returncode != 0:
            return f"cannot enter a host (mount / UTS namespaces refused): {r.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def _sh(*cmd, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} -> {r.returncode}: {r.stderr.strip()}")
    return r


class Hosts:
    """Context manager: `with Hosts(2, shared=[tmp]) as hosts: hosts.run("h2", ["hostname"])`.

    n: hosts h1..hN at SUBNET.1..N; shared: folders that stay shared even under /tmp (a test's work
    folder); loopback_names: each host's hosts file says `127.0.1.1 <own name>` (Debian's default),
    the others by address; cpus: give host i its own CPU (i-1 modulo the machine's CPUs) through a
    cpuset cgroup (v1), so that each host's launcher binds to its own cores; root: where the per-host
    folders go (default: a temp folder, removed at exit).
    """

    def __init__(self, n: int = 2, shared=(), loopback_names: bool = False, cpus: bool = True, root=None):
        self.names = [f"h{i}" for i in range(1, n + 1)]
        self.tag = f"mpiapp{os.getpid()}x{next(_made)}"
        self.owns_root = root is None
        # not under /tmp, which each host replaces by its own
        self.root = Path(root or tempfile.mkdtemp(prefix="mpiapp-hosts-", dir="/var/tmp"))
        self.shared = [Path(p).resolve() for p in shared]
        self.loopback_names = loopback_names
        self.use_cpus = cpus
        self.cgroups: list[Path] = []
        self.made: list[str] = []
        self.timings: dict[str, float] = {}

    # --- names -----------------------------------------------------------------------------------
    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def addr(self, host: str) -> str:
        return f"{SUBNET}.{self.names.index(host) + 1}"

    @property
    def subnet(self) -> str:
        return f"{SUBNET}.0/24"

    def tmp(self, host: str) -> Path:
        """The folder that is /tmp on `host` (node-local), as seen from outside."""
        return self.root / host / "tmp"

    @property
    def rsh_agent(self) -> str:
        return str(self.root / "bin" / "rsh-agent")

    # --- bring-up --------------------------------------------------------------------------------
    def __enter__(self) -> "Hosts":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        t0 = time.monotonic()
        br = f"{self.tag}-br"
        _sh("ip", "netns", "add", br)
        self.made.append(br)
        _sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        _sh("ip", "-n", br, "link", "set", "br0", "up")
        ncpu = os.cpu_count() or 1
        for i, h in enumerate(self.names):
            ns = self.ns(h)
            _sh("ip", "netns", "add", ns)
            self.made.append(ns)
            _sh("ip", "-n", br, "link", "add", f"v{h}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _sh("ip", "-n", br, "link", "set", f"v{h}", "master", "br0", "up")
            _sh("ip", "-n", ns, "addr", "add", f"{self.addr(h)}/24", "dev", "eth0")
            _sh("ip", "-n", ns, "link", "set", "eth0", "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            d = self.root / h
            for sub in ("tmp", "cg"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(d / "tmp", 0o1777)
            (d / "hosts").write_text(self._hosts_file(h))
            cg = self._cpuset(h, i % ncpu) if self.use_cpus else None
            (d / "enter.sh").write_text(self._enter_script(h, cg))
        (self.root / "bin").mkdir(exist_ok=True)
        agent = Path(self.rsh_agent)
        agent.write_text(self._agent_script())
        agent.chmod(0o755)
        self.timings["bring_up_s"] = time.monotonic() - t0

    def _hosts_file(self, me: str) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for h in self.names:
            if h == me and self.loopback_names:
                lines.append(f"127.0.1.1\t{h}")
            else:
                lines.append(f"{self.addr(h)}\t{h}")
        return "\n".join(lines) + "\n"

    def _cpuset(self, host: str, cpu: int) -> Path | None:
        base = Path("/sys/fs/cgroup/cpuset")
        if not (base / "cpuset.cpus").exists():
            return None
        cg = base / f"{self.tag}-{host}"
        try:
            cg.mkdir()
            (cg / "cpuset.mems").write_text((base / "cpuset.mems").read_text())
            (cg / "cpuset.cpus").write_text(str(cpu))
        except OSError:
            return None
        self.cgroups.append(cg)
        return cg

    def _enter_script(self, host: str, cg: Path | None) -> str:
        """What runs first inside the namespaces: the host's own view of the machine, then the command."""
        d = self.root / host
        q = shlex.quote
        lines = ["set -e"]
        if cg is not None:
            lines.append(f"echo $$ > {q(str(cg / 'tasks'))}")
        lines += [
            f"hostname {host}",
            f"mount --bind {q(str(d / 'hosts'))} /etc/hosts",
            "mount -t tmpfs -o mode=1777 tmpfs /dev/shm",
            # a fresh sysfs shows this namespace's interfaces; keep the cgroup tree (slurmd reads it)
            f"mount --rbind /sys/fs/cgroup {q(str(d / 'cg'))}",
            "mount -t sysfs sysfs /sys",
            f"mount --move {q(str(d / 'cg'))} /sys/fs/cgroup",
        ]
        # node-local /tmp; shared folders under /tmp are bound back in first (--rbind carries them)
        for p in self.shared:
            if str(p).startswith("/tmp/"):
                inner = d / "tmp" / p.relative_to("/tmp")
                lines += [f"mkdir -p {q(str(inner))}", f"mount --bind {q(str(p))} {q(str(inner))}"]
        lines += [f"mount --rbind {q(str(d / 'tmp'))} /tmp", "set +e", 'exec "$@"']
        return "\n".join(lines) + "\n"

    def _agent_script(self) -> str:
        """rsh-agent HOST WORDS...: run WORDS on HOST like sshd does (login environment, one shell line)."""
        cases = "\n".join(f"  {h}) ns={shlex.quote(self.ns(h))} ;;" for h in self.names)
        return f"""#!/bin/sh
# Open MPI's plm_rsh_agent for the simulated hosts: rsh-agent HOST COMMAND WORDS...
host=$1; shift
case "$host" in
{cases}
  *) echo "rsh-agent: unknown host $host" >&2; exit 255 ;;
esac
exec nsenter --net=/run/netns/$ns -- unshare --mount --propagation slave --uts --ipc -- \\
  sh {shlex.quote(str(self.root))}/$host/enter.sh \\
  env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/sh PATH={LOGIN_PATH} sh -c "$*"
"""

    # --- running ---------------------------------------------------------------------------------
    def argv(self, host: str, cmd) -> list[str]:
        """The argv that runs `cmd` (a list, or one shell line) on `host`, keeping the caller's environment."""
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return [
            "nsenter",
            f"--net=/run/netns/{self.ns(host)}",
            "--",
            "unshare",
            "--mount",
            "--propagation",
            "slave",
            "--uts",
            "--ipc",
            "--",
            "sh",
            str(self.root / host / "enter.sh"),
            *map(str, cmd),
        ]

    def run(self, host: str, cmd, env=None, timeout: float = 60, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(host, cmd), capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd
        )

    def popen(self, host: str, cmd, env=None, cwd=None, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(host, cmd), env=env, cwd=cwd, **kw)

    def pids(self, host: str) -> list[int]:
        """Processes living in `host`'s network namespace."""
        r = _sh("ip", "netns", "pids", self.ns(host), check=False)
        return [int(x) for x in r.stdout.split() if x.isdigit()]

    def mpi_env(self, extra: dict | None = None) -> dict:
        """What a cluster's login environment plus Open MPI's site settings would give mpirun on h1:
        the rsh agent in place of ssh, root allowed. Nothing about the network: Open MPI finds eth0."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PRTE_", "PMIX_", "SLURM_"))}
        env.update(
            OMPI_MCA_plm_rsh_agent=self.rsh_agent,
            OMPI_ALLOW_RUN_AS_ROOT="1",
            OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra or {})
        return env

    # --- teardown --------------------------------------------------------------------------------
    def stop(self) -> None:
        t0 = time.monotonic()
        hosts = [ns for ns in self.made if not ns.endswith("-br")]
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            live = [p for ns in hosts for p in _ns_pids(ns)]
            for p in live:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + wait
            while time.monotonic() < end and any(_ns_pids(ns) for ns in hosts):
                time.sleep(0.05)
        for ns in reversed(self.made):
            _sh("ip", "netns", "del", ns, check=False)
        self.made = []
        for cg in self.cgroups:
            try:
                cg.rmdir()
            except OSError:
                pass
        self.cgroups = []
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
        self.timings["teardown_s"] = time.monotonic() - t0


def _ns_pids(ns: str) -> list[int]:
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split() if x.isdigit()] if r.returncode == 0 else []


def main(argv=None) -> int:
    """By hand: bring up N hosts (and a Slurm on them), run a command on h1 or open a shell there, tear down."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(
        prog="python tests/multinode/hosts.py",
        description="Simulated hosts h1..hN (network namespaces). Runs COMMAND on h1 with Open MPI's rsh "
        "agent set (mpiexec --host h1:1,h2:1 ... reaches h2), or an interactive shell on h1; tears everything "
        "down after.",
    )
    ap.add_argument("-n", type=int, default=2, help="hosts (default 2)")
    ap.add_argument(
        "--slurm", action="store_true", help="also Slurm: slurmctld + slurmd on h1, slurmd on the others"
    )
    ap.add_argument(
        "--real-names",
        action="store_true",
        help="hosts files name each host by its address "
        "(default: Debian's style, the host's own name on 127.0.1.1)",
    )
    ap.add_argument(
        "--shared",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder under /tmp that every host sees (the rest of /tmp is each host's own)",
    )
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ... (run on h1 in this folder)")
    a = ap.parse_args(argv)
    why = unavailable()
    if why:
        print(f"hosts.py: {why}", file=sys.stderr)
        return 77
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    with Hosts(a.n, shared=[os.getcwd(), *a.shared], loopback_names=not a.real_names) as hosts:
        env = hosts.mpi_env()
        slurm = None
        if a.slurm:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "slurm"))
            from local_slurm import LocalSlurm, ensure_installed

            why = ensure_installed(True)
            if why:
                print(f"hosts.py: {why}", file=sys.stderr)
                return 77
            slurm = LocalSlurm(hosts=hosts, task_plugin="task/none")
            slurm.start()
            env = {**slurm.env(), **{k: v for k, v in env.items() if k.startswith("OMPI_")}}
        try:
            print(
                f"hosts {', '.join(f'{h} ({hosts.addr(h)})' for h in hosts.names)} up in "
                f"{hosts.timings['bring_up_s']:.2f} s; rsh agent {hosts.rsh_agent}"
                + (f"; Slurm up ({slurm.conf})" if slurm else ""),
                file=sys.stderr,
            )
            return subprocess.call(hosts.argv("h1", cmd or ["bash", "-i"]), env=env, cwd=os.getcwd())
        finally:
            if slurm is not None:
                slurm.stop()


if __name__ == "__main__":
    import sys

    sys.exit(main())
