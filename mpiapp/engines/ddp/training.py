"""Phase 2 of the ddp job: join the process group, train, forecast, write results/ddp.h5.

After training, the kept weights (the best validation epoch's) and the ridge baseline (baseline.py)
forecast every sample of every split (predictions.py); rank 0 gathers the forecasts one split at a
time and computes the metrics of each symbol beside the pooled ones. The results file (per step and
per epoch rows, the predictions and metrics, a profile row per rank, the weights) is written by rank
0 alone to PATH.tmp and renamed to PATH; the checkpoint (PATH.partial) is removed only after that
rename.
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
from . import baseline, predictions
from . import spacing as _spacing
from .store import StoreInfo

STEP_COLUMNS = [("step", "i8"), ("epoch", "i4"), ("loss", "f8"), ("lr", "f8"), ("scale", "f8")]
PROFILE_COLUMNS = [
    ("rank", "i4"),
    ("host", "S64"),
    ("samples", "i8"),
    ("compute_s", "f8"),
    ("allreduce_s", "f8"),
    ("read_s", "f8"),
    ("optimizer_s", "f8"),
    ("agree_s", "f8"),
    ("evaluate_s", "f8"),
    ("checkpoint_s", "f8"),
    ("stats_s", "f8"),
    ("features_s", "f8"),
    ("train_s", "f8"),
    ("rows_read", "i8"),
    ("peak_buffer_rows", "i8"),
    ("peak_rss_mb", "f8"),
]


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
            why = _spacing.problem(info.names, info.symbols["spacing_ns"], params.mixed_spacing)
            if why:  # a store reused from a run that allowed mixed spacing
                raise errors.JobError(f"{store_path}: {why}")
        flat = {k: v for k, v in config._flatten(config.to_plain(ctx.cfg)).items()}
        t0 = time.perf_counter()
        tr = Trainer(ctx, params, info, group, flat)
        if opts.resume and os.path.exists(paths.partial):
            tr.restore(paths.partial)
            if ctx.rank == 0:
                ctx.log.info(
                    "resumed %s at step %d (epoch %d)",
                    paths.partial,
                    tr.state["global_step"],
                    tr.state["epoch"],
                )
        else:
            claim.made(paths.partial)
        claim.begin()
        if ctx.rank == 0:
            ctx.log.info(
                "training %s on %d rank(s), %s, %s (%s), %d thread(s) per rank; %d training samples, "
                "%d steps per epoch",
                params.model,
                group.size,
                group.backend,
                tr.precision,
                tr.precision_why,
                threads,
                tr.n_train,
                tr.steps_per_epoch,
            )
        prof = profile.cprofile(opts.profile)
        status, summary = tr.run(paths.partial)
        if prof is not None:
            prof.disable()
            prof.dump_stats(f"{paths.out}.rank{ctx.rank}.prof")
        ctx.timers.add("train", time.perf_counter() - t0)
        if status == "interrupted":
            stop = sync.any_signal(ctx.comm)
            if ctx.rank == 0:
                ctx.log.warning(
                    "stopped by %s at step %d: checkpoint %s (rerun with --resume)",
                    signals.name(stop) if stop else "a stop signal",
                    summary["step"],
                    paths.partial,
                )
            tr.close()
            return Outcome("interrupted", paths.partial, signals.EXIT_RESUMABLE, summary)
        with ctx.timers.phase("evaluate"):
            scored = forecasts(ctx, tr, info)
        row = tr.profile_row()
        row.update(host=_comm.hostname(), features_s=features_s, train_s=ctx.timers.seconds.get("train", 0.0))
        rows = sync.gather(row, comm=ctx.comm)
        if ctx.rank == 0:
            write(paths, tr, info, group, threads, rows, ctx, t_start, scored)
            os.remove(paths.partial)
        sync.sleeping_barrier(ctx.comm)
        tr.close()
        n_rows = info.symbols["n_rows"]
        summary.update(
            path=paths.out,
            profile=rows,
            store=store_path,
            backend=group.backend,
            threads=threads,
            symbols=int((n_rows > 0).sum()),
            skipped=int((n_rows == 0).sum()),
            left_out=info.left_out(),
            horizon=info.horizon,
        )
        if ctx.rank == 0:
            summary.update(metrics=scored["metrics"], names=info.names, ridge_penalty=scored["ridge_penalty"])
        return Outcome("complete", paths.out, 0, summary)
    finally:
        torch_dist.close()


def forecasts(ctx, tr, info) -> dict | None:
    """Collective: the ridge baseline, then every split's forecasts by the kept weights and the ridge,
    gathered on rank 0 one split at a time: {predictions, metrics, ridge_penalty, ridge_mse} on rank 0,
    None elsewhere."""
    import h5py

    fit, mse = baseline.ridge(tr.readers, tr.stats, ctx.cfg.train.ridge.penalties, tr.rank, tr.size, ctx.comm)
    model = tr.model.module
    model.load_state_dict(tr.final_state())  # training is over: the weights the results file keeps
    parts = {}
    for split in predictions.SPLITS:
        part = predictions.predict(
            model, tr.readers[split], tr.stats, fit, tr.autocast, tr.device, tr.rank, tr.size, tr.torch
        )
        got = sync.gather(part, comm=ctx.comm)
        if ctx.rank == 0:
            parts[split] = got
    if ctx.rank != 0:
        return None
    with h5py.File(info.path, "r") as f:
        g = f["rows"]
        store_rows = {c: g[c][:] for c in ("symbol", "bar", "time")}
    pred = predictions.table(parts, store_rows)
    return {
        "predictions": pred,
        "metrics": predictions.metrics(pred, len(info.names), info.horizon, tr.stats),
        "ridge_penalty": fit.penalty,
        "ridge_mse": mse,
    }


def state_bytes(state: dict, torch) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
    return buf.getvalue()


def model_spec(p, features) -> dict:
    """The model's architecture as data (models.spec): the results file's model_spec attribute."""
    from .models import spec

    return spec(p.model, len(features), p.hidden, p.window, features)


def write(paths, tr, info, group, threads: int, profile: list, ctx, t_start: float, scored: dict) -> None:
    """Rank 0 alone: steps, epochs, predictions, metrics, profile, the weights and the provenance,
    PATH.tmp -> PATH."""
    import torch

    tmp = paths.tmp
    f = rio.ResultsFile(
        tmp,
        "gather",
        comm=self_comm(),
        create=True,
        note="the ddp results are small: rank 0 writes them alone",
    )
    h = tr.history
    steps = {c: np.asarray(h[c], dtype=dt) for c, dt in STEP_COLUMNS}
    f.create_table("steps", STEP_COLUMNS, rows_hint=max(1, len(h["step"])))
    f.append("steps", steps)
    ecols = (
        [(k, "i8" if k in ("epoch", "steps") or k.endswith("_n") else "f8") for k in tr.epochs[0]]
        if tr.epochs
        else [("epoch", "i8")]
    )
    f.create_table("epochs", ecols, rows_hint=max(1, len(tr.epochs)))
    f.append(
        "epochs", {c: np.array([e[c] for e in tr.epochs], dtype=dt) for c, dt in ecols} if tr.epochs else {}
    )
    pred = scored["predictions"]
    f.create_table("predictions", predictions.COLUMNS, rows_hint=max(1, len(pred["symbol"])))
    f.append("predictions", pred)
    m = scored["metrics"]
    name_len = max([8] + [len(n.encode()) for n in info.names])
    mcols = [("symbol", "i4"), ("name", f"S{name_len}"), ("split", "S10")] + [
        (k, "i8" if k == "n" else "f8") for k in predictions.METRIC_NAMES
    ]
    m = dict(
        m,
        name=[info.names[s].encode() if s >= 0 else b"(all)" for s in m["symbol"]],
        split=[s.encode() for s in m["split"]],
    )
    f.create_table("metrics", mcols, rows_hint=max(1, len(m["symbol"])))
    f.append("metrics", {c: np.asarray(m[c], dtype=dt) for c, dt in mcols})
    f.create_table("profile", PROFILE_COLUMNS, rows_hint=len(profile))
    f.append(
        "profile",
        {
            c: np.array([r[c].encode() if c == "host" else r[c] for r in profile], dtype=dt)
            for c, dt in PROFILE_COLUMNS
        },
    )
    blob = np.frombuffer(state_bytes(tr.final_state(), torch), dtype=np.uint8)
    f.f.create_dataset("model", data=blob)
    s = tr.summary()
    best = s["best"]
    f.set_attrs(
        provenance.attributes(
            ctx.cfg,
            "ddp",
            group.size,
            [r["host"] for r in profile],
            t_start,
            **{
                "backend": f"{group.backend} on {group.device}",
                "precision": s["precision"],
                "precision_why": s["precision_why"],
                "threads_per_rank": threads,
                "model": tr.p.model,
                "features": json.dumps(info.features),
                "feature_store": info.path,
                "validation_from": info.validation_from,
                "test_from": info.test_from,
                "horizon": info.horizon,
                "train_samples": tr.n_train,
                "validation_samples": tr.index["validation"].n,
                "test_samples": tr.index["test"].n,
                "steps": s["steps"],
                "best_epoch": s["best_epoch"],
                "stopped_early": bool(s["stopped_early"]),
                "skipped_steps": s["skipped_steps"],
                "best_validation_loss": float(best.get("validation_loss", np.nan)),
                "test_ic": float(best.get("test_ic", np.nan)),
                "test_loss": float(best.get("test_loss", np.nan)),
                "y_scale": float(tr.stats["y_std"]),
                "ridge_penalty": float(scored["ridge_penalty"]),
                "left_out": ",".join(info.left_out()),
                "model_spec": json.dumps(model_spec(tr.p, info.features)),
            },
        )
    )
    f.close()
    os.replace(tmp, paths.out)
