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
or configuration (nothing computed, nothing written); 75 stopped by SIGTERM/SIGUSR1 (resumable with
--resume).
"""

from __future__ import annotations

from . import cli

#: the search's own flags -> config keys (besides the shared flags of every job)
FLAGS = {"objective": "hpo.objective", "space": "hpo.space", "trials": "hpo.trials", "study": "hpo.study"}


def parse(argv=None):
    """The shared flags (--data for the objectives that read data.source; no --partition: trials are
    handed out by rank 0, not by work.partition) and the search's own."""
    ap = cli.parser("hpo", __doc__, partition=False)
    ap.add_argument("--objective", metavar="NAME", help="scan, train, optbench, demo or MODULE:FUNCTION")
    ap.add_argument("--space", metavar="FILE", help="search space YAML (default: the objective's own)")
    ap.add_argument("--trials", type=int, metavar="N", help="hpo.trials: trials that end with a result")
    ap.add_argument("--study", metavar="NAME", help="hpo.study: the study's name in the journal")
    return ap.parse_args(argv)


#: the built-in objectives that read data.source (the others generate or name their own data)
READS_DATA = ("train",)


def data_flag_problem(objective: str) -> str | None:
    """Why --data cannot go with `objective` (None when it can): a built-in objective that reads no
    data.source would ignore it. A MODULE:FUNCTION objective may read it (ctx.cfg.data)."""
    if ":" in objective or objective in READS_DATA:
        return None
    return (
        f"--data: the {objective} objective does not read data.source (it makes its own data; see "
        f"python -m mpiapp.hpo --help); --data goes with --objective {' or '.join(READS_DATA)}"
    )


def _run(ctx, opts, data_flag=None):
    from .engines.hpo import job
    from .runtime import errors

    problem = data_flag_problem(ctx.cfg.hpo.objective) if data_flag else None
    if problem:  # the same on every rank: nothing communicated, every rank exits 2, rank 0 says it
        raise errors.JobError(problem)
    return job.run(ctx, opts)


def _show(outcome) -> None:
    summary = outcome.summary
    files = summary["files"]
    states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(summary["states"].items()))
    print(f"search complete: {files.out}")
    print(f"  trials: {states}   wall {summary['wall_s']:.1f} s")
    base = summary.get("defaults_search_value")
    beside = "" if base is None else f" (the defaults on the same part: {base:.6g})"
    print(f"  best search value {summary['best_value']}{beside}  params {summary['best']}")
    for line in summary.get("holdout") or [
        "no held-out part: this objective has none (a user objective may define holdout(params, ctx))"
    ]:
        print(f"  {line}")
    if summary["best"] is not None:
        print(f"  best parameters: {files.best}")
    print(f"  journal: {files.journal}")


def _serial_phases(cfg) -> bool:
    return cfg.hpo.objective == "scan"  # the scan objective runs the scan's kernels


def main(argv=None) -> int:
    args = parse(argv)
    return cli.main(
        "hpo",
        args,
        run=lambda ctx, opts: _run(ctx, opts, args.data),
        show=_show,
        extra_flags=FLAGS,
        serial_phases=_serial_phases,
    )


if __name__ == "__main__":
    from .runtime.comm import exit_process

    exit_process(main())
