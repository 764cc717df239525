"""`python -m mpiapp.optbench`: a first-order optimizer benchmark with exact optima, on every rank.

    mpiexec -n 2 python -m mpiapp.optbench                        # the default grid, about a minute
    mpiexec -n 2 python -m mpiapp.optbench --problems lsq-k1e6-d100,digits --optimizers sgd,adam
    python -m mpiapp.report results/optbench.h5 --plot results/optbench_png

The grid (problems x optimizers x backends x step scales x batch sizes x seeds) is planned by rank 0
with cell costs (LPT); each cell is one run per curve against the true optimum f*, timed with the
device synchronised before every clock read, its memory measured in a separate run. Cell results are
cached by content (OUTPUT.cache/): a rerun skips cached cells; failed or diverged cells are always
rerun. Exit codes: 0 complete; 1 a rank failed; 2 bad input or configuration; 75 stopped by
SIGTERM/SIGUSR1 (resumable with --resume, at any rank count).
"""

from __future__ import annotations

from . import cli

LISTS = {
    "problems": "optbench.problems",
    "optimizers": "optbench.optimizers",
    "backends": "optbench.backends",
}


def parse(argv=None):
    ap = cli.parser(
        "optbench", __doc__, data=False
    )  # its data sets are named problems (--problems, --data-dir)
    ap.add_argument("--problems", metavar="A,B", help="optbench.problems, comma-separated")
    ap.add_argument(
        "--optimizers", metavar="A,B", help="optbench.optimizers: sgd,momentum,nesterov,adam,adamw"
    )
    ap.add_argument("--backends", metavar="A,B", help="optbench.backends: numpy,torch,cupy,jax")
    ap.add_argument(
        "--data-dir",
        dest="data_dir",
        metavar="DIR",
        help="optbench.data_dir: california_housing.csv, mnist.npz",
    )
    args = ap.parse_args(argv)
    for flag in LISTS:  # "a,b" -> a YAML list for --set
        v = getattr(args, flag)
        if v is not None:
            setattr(args, flag, "[" + ", ".join(x.strip() for x in v.split(",") if x.strip()) + "]")
    return args


def _build(ctx):
    from .engines.optbench.job import build

    return build(ctx)


def _show(outcome) -> None:
    from .engines.optbench.job import format_summary

    print(format_summary(outcome.summary, outcome.path))


def main(argv=None) -> int:
    return cli.main(
        "optbench", parse(argv), _build, _show, extra_flags={**LISTS, "data_dir": "optbench.data_dir"}
    )


if __name__ == "__main__":
    from .runtime.comm import exit_process

    exit_process(main())
