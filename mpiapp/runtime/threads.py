"""Thread planning: how many compute threads this rank may run, decided before heavy imports.

Budget = CPUs of this node that the ranks on it may use (union of their affinity masks, capped by a
cgroup CPU quota), divided by the ranks on the node. A rank bound by the launcher to fewer CPUs
than its share is capped to its binding and warned about. The plan is applied through environment
variables *before* numba / torch / OpenMP libraries are imported (NUMBA_NUM_THREADS is read once at
import), then enforced *after* through threadpoolctl, numba.set_num_threads and torch.set_num_threads.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import comm as _comm

log = logging.getLogger("mpiapp.runtime")

THREAD_ENV = (
    "OMP_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass(frozen=True)
class ThreadPlan:
    threads: int  # compute threads this rank runs
    cpus: tuple  # CPUs this rank is bound to (its affinity mask)
    node_cpus: int  # CPUs the ranks of this node may use together
    local_rank: int
    local_size: int
    cgroup_cpus: float | None  # cgroup quota in CPUs, None when unlimited
    oversubscribed: bool  # more ranks on the node than CPUs: one thread each, CPUs shared
    warnings: tuple = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["cpus"] = cpu_list(self.cpus)
        return d


def cpu_list(cpus) -> str:
    """'0-3,8' style list of CPU ids."""
    cpus = sorted(cpus)
    out, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def affinity() -> tuple:
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return tuple(range(os.cpu_count() or 1))


def cgroup_cpus(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 cpu.max or v1 cfs quota), None if unlimited."""
    base = Path(root)
    try:
        text = (base / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((base / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((base / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def compute_plan(my_cpus, node_masks, local_rank, requested=0, quota=None) -> ThreadPlan:
    """Pure planning rule (unit-tested without MPI).

    my_cpus: this rank's affinity; node_masks: every local rank's affinity; requested: 0 = auto.
    """
    local_size = len(node_masks)
    union = set().union(*map(set, node_masks)) if node_masks else set(my_cpus)
    node_cpus = len(union)
    if quota is not None:
        node_cpus = max(1, min(node_cpus, math.floor(quota)))
    share = max(1, node_cpus // local_size)
    warnings = []
    oversubscribed = local_size > node_cpus
    if oversubscribed:
        warnings.append(
            f"{local_size} ranks on a node with {node_cpus} usable CPUs: one thread per rank, "
            f"CPUs are shared (oversubscribed)"
        )
    threads = share
    if requested:
        if requested > share:
            warnings.append(
                f"runtime.threads_per_rank={requested} x {local_size} ranks > {node_cpus} CPUs on this "
                f"node; using {share}"
            )
        threads = min(requested, share)
    if len(my_cpus) < threads:
        warnings.append(
            f"rank bound to {len(my_cpus)} CPU(s) ({cpu_list(my_cpus)}) but planned {threads} threads; "
            f"using {len(my_cpus)} (launch with --bind-to none or --map-by slot:PE={threads})"
        )
        threads = len(my_cpus)
    return ThreadPlan(
        threads=max(1, threads),
        cpus=tuple(my_cpus),
        node_cpus=node_cpus,
        local_rank=local_rank,
        local_size=local_size,
        cgroup_cpus=quota,
        oversubscribed=oversubscribed,
        warnings=tuple(warnings),
    )


def plan(requested: int = 0, comm=None) -> ThreadPlan:
    """Collective over the node: every rank learns its thread count."""
    comm = _comm.world(comm)
    node = _comm.node_comm(comm)
    try:
        mine = affinity()
        masks = node.allgather(mine)
        return compute_plan(mine, masks, node.Get_rank(), requested, cgroup_cpus())
    finally:
        node.Free()


def wait_policy(setting: str, kernels_between_serial_phases: bool, oversubscribed: bool) -> str | None:
    """OMP_WAIT_POLICY for a job (runtime.omp_wait_policy); None leaves the OpenMP library's default.

    auto: PASSIVE when the job's threaded kernels run between serial phases of the same rank (the
    scan: Numba's 4–5 parallel regions per symbol with Python in between — spinning threads took 3x
    the CPU per symbol under load) or when the node is oversubscribed (spinning threads steal the
    cores of other ranks: a 2-thread LightGBM fit 11x slower at load 14); otherwise the library's
    default, which spins briefly before sleeping: a LightGBM fit has many short parallel regions, and
    on dedicated cores waking sleeping threads for each made 2-thread fits 2.5x slower (200 symbols x
    5 folds at -n 1 on 2 cores: 274 s passive against 108 s for the same fits spinning)."""
    if setting != "auto":
        return setting.upper()
    return "PASSIVE" if kernels_between_serial_phases or oversubscribed else None


def apply_env(
    p: ThreadPlan, threading_layer: str | None = None, env=None, wait: str | None = "PASSIVE"
) -> None:
    """Set the thread variables libraries read at import (call before importing numba/torch).

    wait: OMP_WAIT_POLICY to set unless the environment has one (None: leave the library's default)."""
    env = os.environ if env is None else env
    for var in THREAD_ENV:
        if var == "NUMBA_NUM_THREADS" and "numba" in sys.modules:
            # numba read it at import and refuses a change once its pool runs; enforce() applies the
            # plan with numba.set_num_threads instead
            continue
        env[var] = str(p.threads)
    if threading_layer and threading_layer != "default":
        env["NUMBA_THREADING_LAYER"] = threading_layer
    if wait:  # see wait_policy(); a user's OMP_WAIT_POLICY wins
        env.setdefault("OMP_WAIT_POLICY", wait)


_limits = None  # keeps threadpoolctl's limits alive for the process


def enforce(p: ThreadPlan) -> dict:
    """Apply the plan to the libraries already imported; return what each one now runs with."""
    global _limits
    from threadpoolctl import threadpool_info, threadpool_limits

    _limits = threadpool_limits(limits=p.threads)
    seen = {"threadpoolctl": sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})}
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(p.threads, numba.config.NUMBA_NUM_THREADS))
        seen["numba"] = numba.get_num_threads()
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(p.threads)
        seen["torch"] = torch.get_num_threads()
    return seen
