"""Shared test helpers: launching mpiexec in a subprocess with a timeout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

# tests/mpi/* run only under mpiexec (tests/test_mpi_suite.py launches them at 1, 2 and 4 ranks)
collect_ignore = [] if os.environ.get("MPIAPP_UNDER_MPIEXEC") else ["mpi"]


def mpi_env(extra=None) -> dict:
    env = dict(os.environ)
    # scripts run as files (tests/progs/*.py) import mpiapp from this checkout, not from wherever
    # the package happens to be installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",  # 4 ranks on 2 cores in CI
        OMPI_MCA_btl="vader,self",  # one node: skip network probing
        OMPI_MCA_pml="ob1",
        PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe",
        PYTHONUNBUFFERED="1",
        MPIAPP_UNDER_MPIEXEC="1",
        # programs under tests/progs import this checkout's package, whatever is installed
        PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
    )
    env.update(extra or {})
    return env


def mpiexec_cmd(n: int, *args, bind_none: bool = False) -> list[str]:
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.skip("mpiexec not on PATH")
    cmd = [exe, "-n", str(n)]
    if bind_none:
        cmd += ["--bind-to", "none"]
    return cmd + list(args)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float, pgid: int):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds
        self.pgid = pgid


def run(cmd, timeout=120, env=None, cwd=ROOT) -> Run:
    """Run in a new session (so leftovers can be found by process group) under a hard timeout."""
    t0 = time.monotonic()
    p = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or mpi_env(),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        raise AssertionError(f"timed out after {timeout}s: {cmd}\n{out}\n{err}") from None
    return Run(subprocess.CompletedProcess(cmd, p.returncode, out, err), time.monotonic() - t0, p.pid)


class Background:
    """A command (mpiexec ...) in the background, its output drained by threads (a full pipe would
    block the ranks). `wait_for(marker, n)` waits for n stdout lines starting with marker and returns
    the pids they name (`pid=N`)."""

    def __init__(self, cmd, env=None, cwd=ROOT):
        import threading

        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=mpi_env(env),
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.out, self.err = [], []
        self.threads = [
            threading.Thread(target=self._drain, args=(s, buf), daemon=True)
            for s, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self.threads:
            t.start()

    @staticmethod
    def _drain(stream, buf):
        for line in stream:
            buf.append(line)

    def wait_for(self, marker, n_lines, timeout=60):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and self.proc.poll() is None:
            lines = [x for x in list(self.out) if x.startswith(marker)]
            if len(lines) >= n_lines:
                return {int(x.split("pid=")[1].split()[0]) for x in lines}
            time.sleep(0.05)
        raise AssertionError(
            f"no {n_lines} {marker} lines seen (exit {self.proc.poll()}):\n"
            + "".join(self.out)[-3000:]
            + "".join(self.err)[-3000:]
        )

    def wait(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, 9)
            raise
        for t in self.threads:
            t.join(timeout=5)
        return self.proc.returncode, "".join(self.out), "".join(self.err)


def exited(pid) -> bool:
    """Gone, or a zombie (exited; its launcher has not reaped it yet)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def leftovers(pgid: int) -> list:
    """Processes still alive in the session of a finished run (should be none)."""
    import psutil

    time.sleep(0.3)
    alive = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc.info)
        except (psutil.Error, ProcessLookupError):
            pass
    return alive


@pytest.fixture(scope="session", autouse=True)
def numba_cache_warm():
    """Compile the Numba scan kernels once, in this process, before any test launches ranks.

    On a fresh checkout the cold compile takes ~30 s; without this, every rank of the first MPI job
    would compile the same kernels at the same time (and a 4-rank job on 2 cores four times slower).
    """
    if os.environ.get("MPIAPP_UNDER_MPIEXEC"):  # a rank: numba must load after the thread plan
        yield
        return
    from mpiapp import config
    from mpiapp.engines.scan import ScanParams, scan_symbol
    from mpiapp.io import synthetic

    series, _ = synthetic.generate(0, 0, 900, 1.0, 0.1, 1)
    params = ScanParams.from_config(config.load(overrides=["scan.window_bars=300"]).scan)
    scan_symbol(series, params, "numba")
    yield
