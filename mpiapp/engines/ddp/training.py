"""Phase 2 of the ddp job: join the process group, train, write results/ddp.h5.

The results file is small (per step and per epoch rows, a profile row per rank, the weights), so
rank 0 writes it alone to PATH.tmp and renames it to PATH; the checkpoint (PATH.partial) is removed
only after that rename.
"""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np

from ... import config
from ...io import results as rio
from ...runtime import comm as _comm
from ...runtime import errors, profile, signals, sync, torch_dist
from ...runtime.profile import Timers
from ...runtime.trials import self_comm
from ...work import Outcome, provenance
from .store import StoreInfo

STEP_COLUMNS = [("step", "i8"), ("epoch", "i4"), ("loss", "f8"), ("lr", "f8"), ("scale", "f8")]
PROFILE_COLUMNS = [("rank", "i4"), ("host", "S64"), ("samples", "i8"), ("compute_s", "f8"), ("allreduce_s", "f8"),
                   ("read_s", "f8"), ("optimizer_s", "f8"), ("agree_s", "f8"), ("evaluate_s", "f8"),
                   ("checkpoint_s", "f8"), ("stats_s", "f8"), ("features_s", "f8"), ("train_s", "f8"),
                   ("rows_read", "i8"), ("peak_buffer_rows", "i8"), ("peak_rss_mb", "f8")]  # fmt: skip


def _threads(ctx, params, torch) -> int:
    n = int(params.threads or ctx.rt.thread_plan.threads)
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (a second run in one interpreter)
        pass
    return n


def train(ctx, params, store_path: str, paths, opts, claim) -> Outcome:
    """Collective: phase 2 under the job's output claim. Returns the Outcome (summary on rank 0)."""
    t_start = time.time()
    with signals.leaving_at_once("torch"):  # seconds of imports: a stop here ends the rank at once
        import torch

        from .trainer import Trainer

    threads = _threads(ctx, params, torch)
    features_s = ctx.timers.seconds.get("features", 0.0)
    ctx.rt.timers = Timers()  # the profile of training alone (the store phase read with the same names)
    group = None
    with errors.agreement(ctx.comm):
        try:
            group = torch_dist.init(params.backend, params.device, params.timeout_s, comm=ctx.comm)
        except ValueError as exc:
            raise errors.JobError(str(exc)) from None
    try:
        info = None
        with errors.agreement(ctx.comm):
            info = StoreInfo(store_path)
        flat = {k: v for k, v in config._flatten(config.to_plain(ctx.cfg)).items()}
        t0 = time.perf_counter()
        tr = Trainer(ctx, params, info, group, flat)
        if opts.resume and os.path.exists(paths.partial):
            tr.restore(paths.partial)
            if ctx.rank == 0:
                ctx.log.info("resumed %s at step %d (epoch %d)", paths.partial, tr.state["global_step"],
                             tr.state["epoch"])  # fmt: skip
        else:
            claim.made(paths.partial)
        claim.begin()
        if ctx.rank == 0:
            ctx.log.info("training %s on %d rank(s), %s, %s (%s), %d thread(s) per rank; %d training samples, "
                         "%d steps per epoch", params.model, group.size, group.backend, tr.precision,
                         tr.precision_why, threads, tr.n_train, tr.steps_per_epoch)  # fmt: skip
        prof = profile.cprofile(opts.profile)
        status, summary = tr.run(paths.partial)
        if prof is not None:
            prof.disable()
            prof.dump_stats(f"{paths.out}.rank{ctx.rank}.prof")
        ctx.timers.add("train", time.perf_counter() - t0)
        if status == "interrupted":
            stop = sync.any_signal(ctx.comm)
            if ctx.rank == 0:
                ctx.log.warning("stopped by %s at step %d: checkpoint %s (rerun with --resume)",
                                signals.name(stop) if stop else "a stop signal", summary["step"], paths.partial)
            tr.close()
            return Outcome("interrupted", paths.partial, signals.EXIT_RESUMABLE, summary)
        row = tr.profile_row()
        row.update(host=_comm.hostname(), features_s=features_s,
                   train_s=ctx.timers.seconds.get("train", 0.0))  # fmt: skip
        rows = sync.gather(row, comm=ctx.comm)
        if ctx.rank == 0:
            write(paths, tr, info, group, threads, rows, ctx, t_start)
            os.remove(paths.partial)
        sync.sleeping_barrier(ctx.comm)
        tr.close()
        n_rows = info.symbols["n_rows"]
        summary.update(path=paths.out, profile=rows, store=store_path, backend=group.backend, threads=threads,
                       symbols=int((n_rows > 0).sum()), skipped=int((n_rows == 0).sum()))  # fmt: skip
        return Outcome("complete", paths.out, 0, summary)
    finally:
        torch_dist.close()


def state_bytes(state: dict, torch) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
    return buf.getvalue()


def write(paths, tr, info, group, threads: int, profile: list, ctx, t_start: float) -> None:
    """Rank 0 alone: steps, epochs, profile, the weights and the provenance, PATH.tmp -> PATH."""
    import torch

    tmp = paths.tmp
    f = rio.ResultsFile(tmp, "gather", comm=self_comm(), create=True,
                        note="the ddp results are small: rank 0 writes them alone")  # fmt: skip
    h = tr.history
    steps = {c: np.asarray(h[c], dtype=dt) for c, dt in STEP_COLUMNS}
    f.create_table("steps", STEP_COLUMNS, rows_hint=max(1, len(h["step"])))
    f.append("steps", steps)
    ecols = [(k, "i8" if k in ("epoch", "steps") or k.endswith("_n") else "f8") for k in tr.epochs[0]] \
        if tr.epochs else [("epoch", "i8")]
    f.create_table("epochs", ecols, rows_hint=max(1, len(tr.epochs)))
    f.append("epochs", {c: np.array([e[c] for e in tr.epochs], dtype=dt) for c, dt in ecols} if tr.epochs else {})
    f.create_table("profile", PROFILE_COLUMNS, rows_hint=len(profile))
    f.append("profile", {c: np.array([r[c].encode() if c == "host" else r[c] for r in profile], dtype=dt)
                         for c, dt in PROFILE_COLUMNS})  # fmt: skip
    blob = np.frombuffer(state_bytes(tr.final_state(), torch), dtype=np.uint8)
    f.f.create_dataset("model", data=blob)
    s = tr.summary()
    best = s["best"]
    f.set_attrs(provenance.attributes(ctx.cfg, "ddp", group.size, [r["host"] for r in profile], t_start, **{
        "backend": f"{group.backend} on {group.device}", "precision": s["precision"],
        "precision_why": s["precision_why"], "threads_per_rank": threads, "model": tr.p.model,
        "features": json.dumps(info.features), "feature_store": info.path,
        "validation_from": info.validation_from, "test_from": info.test_from, "horizon": info.horizon,
        "train_samples": tr.n_train, "validation_samples": tr.index["validation"].n,
        "test_samples": tr.index["test"].n, "steps": s["steps"], "best_epoch": s["best_epoch"],
        "stopped_early": bool(s["stopped_early"]), "skipped_steps": s["skipped_steps"],
        "best_validation_loss": float(best.get("validation_loss", np.nan)),
        "test_ic": float(best.get("test_ic", np.nan)), "test_loss": float(best.get("test_loss", np.nan)),
        "y_scale": float(tr.stats["y_std"]),
    }))  # fmt: skip
    f.close()
    os.replace(tmp, paths.out)
