"""The search as a job: output claim, objective and groups, the study loop, the files it leaves.

What it borrows from the work layer: the output path checks and lock (work.output) and the results
file writer (io.results); what it does not: the work loop (see driver.py for why). Its durable record
is the Optuna journal, which --resume reopens at any rank count.

Exit: 0 complete; 2 bad configuration, objective, space or output (every rank, before any trial);
75 stopped by SIGTERM/SIGUSR1 (the journal is consistent; --resume continues); 1 a rank failed, or a
trial raised with hpo.on_trial_error=abort.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ... import config
from ...runtime import errors, signals, sync
from ...runtime.profile import cprofile
from ...runtime import trials as proto
from ...work.output import OutputLock, Paths, check_path
from . import driver, output
from . import space as _space
from . import study as _study
from .objectives import load as load_objective


@dataclass(frozen=True)
class Files:
    """out: results/hpo.h5; journal: the Optuna journal; best: the best-parameters YAML.

    `partial` (OUT.partial) marks an unfinished search, as it does for the work-layer jobs: a small
    text file naming the journal, made when a search starts and removed when it completes, so the
    launch kit's requeue (which resumes when OUT.partial exists) and `report` treat a search alike.
    """

    out: str
    journal: str
    best: str

    @property
    def partial(self) -> str:
        return self.out + ".partial"

    @classmethod
    def from_config(cls, cfg) -> "Files":
        out = config.output_path(cfg, "hpo")
        stem = out[:-3] if out.endswith(".h5") else out
        return cls(out, cfg.hpo.journal or stem + ".journal", stem + ".best.yaml")


def check_files(files: Files, force: bool, resume: bool) -> str | None:
    """The output policy for a search. Pure; touches nothing."""
    if resume:
        return None if os.path.exists(files.journal) else (
            f"--resume: no journal {files.journal} to resume from (start without --resume)")
    if force:
        return None
    if os.path.exists(files.partial):
        return (f"{files.partial} exists: a search on this output is unfinished: use --resume to continue it or "
                "--force to start over")  # fmt: skip
    for p, what in ((files.out, "results file"), (files.journal, "journal")):
        if os.path.exists(p):
            return (f"{p} exists (the {what} of an earlier search): use --resume to continue it, --force to "
                    "start over, or --out another file")  # fmt: skip
    return None


def run(ctx, force: bool, resume: bool, profile: bool = False) -> tuple[int, dict]:
    """Collective: the whole search. Returns (exit code, summary on rank 0).

    Raises errors.JobError (every rank, exit 2) for a refused output, an unknown objective, a bad
    space, an unusable sampler/pruner or group size.
    """
    t_start = time.time()
    files = Files.from_config(ctx.cfg)
    lock = OutputLock(Paths(files.out).lock)
    try:
        with errors.agreement(ctx.comm):
            if ctx.rank == 0:
                _raise(check_path(files.out) or lock.acquire() or check_files(files, force, resume))
                if force and os.path.exists(files.journal):
                    os.remove(files.journal)  # ours: the journal of an earlier search on this output
                _mark_unfinished(files)
        return _run(ctx, files, resume, t_start, profile)
    finally:
        lock.release()


def _mark_unfinished(files: Files) -> None:
    folder = os.path.dirname(os.path.abspath(files.partial))
    os.makedirs(folder, exist_ok=True)
    with open(files.partial, "w") as f:
        f.write(f"an unfinished mpiapp search; its study is in {os.path.abspath(files.journal)}: rerun with --resume\n")


def _raise(problem):
    if problem:
        raise errors.JobError(problem)


def _run(ctx, files: Files, resume: bool, t_start: float, profile: bool):
    cfg, h = ctx.cfg, ctx.cfg.hpo
    objective = params = groups = state = None
    with errors.agreement(ctx.comm):
        objective = load_objective(h.objective).for_config(cfg)
        if h.direction != "auto" and objective.n_values == 1:
            objective = type(objective)(**{**objective.__dict__, "directions": (h.direction,)})
        params = _space.load(h.space) if h.space else objective.default_space(cfg)
        if not params:
            raise ValueError(f"objective {h.objective} has no default space: give --space FILE")
    with errors.agreement(ctx.comm):  # collective: entered only once every rank has its objective
        if h.ranks_per_trial > 1:
            _check_threads(ctx)
        groups = proto.Groups(h.ranks_per_trial, comm=ctx.comm)
    with errors.agreement(ctx.comm):
        state = objective.setup(cfg) if objective.setup is not None else None
    ctx.rt.enforce()
    study = None
    with errors.agreement(ctx.comm):
        if ctx.rank == 0:
            study = _open_study(ctx, objective, params, files, resume, groups)
    ev = driver.Evaluator(objective, state, cfg, groups, ctx.timers)
    stopped, overhead = 0, 0.0
    sync.sleeping_barrier(ctx.comm)  # the loop starts together: its length is every rank's loop_s
    t_loop = time.perf_counter()
    prof = cprofile(profile)
    if ctx.rank == 0:
        owner = driver.Owner(study, params, cfg, groups, driver.LocalLeader(ev), ctx.timers, ctx.log)
        stopped = owner.run()
        overhead = owner.overhead_s
        study._mpiapp_backend.sync()
    elif groups.leader:
        driver.remote_leader(ev)
    else:
        driver.member(ev)
    loop_s = time.perf_counter() - t_loop
    if prof is not None:
        prof.disable()
        prof.dump_stats(f"{files.out}.rank{ctx.rank}.prof")
    stopped = sync.bcast(stopped, comm=ctx.comm)
    row = output.profile_row(ctx.rank, ctx.timers, ev.trials, overhead, loop_s)
    rows = sync.gather(row, comm=ctx.comm)
    groups.free()
    if stopped:
        if ctx.rank == 0:
            ctx.log.warning("stopped by %s: %s is consistent; rerun with --resume (any rank count)",
                            signals.name(stopped), files.journal)  # fmt: skip
        return signals.EXIT_RESUMABLE, {}
    summary = {}
    if ctx.rank == 0:
        summary = _finish(ctx, study, objective, params, files, rows, t_start)
    return 0, summary


def _check_threads(ctx) -> None:
    from ...runtime import comm as _comm

    level = _comm.thread_level_name()
    if level != "multiple":
        raise ValueError(f"hpo.ranks_per_trial > 1 needs MPI thread level 'multiple' (rank 0 evaluates in a "
                         f"second thread that talks to its group); this MPI gave {level!r}")  # fmt: skip


def _open_study(ctx, objective, params, files: Files, resume: bool, groups):
    """Rank 0: repair, open or create the study, mark lost trials. Raises ValueError for bad settings."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    h = ctx.cfg.hpo
    if resume:
        cut = _study.repair_journal(files.journal)
        if cut:
            ctx.log.warning("%s: dropped a last record cut short (%d bytes) by a kill mid-write", files.journal, cut)
    storage, backend = _study.storage(files.journal, h.journal_sync_s)
    concurrent = groups.n > 1 if h.mode == "async" else h.batch_size > 1
    done = 0
    if resume:
        try:
            done = len(storage.get_all_trials(storage.get_study_id_from_name(h.study), deepcopy=False))
        except KeyError:
            raise ValueError(f"--resume: {files.journal} has no study named {h.study!r}") from None
    # a resumed sampler is seeded past the trials already made, so it does not repeat its first draws
    sampler = _study.sampler(ctx.cfg, params, concurrent, h.seed + done)
    pruner = _study.pruner(ctx.cfg, objective.n_values)
    study = optuna.create_study(storage=storage, sampler=sampler, pruner=pruner, study_name=h.study,
                                directions=list(objective.directions), load_if_exists=resume)  # fmt: skip
    if [d.name.lower() for d in study.directions] != list(objective.directions):
        raise ValueError(f"--resume: study {h.study!r} optimises {study.directions}, not {objective.directions}")
    study._mpiapp_backend = backend
    if resume:
        lost = _study.mark_lost(study, params)
        if lost:
            ctx.log.warning("trials %s were left RUNNING by the interrupted run: marked FAIL (lost), their "
                            "parameters will be asked again", lost)  # fmt: skip
        ctx.log.info("resuming study %r: %d of %d trials counted", h.study, _study.counts(study), h.trials)
    return study


def _finish(ctx, study, objective, params, files: Files, rows, t_start) -> dict:
    h = ctx.cfg.hpo
    best = output.best_yaml(study, objective, files.best, h.objective, ctx.cfg)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    best_value = None
    if complete:
        best_value = list(study.best_trials[0].values) if objective.n_values > 1 else study.best_value
    states: dict = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    extra = {"objective": h.objective, "study": h.study, "journal": os.path.abspath(files.journal),
             "best_yaml": os.path.abspath(files.best) if best else "", "best_value": str(best_value),
             "best_params": str(best), "mode": h.mode, "ranks_per_trial": h.ranks_per_trial,
             "sampler": h.sampler, "pruner": h.pruner, "directions": ",".join(objective.directions),
             "target": objective.target or ""}  # fmt: skip
    attrs = output.provenance(ctx.cfg, ctx.size, [r["host"] for r in rows], t_start, extra)
    output.write_results(files.out, study, params, objective, attrs, rows)
    os.remove(files.partial)
    return {"files": files, "states": states, "best_value": best_value, "best": best, "profile": rows,
            "wall_s": time.time() - t_start}  # fmt: skip
