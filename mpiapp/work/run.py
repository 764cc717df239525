"""run_job: a job spec from output claim to renamed results file — the work layer's one entry point.

Flow (collective; every rank runs it):
  1. the output claim (work.output.Claim): the results file, its .partial and .tmp and the job's
     side files (JobSpec.sides) — paths usable, lock taken (rank 0);
  2. the plan: the job's `plan` on rank 0, broadcast; no file the job writes may be one of its inputs
     (the plan's and the --config files), then each existing file is checked by its content and the
     refuse / --force / --resume policy applied; every host must see the output folder and the
     inputs (work.visibility);
  3. the ledger: PATH.partial created (or reopened, config and units checked);
  4. the job's `prepare` (load and validate inputs before compute; a resume re-hashes them and
     refuses changed data); a run stopped here on bad input removes the .partial it just made;
  5. the loop: claim, run, commit; a stop signal ends it at a commit with EXIT_RESUMABLE (75);
  6. finalize: the job writes its tables to PATH.tmp, the layer adds profile and provenance, rank 0
     renames PATH.tmp to PATH (replacing an old PATH only now) and removes PATH.partial.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ..io import results as rio
from ..runtime import errors, profile, signals, sync
from . import loop, provenance, sources, visibility
from .finalize import Finalize
from .ledger import Ledger
from .output import Claim, Paths, profile_targets, results_targets


@dataclass
class RunOptions:
    """out: the results file; force / resume: the output policy; progress: bar on rank 0;
    profile: also write a cProfile file per rank (OUT.rankN.prof); rounds: a sources.Rounds feed
    function instead of a fixed plan (see sources.Rounds); inputs: files given to the job (its
    --config files), which it must never write; out_flag / out_what: how messages name the output
    (the flag or key that set it; what it is)."""

    out: str
    force: bool = False
    resume: bool = False
    progress: bool = False
    profile: bool = False
    rounds: object = None
    inputs: list = field(default_factory=list)
    out_flag: str = "--out"
    out_what: str | None = None


@dataclass
class Outcome:
    status: str  # complete | interrupted
    path: str
    exit_code: int
    summary: dict = field(default_factory=dict)


def run_job(spec, ctx, opts: RunOptions) -> Outcome:
    """Collective. Runs `spec` to a complete results file, or stops resumably on a signal.

    Raises errors.JobError (exit 2, the same message on every rank) for a refused output, bad input
    or configuration, before any unit is computed. An unexpected exception on any rank aborts the
    job (runtime.errors) and leaves PATH.partial to resume. Returns the Outcome on every rank; its
    summary (the job's finalize result) is meaningful on rank 0.
    """
    t_start = time.time()
    paths = Paths(str(opts.out))
    targets = results_targets(paths, spec.name, opts.out_flag, opts.out_what) + list(spec.sides)
    if opts.profile:
        targets += profile_targets(paths.out, ctx.size, opts.out_flag)
    # rank 0 holds the lock; on an abort the kernel lets go of the flock
    with Claim(paths, targets, force=opts.force, resume=opts.resume, comm=ctx.comm, inputs=None) as claim:
        return _run(spec, ctx, opts, paths, t_start, claim)


def _run(spec, ctx, opts, paths, t_start, claim) -> Outcome:
    comm, rank, cfg = ctx.comm, ctx.rank, ctx.cfg
    plan = None
    with errors.agreement(comm):
        if rank == 0:
            plan = spec.plan(ctx)
    claim.check_inputs((list(plan.inputs) + list(opts.inputs)) if rank == 0 else ())
    with errors.agreement(comm):
        if rank == 0 and not plan.units and opts.rounds is None:
            raise errors.JobError(f"{spec.name}: nothing to do (no work units)")
    plan = sync.bcast(plan, comm=comm)
    visibility.require([os.path.dirname(os.path.abspath(paths.out))], plan.inputs, comm=comm)
    ctx.info = plan.info
    units = plan.units

    mode, note = rio.choose_mode(cfg.output.hdf5_mpi)
    ledger = Ledger(spec, cfg, paths.partial, mode, note, comm)
    resuming = ctx.resuming = bool(opts.resume)
    if not resuming:
        claim.remove_ours(paths.partial, paths.tmp)  # from an earlier run of this output (--force)
        claim.made(paths.partial)
    done = ledger.resume(units) if resuming else ledger.create(units)
    if resuming:
        ctx.log.info("resuming %s: %d of %d units already done", paths.partial, int(done.sum()), len(units))
    todo = [u for u in units if not done[u.uid]]

    if opts.rounds is not None:
        source = sources.Rounds(opts.rounds, cfg.work.partition, cfg.work.plan_strategy, comm=comm)
    else:
        source = sources.make(todo, cfg.work.partition, cfg.work.plan_strategy, comm=comm)
    try:
        if spec.prepare is not None:
            spec.prepare(ctx, source.mine())
        if resuming:
            _check_inputs(ctx, spec, ledger)
    except errors.JobError:
        source.close()
        ledger.close()  # the claim then removes the .partial this run made: it must not block the rerun
        raise
    claim.begin()
    ledger.note_digests(ctx.digests)
    ctx.digests.clear()
    if opts.rounds is not None:
        first = source.advance([])
        ledger.add_units(first)
        todo = first

    progress = loop.Progress(opts.progress, len(done), len(done) - len(todo), spec.name, comm, rank)
    prof = profile.cprofile(opts.profile)
    stats = loop.run(
        ctx, spec, source, ledger, progress, rounds=opts.rounds is not None, units_left=len(todo)
    )
    if prof is not None:
        prof.disable()
        prof.dump_stats(f"{paths.out}.rank{rank}.prof")
    source.close()
    progress.close()
    if spec.release is not None:
        spec.release(ctx)

    stop = sync.any_signal(comm)
    if stop:
        left = int((~ledger.units()["done"]).sum()) if ledger.can_read() else 0
        ledger.mark(status="interrupted", interrupted_by=signals.name(stop))
        ledger.close()
        if rank == 0:
            ctx.log.warning(
                "stopped by %s: %s is resumable (%d of %d units left): rerun with --resume",
                signals.name(stop),
                paths.partial,
                left,
                ledger.n_units,
            )
        return Outcome("interrupted", paths.partial, signals.EXIT_RESUMABLE, {"left": left})

    fin = Finalize(ctx, ledger, paths.tmp, mode, note)
    with ctx.timers.phase("write"):
        summary = spec.finalize(fin) or {}
    summary["profile"] = provenance.write(fin, ctx, spec, stats, t_start, ledger.n_units)
    summary.update(hdf5_mode=mode, wall_s=time.time() - t_start)
    fin.close()
    ledger.close()
    if rank == 0:
        os.replace(paths.tmp, paths.out)
        os.remove(paths.partial)
    sync.sleeping_barrier(comm)
    return Outcome("complete", paths.out, int(summary.get("exit_code", 0)), summary)


def _check_inputs(ctx, spec, ledger) -> None:
    """Collective: a resume must read the same inputs as the interrupted run (content hashes)."""
    changed = ledger.changed_inputs(ctx.digests)
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        errors.agree(
            f"{ledger.path}: the data of {', '.join(changed[:3])}{more} changed since the "
            "interrupted run; its results would mix old and new data: start over with --force",
            comm=ctx.comm,
        )
