"""`python -m mpiapp.hpo`: an Optuna search driven over MPI; rank 0 owns the study (journal file).

    mpiexec -n 2 python -m mpiapp.hpo                          # demo: scan objective, 20 trials
    mpiexec -n 4 python -m mpiapp.hpo --objective mymod:fn --space space.yaml --trials 200
    mpiexec -n 4 python -m mpiapp.hpo --set hpo.ranks_per_trial=2 --set hpo.pruner=median
    srun python -m mpiapp.hpo --resume                          # continue a stopped search

With no arguments it tunes the scan (`--objective scan`) for 20 trials: recall of impulses planted in
a seeded synthetic universe (hpo.scan_symbols symbols of hpo.scan_bars bars, generated in-process)
minus false alarms on as many random walks. (The real embedded series have no ground truth to score
recall against.)

Files: results/hpo.h5 (trials and profile tables, provenance), results/hpo.journal (the Optuna
journal: `optuna.load_study(study_name="mpiapp", storage=JournalStorage(JournalFileBackend(PATH)))`),
results/hpo.best.yaml (the best parameters, a config file of the target job).

Exit codes: 0 complete; 1 a rank failed (or a trial raised with hpo.on_trial_error=abort); 2 bad input
or configuration (nothing computed); 75 stopped by SIGTERM/SIGUSR1 (resumable with --resume).
"""

from __future__ import annotations

import sys

#: the search's own flags -> config keys (besides --config/--set/--out/--resume/--force/--profile)
FLAGS = {"objective": "hpo.objective", "space": "hpo.space", "trials": "hpo.trials", "study": "hpo.study"}


def parse(argv=None):
    """The search's flags (the work loop's --data/--partition/--progress do not apply to it)."""
    from . import cli

    ap = cli.parser("hpo", __doc__, work_flags=False)
    ap.add_argument("--objective", metavar="NAME", help="scan, train, optbench, demo or MODULE:FUNCTION")
    ap.add_argument("--space", metavar="FILE", help="search space YAML (default: the objective's own)")
    ap.add_argument("--trials", type=int, metavar="N", help="hpo.trials: trials that end with a result")
    ap.add_argument("--study", metavar="NAME", help="hpo.study: the study's name in the journal")
    return ap.parse_args(argv)


def _overrides(args) -> list[str]:
    from . import cli

    return cli.overrides_from(args, FLAGS)


def _show(summary: dict) -> None:
    files = summary["files"]
    states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(summary["states"].items()))
    print(f"search complete: {files.out}")
    print(f"  trials: {states}   wall {summary['wall_s']:.1f} s")
    print(f"  best value {summary['best_value']}  params {summary['best']}")
    if summary["best"] is not None:
        print(f"  best parameters: {files.best}")
    print(f"  journal: {files.journal}")


def main(argv=None) -> int:
    args = parse(argv)
    from .runtime import signals

    signals.install()
    from . import config

    try:
        cfg = config.load(args.config, _overrides(args))
    except config.ConfigError as exc:
        print(f"mpiapp hpo: config error: {exc}", file=sys.stderr)
        return 2
    if cfg.hpo.ranks_per_trial > 1:  # rank 0's evaluator thread talks to its group (runtime/trials.py)
        cfg.runtime["mpi_thread_level"] = "multiple"
    from .engines.hpo import job
    from .runtime import errors, start
    from .work import Context

    rt = start(cfg, serial_phases=cfg.hpo.objective == "scan")  # the scan objective runs the scan's kernels
    ctx = Context(cfg, rt)
    try:
        code, summary = job.run(ctx, force=args.force, resume=args.resume, profile=args.profile)
    except errors.JobError as exc:
        if rt.rank == 0:
            print(f"mpiapp hpo: {exc}", file=sys.stderr)
        return exc.exit_code
    if rt.rank == 0 and code == 0:
        _show(summary)
    elif rt.rank == 0 and code == signals.EXIT_RESUMABLE:
        print("mpiapp hpo: interrupted; the journal is consistent: rerun with --resume", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
