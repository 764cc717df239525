"""What every job's command line shares: flags, config loading, start-up, exit codes.

Why one place: `score`, `train`, `optbench`, `ddp` and `hpo` take the same --config/--set/--out/
--resume/--force/--progress/--profile flags (and --data/--partition where they mean something) and
end with the same exit codes (0 complete, 1 a rank failed, 2 bad input or configuration, 75 stopped
by a signal and resumable). A job's module adds its own flags to `parser(...)` and passes `main(...)`
either a `build(ctx) -> JobSpec` (a job of work units, run by work.run_job) or a `run(ctx, opts) ->
work.Outcome` (a job without units, built on the same shell: work.output.Claim, work.provenance).
What a job needs at start-up besides its flags (its MPI thread level) comes from its line in JOBS
(mpiapp/__main__.py).
"""

from __future__ import annotations

import argparse
import sys

from . import exits

#: flag -> config key it sets (a flag given on the command line wins over files and --set)
FLAG_KEYS = {
    "data": "data.source",
    "out": "output.path",
    "partition": "work.partition",
    "progress": "work.progress",
}


class Parser(argparse.ArgumentParser):
    """argparse, said once: under mpiexec every rank parses the same command line, and only the first
    rank of the launch prints the usage, an error (exit 2) or --help; the others exit the same way
    silently. No abbreviations: `--data` is never taken for another job's `--data-dir`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _print_message(self, message, file=None):
        from .runtime.comm import launcher_rank

        if launcher_rank() == 0:
            super()._print_message(message, file)


def parser(job: str, doc: str, data: bool = True, partition: bool = True) -> argparse.ArgumentParser:
    """The shared flags of a job; add the job's own to the returned parser.

    data: also --data (the job reads data.source); partition: also --partition (the work loop hands
    out units: work.partition applies).
    """
    ap = Parser(
        prog=f"python -m mpiapp.{job}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML config or preset name (default, high_perf, speed, laptop); repeatable",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one key, e.g. --set scan.up_to=4 (see docs/config.md)",
    )
    if data:
        ap.add_argument(
            "--data",
            metavar="SOURCE",
            help="data.source: builtin:all, csv:DIR, parquet:DIR, hdf5:FILE, synthetic:N",
        )
    ap.add_argument("--out", metavar="FILE", help=f"output.path (default results/{job}.h5)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue FILE.partial from an interrupted run")
    g.add_argument("--force", action="store_true", help="replace an existing results file")
    if partition:
        ap.add_argument("--partition", choices=("static", "dynamic"), help="work.partition")
    ap.add_argument(
        "--progress",
        dest="progress",
        action="store_const",
        const="on",
        help="progress bar on rank 0 (default: only when stderr is a terminal); the last of "
        "--progress / --no-progress wins",
    )
    ap.add_argument(
        "--no-progress", dest="progress", action="store_const", const="off", help="no progress bar"
    )
    ap.add_argument(
        "--profile", action="store_true", help="also write a cProfile file per rank (FILE.rankN.prof)"
    )
    return ap


def overrides_from(args, extra_flags: dict | None = None) -> list[str]:
    """--set items, then the flags that set keys (FLAG_KEYS plus the job's own `extra_flags`)."""
    out = list(args.overrides)
    for flag, key in {**FLAG_KEYS, **(extra_flags or {})}.items():
        v = getattr(args, flag, None)
        if v is not None:
            out.append(f"{key}={v}")
    return out


def load_config(job: str, args, extra_flags: dict | None = None, stops: bool = True):
    """Install the stop-signal handlers (unless `stops` is False: a job with nothing to stop), then
    load the configuration of `args`; None (after printing the one-line error, once) when it is
    invalid — the caller exits 2."""
    from .runtime import signals

    if stops:  # from the first moment: a stop before the loop still ends resumably (75)
        signals.install(who=f"mpiapp {job}")
    from . import config

    try:
        return config.load(args.config, overrides_from(args, extra_flags), job=job)
    except config.ConfigError as exc:
        from .runtime.comm import launcher_rank

        if launcher_rank() == 0:  # every rank exits 2; one of them says why
            print(f"mpiapp {job}: config error: {exc}", file=sys.stderr)
        return None


def main(
    job: str,
    args,
    build=None,
    show=None,
    extra_flags: dict | None = None,
    rounds=None,
    serial_phases=False,
    run=None,
) -> int:
    """Run a job from parsed `args`; returns the exit code.

    build(ctx) -> JobSpec: a job of work units (collective, may raise errors.JobError), run by
    work.run_job; run(ctx, opts) -> work.Outcome: a job without units, run instead (collective;
    errors.JobError -> its exit code). show(outcome): prints the summary (rank 0, complete runs
    only); rounds: a feed function for units fed in rounds (work.sources.Rounds). serial_phases (or
    a function of the config): see runtime.start (the scan's threaded kernels run between serial
    phases). The config is loaded once, before MPI; a config error is said once (rank 0), exit 2.
    Once the outcome is decided a stop signal is ignored (runtime.signals.settle): the exit code
    is the job's, never a signal's.
    """
    cfg = load_config(job, args, extra_flags)
    if cfg is None:
        return exits.USAGE
    from . import config
    from .__main__ import JOBS
    from .io.sources import spec_path
    from .runtime import errors, signals, start
    from .work import Context, RunOptions, run_job, visibility

    info = JOBS.get(job)
    level = info.thread_level(cfg) if info is not None and info.thread_level is not None else None
    if level:
        cfg.runtime["mpi_thread_level"] = level
    rt = start(cfg, serial_phases=serial_phases(cfg) if callable(serial_phases) else serial_phases)
    ctx = Context(cfg, rt)
    progress = {"on": True, "off": False}.get(cfg.work.progress, sys.stderr.isatty())
    opts = RunOptions(
        out=config.output_path(cfg, job),
        force=args.force,
        resume=args.resume,
        progress=progress,
        profile=args.profile,
        rounds=rounds,
        inputs=config.files(args.config),
    )
    try:
        # the data before the job opens it on every rank: a folder some host lacks is named with the host
        visibility.require([], [p for p in [spec_path(cfg.data.source)] if p], comm=rt.comm)
        outcome = run(ctx, opts) if run is not None else run_job(build(ctx), ctx, opts)
    except errors.JobError as exc:
        signals.settle()
        if rt.rank == 0:
            print(f"mpiapp {job}: {exc}", file=sys.stderr)
        return exc.exit_code
    signals.settle()
    if rt.rank == 0:
        if outcome.status == "complete":
            if show is not None:
                show(outcome)
        else:
            print(
                f"mpiapp {job}: interrupted; resumable: {outcome.path} (rerun with --resume)", file=sys.stderr
            )
    signals.test_hold("exit")
    return outcome.exit_code
