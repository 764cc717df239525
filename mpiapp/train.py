"""`python -m mpiapp.train`: one model per symbol and family, purged walk-forward CV, on every rank.

    mpiexec -n 2 python -m mpiapp.train                           # builtin:all -> results/train.h5
    mpiexec -n 2 python -m mpiapp.train --data builtin:sp500stocks --families lgbm,rf
    mpiexec -n 4 python -m mpiapp.train --scan results/score.h5   # impulse-scan features, as known then
    srun python -m mpiapp.train --resume                          # inside sbatch, after preemption

Units are (symbol, family, fold); rank 0 plans them, every rank trains its share. Exit codes: 0
complete; 1 a rank failed (job aborted, the .partial file resumes); 2 bad input or configuration, or
a family's library is missing (nothing computed); 3 complete, but some units failed and were
recorded (train.on_error=record; see the failures table); 75 stopped by SIGTERM/SIGUSR1 (resumable
with --resume).
"""

from __future__ import annotations

from . import cli

FAMILIES = ("lgbm", "xgb", "rf", "mlp", "ridge")


def parse(argv=None):
    ap = cli.parser("train", __doc__)
    ap.add_argument(
        "--families",
        metavar="LIST",
        type=_families,
        help="train.families, comma-separated from lgbm, xgb, rf, mlp, ridge (ridge, the baseline, "
        "is always trained)",
    )
    ap.add_argument("--scan", metavar="FILE", help="train.scan_file: a results file of mpiapp.score")
    return ap.parse_args(argv)


def _families(text: str) -> str:
    import argparse

    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in FAMILIES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(FAMILIES)}")
    return "[" + ",".join(names) + "]"


def _build(ctx):
    from .engines.train.job import build

    return build(ctx)


def _show(outcome) -> None:
    from .engines.train.report import run_summary

    print(run_summary(outcome.summary, outcome.path))


def main(argv=None) -> int:
    return cli.main(
        "train",
        parse(argv),
        _build,
        _show,
        extra_flags={"families": "train.families", "scan": "train.scan_file"},
    )


if __name__ == "__main__":
    from .runtime.comm import exit_process

    exit_process(main())
