"""`mpiapp <job> [args]` and `python -m mpiapp <job> [args]`: dispatch to mpiapp.<job>.main.

Jobs are imported only when chosen, so `--help` never pays for torch, cupy or numba.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Callable

from . import exits


@dataclass(frozen=True)
class JobInfo:
    """What a job is and can do; the launch kit, `report`, `results.load` and the shared command
    line (cli.main) read it.

    doc: one line; mpi: runs on every rank under mpiexec/srun (False: a plain one-process tool);
    resume: writes results/<name>.h5 through the shared shell (--out, --resume, --force, exit 75 on a
    stop signal: the sbatch scripts requeue it); gpu: uses a GPU when one is visible; report: the
    module that reports its files (`text(path)`, `plot(path, dir)`);
    table: the table `mpiapp.results.load(path)` returns by default; thread_level(cfg): the MPI
    thread level the job needs with that config (None: runtime.mpi_thread_level as configured).
    """

    doc: str
    mpi: bool = False
    resume: bool = False
    gpu: bool = False
    report: str | None = None
    table: str | None = None
    thread_level: Callable | None = None


def _hpo_thread_level(cfg) -> str | None:
    """Groups of several ranks: rank 0's evaluator thread talks to its group (runtime/trials.py)."""
    return "multiple" if cfg.hpo.ranks_per_trial > 1 else None


#: job name -> what it is; each is a module mpiapp.<job> with main(argv) -> int
JOBS = {
    "score": JobInfo(
        "Elliott-wave impulse scan over many symbols and windows",
        mpi=True,
        resume=True,
        gpu=True,
        report="mpiapp.engines.scan.report",
        table="patterns",
    ),
    "train": JobInfo(
        "per-symbol models (LightGBM, XGBoost, random forest, torch MLP), purged walk-forward CV",
        mpi=True,
        resume=True,
        gpu=True,
        report="mpiapp.engines.train.report",
        table="metrics",
    ),
    "optbench": JobInfo(
        "first-order optimizer benchmark grid with exact optima, timing and memory",
        mpi=True,
        resume=True,
        gpu=True,
        report="mpiapp.engines.optbench.report",
        table="summary",
    ),
    "hpo": JobInfo(
        "Optuna search over MPI: rank 0 owns the study, groups of ranks evaluate trials",
        mpi=True,
        resume=True,
        report="mpiapp.engines.hpo.report",
        table="trials",
        thread_level=_hpo_thread_level,
    ),
    "ddp": JobInfo(
        "one global torch model trained data-parallel (DDP over gloo/nccl) on every symbol's features",
        mpi=True,
        resume=True,
        gpu=True,
        report="mpiapp.engines.ddp.report",
        table="epochs",
    ),
    "report": JobInfo("summary, top patterns, profile and charts from a results file"),
    "info": JobInfo("versions, MPI, parallel HDF5, threads and GPUs of every rank", mpi=True),
    "config": JobInfo("print the effective configuration, or the key reference"),
    "launch": JobInfo("render sbatch / mpirun scripts with the right binding, network profile and requeue"),
}


def usage() -> str:
    lines = ["usage: mpiapp <job> [options]   (or: python -m mpiapp.<job> [options])", "", "jobs:"]
    lines += [f"  {k:<8} {v.doc}" for k, v in JOBS.items()]
    lines += ["", "`mpiapp <job> --help` describes a job's options."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return exits.OK
    job, rest = argv[0], argv[1:]
    if job not in JOBS:
        print(f"mpiapp: unknown job {job!r}\n\n{usage()}", file=sys.stderr)
        return exits.USAGE
    module = importlib.import_module(f"mpiapp.{job}")
    return module.main(rest)


if __name__ == "__main__":
    code = main()
    if "mpi4py.MPI" in sys.modules:  # an MPI job ran: end it without the interpreter's teardown
        from .runtime.comm import exit_process

        exit_process(code)
    sys.exit(code)
