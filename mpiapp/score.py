"""`python -m mpiapp.score`: the Elliott-wave impulse scan over many symbols, on every rank.

    mpiexec -n 2 python -m mpiapp.score                       # builtin:all -> results/score.h5
    mpirun -n 64 python -m mpiapp.score --config high_perf --data csv:prices/
    srun python -m mpiapp.score --resume                      # inside sbatch, after preemption

Exit codes: 0 complete; 1 a rank failed (job aborted, the .partial file resumes); 2 bad input or
configuration (nothing computed); 75 stopped by SIGTERM/SIGUSR1 (resumable with --resume).
"""

from __future__ import annotations

from . import cli


def parse(argv=None):
    return cli.parser("score", __doc__).parse_args(argv)


def _build(ctx):
    from .engines.scan.job import build

    return build(ctx)


def _show(outcome) -> None:
    from .engines.scan.summary import format_summary

    print(format_summary(outcome.summary, outcome.path))


def main(argv=None, build=None) -> int:
    """Run the scan from command-line arguments; returns the exit code. build(ctx) -> JobSpec: the
    scan's own unless given (a test program wraps its run_unit to inject a fault)."""
    return cli.main("score", parse(argv), build or _build, _show, serial_phases=True)


if __name__ == "__main__":
    from .runtime.comm import exit_process

    exit_process(main())
