"""The SPMD runtime: MPI start-up, error agreement, thread plan, logging, timers.

A job calls `start(cfg)` once, before importing numba/torch/lightgbm/xgboost, then `rt.enforce()`
after those imports. Every communicating function takes `comm=None` (default: the library's
duplicate of COMM_WORLD, see comm.py).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

from . import comm as comm_mod
from . import dynamic, errors, log, threads
from .profile import Timers

__all__ = ["Runtime", "start", "errors", "threads", "Timers"]


@dataclass
class Runtime:
    comm: object
    rank: int
    size: int
    thread_plan: threads.ThreadPlan
    log: logging.Logger
    timers: Timers = field(default_factory=Timers)
    work_counter: str = "rma"

    def enforce(self) -> dict:
        """Apply the thread plan to the libraries imported since start (call after heavy imports)."""
        seen = threads.enforce(self.thread_plan)
        self.log.debug("threads enforced: %s", seen)
        return seen


def start(cfg, comm=None, serial_phases: bool = False) -> Runtime:
    """Initialise MPI (thread level from the config), error handling, logging, the work counter's mode
    (runtime.dynamic.detect, collective) and the thread plan.

    serial_phases: the job's threaded kernels run between serial phases of the same rank (the scan);
    with runtime.omp_wait_policy=auto its idle OpenMP threads then sleep at once (threads.wait_policy)."""
    rc = cfg.runtime
    try:
        comm_mod.mpi(rc.mpi_thread_level)
    except ImportError as exc:  # no mpi4py in this interpreter: a setup error, said once, exit 2
        if comm_mod.launcher_rank() == 0:
            print(f"mpiapp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    errors.install()
    c = comm_mod.world(comm)
    rank, size = c.Get_rank(), c.Get_size()
    logger = log.setup(rank, size, rc.log_level, rc.log_all_ranks)
    counter = dynamic.detect(rc.work_counter, comm=c)
    logger.debug("work counter: %s (%s)", counter, dynamic.why())
    plan = threads.plan(rc.threads_per_rank, comm=c)
    wait = threads.wait_policy(rc.omp_wait_policy, serial_phases, plan.oversubscribed)
    threads.apply_env(plan, rc.numba_threading_layer, wait=wait)
    for w in plan.warnings:
        if plan.local_rank == 0 or "bound" in w:
            logger.warning(w)
    return Runtime(comm=c, rank=rank, size=size, thread_plan=plan, log=logger, work_counter=counter)
