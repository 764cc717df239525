"""The search as a job: output claim, objective and groups, the study loop, the files it leaves.

A job without units on the shared shell: its files are claimed by work.output.Claim (the results
file, the journal — locked in place, so two searches never share one —, the best-parameters YAML,
the OUT.partial marker and the temporaries, each checked by its content: --force replaces only a
file of the search's own kind), its results file carries work.provenance's attributes. What it does
not borrow is the work loop (see driver.py for why). Its durable record is the Optuna journal,
which --resume reopens at any rank count.

Order: everything is checked before anything is written — objective, space, groups, the
objective's data (its setup), sampler and pruner, and for --resume the journal (every line a
record, the study there, made with the same settings). Only then are the marker and the journal
written; a start stopped by bad input removes what it made (the claim), so the corrected rerun is
never refused.

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
from ...runtime import trials as proto
from ...runtime.profile import cprofile
from ...work import Outcome
from ...work.output import Claim, Found, Paths, Target, profile_targets, results_kind
from . import driver, holdout, output
from . import space as _space
from . import study as _study
from .objectives import load as load_objective

MARKER = "an unfinished mpiapp search"
BEST_HEAD = "# best parameters of study"


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


def _text_kind(head: str, what: str):
    """The kind check of a text file this job writes, told by its first characters."""

    def kind(path: str) -> Found:
        if os.path.getsize(path) == 0:
            return Found(False, "empty (0 bytes)", damaged=True)
        with open(path, "rb") as fh:
            start = fh.read(len(head.encode()))
        if start == head.encode():
            return Found(True, what)
        return Found(False, f"not {what}")

    return kind


def targets(files: Files, study: str) -> list[Target]:
    """Every file a search writes (work.output.Claim)."""
    best = _text_kind(BEST_HEAD, "an mpiapp best-parameters file")
    return [
        Target(files.out, "--out", results_kind("hpo"), "an mpiapp hpo results file"),
        Target(
            files.partial, "--out", _text_kind(MARKER, "an mpiapp search marker"), "an mpiapp search marker"
        ),
        Target(
            files.journal,
            "hpo.journal",
            _study.journal_kind(study),
            f"an Optuna journal of study {study!r}",
            lock=True,
        ),
        Target(files.best, "--out", best, "an mpiapp best-parameters file"),
        Target(files.best + ".tmp", "--out", best, "an mpiapp best-parameters file", scratch=True),
        Target(
            files.out + ".tmp",
            "--out",
            results_kind("hpo", ".tmp file"),
            "the .tmp file of an mpiapp hpo run",
            scratch=True,
        ),
    ]


def check_files(files: Files, force: bool, resume: bool) -> str | None:
    """The output policy for a search. Pure; touches nothing."""
    if resume:
        return (
            None
            if os.path.exists(files.journal)
            else (f"--resume: no journal {files.journal} to resume from (start without --resume)")
        )
    if force:
        return None
    if os.path.exists(files.partial):
        return (
            f"{files.partial} exists: a search on this output is unfinished: use --resume to continue it or "
            "--force to start over"
        )
    for p, what in ((files.out, "results file"), (files.journal, "journal")):
        if os.path.exists(p):
            return (
                f"{p} exists (the {what} of an earlier search): use --resume to continue it, --force to "
                "start over, or --out another file"
            )
    return None


def inputs(cfg, given=()) -> list[str]:
    """Files a search reads, which it must never write: the config files, the space, a user
    objective's module file."""
    h = cfg.hpo
    out = list(given)
    if h.space:
        out.append(h.space)
    mod = h.objective.rpartition(":")[0] if ":" in h.objective else ""
    if mod.endswith(".py"):
        out.append(mod)
    return out


def run(ctx, opts) -> Outcome:
    """Collective: the whole search. Returns its Outcome (summary on rank 0).

    Raises errors.JobError (every rank, exit 2) for a refused output, an unknown objective, a bad
    space, an unusable sampler/pruner or group size, a damaged journal or a resume with other
    settings.
    """
    t_start = time.time()
    files = Files.from_config(ctx.cfg)
    writes = targets(files, ctx.cfg.hpo.study) + (
        profile_targets(files.out, ctx.size) if opts.profile else []
    )
    with Claim(
        Paths(files.out),
        writes,
        force=opts.force,
        resume=opts.resume,
        comm=ctx.comm,
        policy=lambda force, resume: check_files(files, force, resume),
        resumed=(files.journal,),
        inputs=inputs(ctx.cfg, opts.inputs),
    ) as claim:
        return _run(ctx, files, opts, t_start, claim)


