"""The ddp job from start to results file: feature store (reused or built), then training.

A job without units on the shared shell: its files are claimed by work.output.Claim (the results
file, the checkpoint and their temporaries, each checked by its content), its results file carries
work.provenance's attributes. Phase 1 — the feature store (store.py) is a work-layer job of its own:
resumable, written collectively, locked. It is reused when `ddp.features_path` (default: beside the
output) holds a store built from the same data — the same content of every data file, by hash —
horizon and split; one built from other values or data is refused (exit 2, naming what differs)
unless --force, which rebuilds it. Phase 2 — training (trainer.py) on every rank, in one torch
process group joined through MPI (runtime/torch_dist.py). Files:

  results/ddp.h5             (output.path) the results: steps, epochs, profile, the final weights;
  results/ddp.features.h5    the feature store (ddp.features_path; default OUT.features.h5);
  results/ddp.h5.partial     the training checkpoint while the job runs or after a stop (--resume);
  results/ddp.h5.lock        held by rank 0 while the job runs (a second job on it exits 2).

Exit codes: 0 complete; 1 a rank failed (the runtime aborts every rank) or a non-finite loss;
2 bad input or configuration; 75 stopped by SIGTERM/SIGUSR1 (checkpoint written; --resume).
"""

from __future__ import annotations

import os

from ...io.sources import spec_path
from ...runtime import errors, signals, sync
from ...work import Outcome, RunOptions, run_job, visibility
from ...work.output import Claim, Paths, Target, check_policy, profile_targets, results_kind
from . import checkpoint
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


def targets(paths: Paths) -> list[Target]:
    """The files the training phase writes: the results file, the checkpoint and their temporaries."""
    ck = "an mpiapp ddp checkpoint"
    return [
        Target(paths.out, "--out", results_kind("ddp"), "an mpiapp ddp results file"),
        Target(paths.partial, "--out", checkpoint.kind, ck),
        Target(paths.partial + ".tmp", "--out", checkpoint.kind, ck, scratch=True),
        Target(
            paths.tmp,
            "--out",
            results_kind("ddp", ".tmp file"),
            "the .tmp file of an mpiapp ddp run",
            scratch=True,
        ),
    ]


def store_action(path: str, ident: dict, force: bool, resume: bool, digests=None) -> tuple[str, str | None]:
    """('reuse' | 'build' | 'resume' | 'rebuild', problem) for the feature store at `path` — reads only."""
    if resume and os.path.exists(path + ".partial"):
        return "resume", None
    try:
        why = _store.reusable(path, ident, digests)
    except FileNotFoundError:
        return ("rebuild" if force and os.path.exists(path + ".partial") else "build"), None
    if why is None:
        return "reuse", None
    if force:
        return "rebuild", None
    return "build", (f"{why}: use --force to rebuild it, or set ddp.features_path to another file")


def run(ctx, opts: RunOptions) -> Outcome:
    """Collective: the whole job. Returns its Outcome (summary on rank 0). Raises errors.JobError."""
    cfg = ctx.cfg
    params = DDPParams.from_config(cfg.ddp)
    paths = Paths(str(opts.out))
    spath = _store.default_path(params, paths.out)
    inputs = digests = None
    with errors.agreement(ctx.comm):
        if ctx.rank == 0:
            if os.path.abspath(spath) == os.path.abspath(paths.out):
                raise errors.JobError("ddp.features_path and the output are the same file")
            from ...io import sources

            src = sources.open_from_config(cfg, min_bars=1)
            inputs = src.input_paths() if hasattr(src, "input_paths") else []
    store_files = [spath, spath + ".partial", spath + ".tmp", spath + ".lock"]
    files = targets(paths) + (profile_targets(paths.out, ctx.size) if opts.profile else [])
    with Claim(
        paths,
        files,
        force=opts.force,
        resume=opts.resume,
        comm=ctx.comm,
        policy=lambda force, resume: _policy(paths, spath, force, resume),
        inputs=list(opts.inputs) + (inputs or []) + store_files,
    ) as claim:
        action = ident = None
        with errors.agreement(ctx.comm):
            if ctx.rank == 0:
                digests = _store.source_digests(src)
                ident = _store.identity(cfg, params, digests)
                action = store_action(spath, ident, opts.force, opts.resume, digests)
                if action[1]:
                    raise errors.JobError(action[1])
        action, ident = sync.bcast((action, ident), comm=ctx.comm)
        action = action[0]
        data = [p for p in [spec_path(cfg.data.source)] if p] if action != "reuse" else [spath]
        visibility.require(
            {os.path.dirname(os.path.abspath(p)) for p in (paths.out, spath)}, data, comm=ctx.comm
        )  # every rank reads the data (or the store) and the checkpoint
        if opts.force:
            claim.remove_ours(paths.partial, paths.partial + ".tmp")  # the checkpoint of an earlier run
        with ctx.timers.phase("features"):
            if action != "reuse":
                ctx.log.info("feature store %s: %s", spath, action)
                spec = _store.build(ctx, params, ident, digests)
                sub = RunOptions(
                    out=spath,
                    force=action == "rebuild",
                    resume=action == "resume",
                    progress=opts.progress,
                    profile=False,
                    inputs=opts.inputs,
                    out_flag="ddp.features_path",
                    out_what="a ddp feature store",
                )
                outcome = run_job(spec, ctx, sub)
                if outcome.status != "complete":
                    return Outcome(
                        "interrupted", outcome.path, outcome.exit_code, {"interrupted": "features"}
                    )
            else:
                ctx.log.info("feature store %s: reused", spath)
        if sync.any_signal(ctx.comm):
            return Outcome(
                "interrupted", paths.partial, signals.EXIT_RESUMABLE, {"interrupted": "before training"}
            )
        from .training import train

        return train(ctx, params, spath, paths, opts, claim)
