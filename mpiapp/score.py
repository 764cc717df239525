"""`python -m mpiapp.score`: the Elliott-wave impulse scan over many symbols, on every rank.

    mpiexec -n 2 python -m mpiapp.score                       # builtin:all -> results/score.h5
    mpirun -n 64 python -m mpiapp.score --config configs/high_perf.yaml --data csv:prices/
    srun python -m mpiapp.score --resume                      # inside sbatch, after preemption

Exit codes: 0 complete; 1 a rank failed (job aborted, the .partial file resumes); 2 bad input or
configuration (nothing computed); 75 stopped by SIGTERM/SIGUSR1 (resumable with --resume).
"""

from __future__ import annotations

import argparse
import sys


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m mpiapp.score", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--config", action="append", default=[], metavar="FILE",
                    help="YAML config or preset name (default, high_perf, speed, laptop); repeatable")  # fmt: skip
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                    help="override one key, e.g. --set scan.up_to=4 (see docs/config.md)")  # fmt: skip
    ap.add_argument("--data", metavar="SOURCE", help="data.source: builtin:all, csv:DIR, parquet:DIR, "
                    "hdf5:FILE, synthetic:N")  # fmt: skip
    ap.add_argument("--out", metavar="FILE", help="output.path (default results/score.h5)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue FILE.partial from an interrupted run")
    g.add_argument("--force", action="store_true", help="replace an existing results file")
    ap.add_argument("--partition", choices=("static", "dynamic"), help="score.partition")
    ap.add_argument("--progress", dest="progress", action="store_const", const="on",
                    help="progress bar on rank 0 (default: only when stderr is a terminal); the last of "
                    "--progress / --no-progress wins")  # fmt: skip
    ap.add_argument("--no-progress", dest="progress", action="store_const", const="off", help="no progress bar")
    ap.add_argument("--profile", action="store_true", help="also write a cProfile file per rank (FILE.rankN.prof)")
    return ap.parse_args(argv)


def overrides_from(args) -> list[str]:
    extra = list(args.overrides)
    for flag, key in (("data", "data.source"), ("out", "output.path"), ("partition", "score.partition"),
                      ("progress", "score.progress")):  # fmt: skip
        v = getattr(args, flag)
        if v is not None:
            extra.append(f"{key}={v}")
    return extra


def main(argv=None) -> int:
    args = parse(argv)
    from . import config

    try:
        cfg = config.load(args.config, overrides_from(args))
    except config.ConfigError as exc:
        print(f"mpiapp score: config error: {exc}", file=sys.stderr)
        return 2
    from .runtime import errors, start

    rt = start(cfg)
    from .engines.scan.distributed import run

    progress = {"on": True, "off": False}.get(cfg.score.progress, sys.stderr.isatty())
    try:
        outcome = run(cfg, rt, out=cfg.output.path, force=args.force, resume=args.resume,
                      want_profile=args.profile, progress=progress)  # fmt: skip
    except errors.JobError as exc:
        if rt.rank == 0:
            print(f"mpiapp score: {exc}", file=sys.stderr)
        return exc.exit_code
    if rt.rank == 0:
        if outcome.status == "complete":
            from .report import format_summary

            print(format_summary(outcome.summary, outcome.path))
        else:
            print(f"mpiapp score: interrupted; resumable: {outcome.path} (rerun with --resume)", file=sys.stderr)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