def _mark_unfinished(files: Files) -> None:
    with open(files.partial, "w") as f:
        f.write(f"{MARKER}; its study is in {os.path.abspath(files.journal)}: rerun with --resume\n")


def _run(ctx, files: Files, opts, t_start: float, claim) -> Outcome:
    cfg, h = ctx.cfg, ctx.cfg.hpo
    objective = params = groups = state = None
    with errors.agreement(ctx.comm):
        with signals.leaving_at_once("optuna and the objective"):
            import optuna  # noqa: F401  (seconds of imports, before anything is written)

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
            plan = _plan_study(ctx, objective, params, files, opts.resume, groups)
    with errors.agreement(ctx.comm):  # the first writes: the marker, the journal
        if ctx.rank == 0:
            study = _open_study(ctx, plan, files, opts, claim)
    claim.begin()
    ev = driver.Evaluator(objective, state, cfg, groups, ctx.timers)
    stopped, overhead = 0, 0.0
    sync.sleeping_barrier(ctx.comm)  # the loop starts together: its length is every rank's loop_s
    t_loop = time.perf_counter()
    prof = cprofile(opts.profile)
    if ctx.rank == 0:
        bar = _progress(opts.progress, study, h.trials)
        owner = driver.owner(
            study,
            params,
            cfg,
            groups,
            driver.LocalLeader(ev),
            ctx.timers,
            ctx.log,
            bar,
            exhausted=plan.get("exhausted", False),
        )
        stopped = owner.run()
        overhead = owner.overhead_s
        plan["backend"].sync()
        if bar is not None:
            bar.close()
    elif groups.leader:
        driver.remote_leader(ev)
    else:
        driver.member(ev)
    loop_s = time.perf_counter() - t_loop
    if prof is not None:
        prof.disable()
        prof.dump_stats(f"{files.out}.rank{ctx.rank}.prof")
    stopped = sync.bcast(stopped, comm=ctx.comm)
    groups.free()
    scored = None
    if not stopped and objective.n_values == 1:  # the held-out part, once the search is over
        cands = holdout.candidates(study, objective, cfg, [p.name for p in params]) if ctx.rank == 0 else None
        t_hold = time.perf_counter()
        scored = holdout.run(ctx, objective, state, cands, h.seed)
        ctx.timers.add("holdout", time.perf_counter() - t_hold)
        stopped = sync.any_signal(ctx.comm)
    row = output.profile_row(ctx.rank, ctx.timers, ev.trials, overhead, loop_s)
    rows = sync.gather(row, comm=ctx.comm)
    if stopped:
        if ctx.rank == 0:
            ctx.log.warning(
                "stopped by %s: %s is consistent; rerun with --resume (any rank count)",
                signals.name(stopped),
                files.journal,
            )
        return Outcome("interrupted", files.journal, signals.EXIT_RESUMABLE, {})
    summary = {}
    if ctx.rank == 0:
        summary = _finish(ctx, study, objective, params, files, rows, t_start, scored)
    return Outcome("complete", files.out, 0, summary)


def _progress(on: bool, study, total: int):
    """A bar of the trials counted toward hpo.trials (rank 0; tqdm), or None."""
    if not on:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=min(total, _study.counts(study)),
        unit="trial",
        desc="hpo",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )


def _check_threads(ctx) -> None:
    from ...runtime import comm as _comm

    level = _comm.thread_level_name()
    if level != "multiple":
        raise ValueError(
            f"hpo.ranks_per_trial > 1 needs MPI thread level 'multiple' (rank 0 evaluates in a "
            f"second thread that talks to its group); this MPI gave {level!r}"
        )


