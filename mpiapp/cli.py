"""What every work-layer job's command line shares: flags, config loading, start-up, exit codes.

Why one place: `score`, `train`, `optbench`, ... take the same --config/--set/--data/--out/--resume/
--force/--partition/--progress/--profile flags and end with the same exit codes (0 complete, 1 a rank
failed, 2 bad input or configuration, 75 stopped by a signal and resumable). A job's module adds its
own flags to `parser(...)` and passes a `build(ctx) -> JobSpec` to `main(...)`.
"""

from __future__ import annotations

import argparse
import sys

#: flag -> config key it sets (a flag given on the command line wins over files and --set)
FLAG_KEYS = {"data": "data.source", "out": "output.path", "partition": "work.partition",
             "progress": "work.progress"}  # fmt: skip


def parser(job: str, doc: str, work_flags: bool = True) -> argparse.ArgumentParser:
    """The shared flags of a job; add the job's own to the returned parser.

    work_flags: also --data, --partition and --progress (jobs whose units the work loop hands out).
    """
    ap = argparse.ArgumentParser(prog=f"python -m mpiapp.{job}", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--config", action="append", default=[], metavar="FILE",
                    help="YAML config or preset name (default, high_perf, speed, laptop); repeatable")  # fmt: skip
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                    help="override one key, e.g. --set scan.up_to=4 (see docs/config.md)")  # fmt: skip
    if work_flags:
        ap.add_argument("--data", metavar="SOURCE", help="data.source: builtin:all, csv:DIR, parquet:DIR, "
                        "hdf5:FILE, synthetic:N")  # fmt: skip
    ap.add_argument("--out", metavar="FILE", help=f"output.path (default results/{job}.h5)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue FILE.partial from an interrupted run")
    g.add_argument("--force", action="store_true", help="replace an existing results file")
    if work_flags:
        ap.add_argument("--partition", choices=("static", "dynamic"), help="work.partition")
        ap.add_argument("--progress", dest="progress", action="store_const", const="on",
                        help="progress bar on rank 0 (default: only when stderr is a terminal); the last of "
                        "--progress / --no-progress wins")  # fmt: skip
        ap.add_argument("--no-progress", dest="progress", action="store_const", const="off", help="no progress bar")
    ap.add_argument("--profile", action="store_true", help="also write a cProfile file per rank (FILE.rankN.prof)")
    return ap


def overrides_from(args, extra_flags: dict | None = None) -> list[str]:
    """--set items, then the flags that set keys (FLAG_KEYS plus the job's own `extra_flags`)."""
    out = list(args.overrides)
    for flag, key in {**FLAG_KEYS, **(extra_flags or {})}.items():
        v = getattr(args, flag, None)
        if v is not None:
            out.append(f"{key}={v}")
    return out


def load_config(job: str, args, extra_flags: dict | None = None):
    """Install the stop-signal handlers, then load the configuration of `args`; None (after printing
    the one-line error) when it is invalid — the caller exits 2."""
    from .runtime import signals

    signals.install()  # from the first moment: a stop before the loop still ends resumably (75)
    from . import config

    try:
        return config.load(args.config, overrides_from(args, extra_flags))
    except config.ConfigError as exc:
        from .runtime.comm import launcher_rank

        if launcher_rank() == 0:  # every rank exits 2; one of them says why
            print(f"mpiapp {job}: config error: {exc}", file=sys.stderr)
        return None


def main(job: str, args, build, show=None, extra_flags: dict | None = None, rounds=None,
         serial_phases: bool = False) -> int:
    """Run a work-layer job from parsed `args`; returns the exit code.

    build(ctx) -> JobSpec: collective, may raise errors.JobError; show(outcome): prints the summary
    (rank 0, complete runs only); rounds: a feed function for units fed in rounds (work.sources.Rounds).
    serial_phases: see runtime.start (the scan's threaded kernels run between serial phases).
    """
    cfg = load_config(job, args, extra_flags)
    if cfg is None:
        return 2
    from . import config
    from .runtime import errors, start
    from .io.sources import spec_path
    from .work import Context, RunOptions, run_job, visibility

    rt = start(cfg, serial_phases=serial_phases)
    ctx = Context(cfg, rt)
    progress = {"on": True, "off": False}.get(cfg.work.progress, sys.stderr.isatty())
    opts = RunOptions(out=config.output_path(cfg, job), force=args.force, resume=args.resume,
                      progress=progress, profile=args.profile, rounds=rounds)  # fmt: skip
    try:
        # the data before the job opens it on every rank: a folder some host lacks is named with the host
        visibility.require([], [p for p in [spec_path(cfg.data.source)] if p], comm=rt.comm)
        outcome = run_job(build(ctx), ctx, opts)
    except errors.JobError as exc:
        if rt.rank == 0:
            print(f"mpiapp {job}: {exc}", file=sys.stderr)
        return exc.exit_code
    if rt.rank == 0:
        if outcome.status == "complete":
            if show is not None:
                show(outcome)
        else:
            print(f"mpiapp {job}: interrupted; resumable: {outcome.path} (rerun with --resume)", file=sys.stderr)
    return outcome.exit_code
