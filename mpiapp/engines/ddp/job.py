"""The ddp job from start to results file: feature store (reused or built), then training.

Phase 1 — the feature store (store.py) is a work-layer job of its own: resumable, written
collectively, locked. It is reused when `ddp.features_path` holds a store built from the same data,
horizon and split; one built from other values is refused (exit 2, naming what differs) unless
--force, which rebuilds it. Phase 2 — training (trainer.py) on every rank, in one torch process
group joined through MPI (runtime/torch_dist.py). Files:

  results/ddp.h5          (output.path) the results: steps, epochs, profile, the final weights;
  results/ddp.h5.partial  the training checkpoint while the job runs or after a stop (--resume);
  results/ddp.h5.lock     held by rank 0 while the job runs (a second job on it exits 2).

Exit codes: 0 complete; 1 a rank failed (the runtime aborts every rank) or a non-finite loss;
2 bad input or configuration; 75 stopped by SIGTERM/SIGUSR1 (checkpoint written; --resume).
"""

from __future__ import annotations

import os

from ...io.sources import spec_path
from ...runtime import errors, signals, sync
from ...work import RunOptions, run_job, visibility
from ...work.output import OutputLock, Paths, check_path, check_policy
from . import store as _store
from .params import DDPParams


def _policy(paths: Paths, store: str, force: bool, resume: bool) -> str | None:
    """Refuse / --force / --resume for the training output — reads only. The checkpoint is PATH.partial
    (work.output's policy); a resume may also continue an interrupted feature store, or start training
    on a complete store (a stop that came after the store was built, before the first checkpoint)."""
    if resume and not os.path.exists(paths.partial) and not os.path.exists(paths.out):
        if os.path.exists(store + ".partial") or os.path.exists(store):
            return None
    return check_policy(paths, force, resume)


def store_action(path: str, ident: dict, force: bool, resume: bool) -> tuple[str, str | None]:
    """('reuse' | 'build' | 'resume' | 'rebuild', problem) for the feature store at `path` — reads only."""
    if resume and os.path.exists(path + ".partial"):
        return "resume", None
    try:
        why = _store.reusable(path, ident)
    except FileNotFoundError:
        return ("rebuild" if force and os.path.exists(path + ".partial") else "build"), None
    if why is None:
        return "reuse", None
    if force:
        return "rebuild", None
    return "build", (f"{why}: use --force to rebuild it, or set ddp.features_path to another file")


def run(ctx, opts: RunOptions) -> tuple[int, dict]:
    """Collective: the whole job. Returns (exit code, summary on rank 0). Raises errors.JobError."""
    cfg = ctx.cfg
    params = DDPParams.from_config(cfg.ddp)
    paths = Paths(str(opts.out))
    spath = _store.default_path(params)
    lock = OutputLock(paths.lock)
    try:
        action = None
        with errors.agreement(ctx.comm):
            if ctx.rank == 0:
                same = os.path.abspath(spath) == os.path.abspath(paths.out)
                problem = ("ddp.features_path and the output are the same file" if same else None) or \
                    check_path(paths.out) or check_path(spath) or lock.acquire() or \
                    _policy(paths, spath, opts.force, opts.resume)
                if problem:
                    raise errors.JobError(problem)
                action = store_action(spath, _store.identity(cfg, params), opts.force, opts.resume)
                if action[1]:
                    raise errors.JobError(action[1])
        action = sync.bcast(action, comm=ctx.comm)[0]
        data = [p for p in [spec_path(cfg.data.source)] if p] if action != "reuse" else [spath]
        visibility.require({os.path.dirname(os.path.abspath(p)) for p in (paths.out, spath)}, data,
                           comm=ctx.comm)  # every rank reads the data (or the store) and the checkpoint
        if ctx.rank == 0 and opts.force and os.path.exists(paths.partial):
            os.remove(paths.partial)  # ours: the checkpoint of an earlier run of this output
        with ctx.timers.phase("features"):
            if action != "reuse":
                ctx.log.info("feature store %s: %s", spath, action)
                spec = _store.build(ctx, params)
                sub = RunOptions(out=spath, force=action == "rebuild", resume=action == "resume",
                                 progress=opts.progress, profile=False)  # fmt: skip
                outcome = run_job(spec, ctx, sub)
                if outcome.status != "complete":
                    return outcome.exit_code, {"interrupted": "features"}
            else:
                ctx.log.info("feature store %s: reused", spath)
        if sync.any_signal(ctx.comm):
            return signals.EXIT_RESUMABLE, {"interrupted": "before training"}
        from .training import train

        return train(ctx, params, spath, paths, opts)
    finally:
        lock.release()