def _plan_study(ctx, objective, params, files: Files, resume: bool, groups) -> dict:
    """Rank 0: everything about the study checked, nothing written: the sampler and pruner; for
    --resume the journal read back (every line a record), the study there, made with these settings.
    Raises ValueError (exit 2)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    h = ctx.cfg.hpo
    concurrent = groups.n > 1 if h.mode == "async" else h.batch_size > 1
    settings = _study.settings(ctx.cfg, params, objective)
    _study.sampler(ctx.cfg, params, concurrent, h.seed)  # raises for an unusable combination
    pruner = _study.pruner(ctx.cfg, objective.n_values)
    plan = {
        "settings": settings,
        "pruner": pruner,
        "done": 0,
        "concurrent": concurrent,
        "params": params,
        "objective": objective,
    }
    if not resume:
        return plan
    bad = _study.check_journal(files.journal)
    if bad:
        raise ValueError(
            f"hpo.journal {files.journal}: {bad}; the journal is damaged and cannot be resumed: "
            "start over with --force (a new study replaces it), or give another hpo.journal"
        )
    storage, _ = _study.storage(files.journal, h.journal_sync_s)
    try:
        sid = storage.get_study_id_from_name(h.study)
    except KeyError:
        raise ValueError(f"--resume: {files.journal} has no study named {h.study!r}") from None
    saved = storage.get_study_user_attrs(sid).get(_study.SETTINGS)
    if saved is not None:
        changed = _study.settings_changes(saved, settings)
        if changed:
            more = f"; and {len(changed) - 4} more" if len(changed) > 4 else ""
            raise ValueError(
                f"--resume: study {h.study!r} in {files.journal} was made with other settings "
                f"({'; '.join(changed[:4])}{more}): its trials would not be one search; start over "
                "with --force, or give another --study or hpo.journal"
            )
    plan["done"] = len(storage.get_all_trials(sid, deepcopy=False))
    directions = [d.name.lower() for d in storage.get_study_directions(sid)]
    if directions != list(objective.directions):
        raise ValueError(
            f"--resume: study {h.study!r} optimises {directions}, not {list(objective.directions)}"
        )
    return plan


def _open_study(ctx, plan: dict, files: Files, opts, claim):
    """Rank 0: the marker, then the study opened (a resume repairs a cut last record and marks lost
    trials) or created in a fresh journal (--force empties an old one, ours by the claim)."""
    import optuna

    h = ctx.cfg.hpo
    resume = opts.resume
    if not resume:
        claim.remove_ours(files.out + ".tmp")
        if os.path.exists(files.journal) and os.path.getsize(files.journal):
            os.truncate(files.journal, 0)  # ours (the claim checked it); kept in place: it is locked
        claim.made(files.journal)
    else:
        cut = _study.repair_journal(files.journal)
        if cut:
            ctx.log.warning(
                "%s: dropped a last record cut short (%d bytes) by a kill mid-write", files.journal, cut
            )
    if not resume:
        claim.made(files.partial)
    _mark_unfinished(files)
    storage, backend = _study.storage(files.journal, h.journal_sync_s)
    # a resumed sampler is seeded past the trials already made, so it does not repeat its first draws
    sampler = _study.sampler(ctx.cfg, plan["params"], plan["concurrent"], h.seed + plan["done"])
    study = optuna.create_study(
        storage=storage,
        sampler=sampler,
        pruner=plan["pruner"],
        study_name=h.study,
        directions=list(plan["objective"].directions),
        load_if_exists=resume,
    )
    if not resume:
        study.set_user_attr(_study.SETTINGS, plan["settings"])
    plan["backend"] = backend
    if resume:
        lost, plan["exhausted"] = _study.mark_lost(study, plan["params"])
        if lost:
            ctx.log.warning(
                "trials %s were left RUNNING by the interrupted run: marked FAIL (lost), their "
                "parameters will be asked again",
                lost,
            )
        ctx.log.info("resuming study %r: %d of %d trials counted", h.study, _study.counts(study), h.trials)
    return study


def _finish(ctx, study, objective, params, files: Files, rows, t_start, scored) -> dict:
    h = ctx.cfg.hpo
    lines = holdout.verdict(scored, objective.directions[0]) if scored else []
    best = output.best_yaml(study, objective, files.best, h.objective, ctx.cfg, lines)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    best_value = None
    if complete:
        best_value = list(study.best_trials[0].values) if objective.n_values > 1 else study.best_value
    states: dict = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    extra = {
        "objective": h.objective,
        "study": h.study,
        "journal": os.path.abspath(files.journal),
        "best_yaml": os.path.abspath(files.best) if best else "",
        "best_value": str(best_value),
        "best_params": str(best),
        "mode": h.mode,
        "ranks_per_trial": h.ranks_per_trial,
        "sampler": h.sampler,
        "pruner": h.pruner,
        "directions": ",".join(objective.directions),
        "target": objective.target or "",
        "holdout": "\n".join(lines),
    }
    for r in scored or []:
        extra[f"{r['role']}_holdout_value"] = r["holdout_value"]
        extra[f"{r['role']}_search_value"] = r["search_value"]
    output.write_results(
        files.out,
        study,
        params,
        objective,
        ctx.cfg,
        ctx.size,
        [r["host"] for r in rows],
        t_start,
        extra,
        rows,
        scored,
    )
    os.remove(files.partial)
    return {
        "files": files,
        "states": states,
        "best_value": best_value,
        "best": best,
        "profile": rows,
        "wall_s": time.time() - t_start,
        "holdout": lines,
        "defaults_search_value": extra.get("defaults_search_value"),
    }
