"""The training phase: DistributedDataParallel over the feature store, step by step.

One optimizer step = one global batch of ddp.batch_size samples (positions [b B, (b+1) B) of the
epoch's order, order.py), cut into ddp.accumulation_steps micro-batches; each rank takes a
contiguous part of each micro-batch. The local loss is sum((p - y)^2) * world / B, so DDP's
gradient average (sum over ranks / world) is exactly the gradient of the mean loss over the B
samples, whatever the rank count and however unevenly B divides (Goyal et al. 2017, "Accurate,
large minibatch SGD", on keeping the per-sample normalisation independent of the worker count).
Gradients are synchronised on the last micro-batch only (`no_sync` on the others).

At every step boundary the ranks add, with one MPI all-reduce (not a torch collective): the step's
loss, whether any rank saw a non-finite loss, whether any rank received SIGUSR1/SIGTERM. A non-finite
loss stops every rank with a message naming the step and batch (fp16: the gradient scaler skips
that step instead, and the skip is counted); a stop signal ends the step, writes a checkpoint and
exits 75 on every rank. A torch collective that stalls past ddp.timeout_s raises in the process
group; the message names the step.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time

import numpy as np

from ... import exits
from ...runtime import errors, signals, torch_dist
from . import checkpoint as ckpt
from . import evaluate as ev
from . import precision as prec
from .models import build as build_model
from .order import EpochOrder, SampleIndex, even_part, micro_batches, steps_per_epoch
from .reader import StoreReader, min_buffer_rows

EXIT_NONFINITE = exits.FAILED


class NonFinite(errors.JobError):
    def __init__(self, message: str):
        super().__init__(message, exit_code=EXIT_NONFINITE)


class CommTimer:
    """State of the timed all-reduce hooks: the world size, the seconds spent in gradient all-reduces,
    and whether MPI carries them (else gloo)."""

    def __init__(self, size: int, use_mpi: bool):
        self.size = size
        self.seconds = 0.0
        self.use_mpi = use_mpi


def timed_allreduce(state: CommTimer, bucket):
    """A DDP communication hook for CPU ranks: all-reduce one gradient bucket, average it, time it.

    Over MPI (ddp.cpu_allreduce=mpi: an in-place MPI_Allreduce on the bucket's memory, from the thread
    that runs backward — the main thread on CPU, checked) or gloo. Blocking per bucket (no overlap with
    the backward pass): on CPU ranks with one or two compute threads there is little to overlap with,
    and the wait is then measured exactly.
    """
    import torch
    import torch.distributed as dist

    t = time.perf_counter()
    buf = bucket.buffer()
    if state.use_mpi and threading.current_thread() is threading.main_thread():
        torch_dist.sum_inplace(buf.numpy())
    else:
        dist.all_reduce(buf)
    buf.div_(state.size)
    state.seconds += time.perf_counter() - t
    fut = torch.futures.Future()
    fut.set_result(buf)
    return fut


def setup_problem(p, samples: dict, ranks: int) -> str | None:
    """Why this configuration cannot train on these splits with `ranks` ranks, or None — pure.

    samples: {train, validation, test: sample count} after the look-back narrowing.
    """
    if samples["train"] < p.batch_size:
        return (
            f"the training split has {samples['train']} samples, fewer than ddp.batch_size = {p.batch_size}: "
            "lower the batch size or add data"
        )
    if p.batch_size // (p.accumulation_steps * ranks) < 1:
        return (
            f"ddp.batch_size = {p.batch_size} over {p.accumulation_steps} micro-batch(es) and {ranks} ranks "
            "leaves a rank without samples: raise ddp.batch_size"
        )
    need = min_buffer_rows(p.shuffle_block, p.window)
    if p.buffer_rows < need:
        return f"ddp.buffer_rows = {p.buffer_rows} cannot hold one shuffle block of ddp.shuffle_block x window = {need} rows"
    for s in ("validation", "test"):
        if samples[s] == 0:
            return (
                f"the {s} split has no samples (ddp.lookback = {p.lookback} may exceed what each symbol has "
                "there)"
            )
    return None


def _plain(d: dict) -> dict:
    """numpy scalars -> Python numbers (a weights_only checkpoint holds plain values and tensors)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in d.items()}


def schedule_factor(step: int, total: int, warmup: int, kind: str) -> float:
    """Learning-rate multiplier at optimizer step `step` (0-based) — pure. Linear warm-up over
    `warmup` steps, then constant or cosine decay to 0 at `total` (Loshchilov and Hutter 2017)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "constant" or total <= warmup:
        return 1.0
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * frac))


def store_change(saved: str, info) -> str:
    """What differs between the store identity a checkpoint was made on (JSON text) and `info`'s."""
    import json

    old = json.loads(saved)
    keys = sorted(k for k in set(old) | set(info.identity) if old.get(k) != info.identity.get(k))
    if keys == ["sources"]:
        return "built from other data"
    from .store import both_values

    return f"built with other {', '.join(keys)} ({both_values(old, info.identity, keys)})"


class Trainer:
    """Everything one rank holds while training; `run()` returns ('complete' | 'interrupted', summary)."""

    def __init__(self, ctx, params, info, group, flat_config: dict):
        import torch

        self.torch = torch
        self.ctx, self.p, self.info, self.group = ctx, params, info, group
        self.rank, self.size = group.rank, group.size
        self.device = torch.device(group.device)
        self.flat_config = flat_config
        p = params
        W = p.window
        self.index = {s: SampleIndex(*info.split_ranges(s, W)) for s in ("train", "validation", "test")}
        self.n_train = self.index["train"].n
        self.steps_per_epoch = steps_per_epoch(self.n_train, p.batch_size)
        with errors.agreement(ctx.comm):
            problem = setup_problem(p, {s: ix.n for s, ix in self.index.items()}, self.size)
            if problem:
                raise errors.JobError(problem)
            self.precision, self.precision_why = prec.choose(
                p.precision,
                group.device,
                prec.cpu_flags(),
                bool(self.device.type == "cuda" and torch.cuda.is_bf16_supported()),
            )
        t = ctx.timers
        self.readers = {
            s: StoreReader(info.path, ix, W, p.shuffle_block, p.buffer_rows, t)
            for s, ix in self.index.items()
        }
        with t.phase("stats"):
            self.stats = ev.input_stats(self.readers["train"], self.rank, self.size)
        torch.manual_seed(p.seed)
        model = build_model(p.model, len(info.features), p.hidden, torch)
        model.x_mean.copy_(torch.as_tensor(self.stats["x_mean"], dtype=torch.float32))
        model.x_std.copy_(torch.as_tensor(self.stats["x_std"], dtype=torch.float32))
        model.y_scale.fill_(float(self.stats["y_std"]))
        model.to(self.device)
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.model = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.comm_timer = None
        if self.device.type == "cpu":
            self.comm_timer = CommTimer(self.size, p.cpu_allreduce == "mpi")
            self.model.register_comm_hook(self.comm_timer, timed_allreduce)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
        self.total_steps = self.steps_per_epoch * p.epochs
        if p.max_steps:
            self.total_steps = min(self.total_steps, p.max_steps)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: schedule_factor(s, self.total_steps, p.warmup_steps, p.schedule)
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.state = {
            "epoch": 0,
            "step": 0,
            "global_step": 0,
            "skipped_steps": 0,
            "bad_epochs": 0,
            "best_loss": math.inf,
            "best_epoch": -1,
            "epoch_loss": 0.0,
            "epoch_steps": 0,
            "epoch_seconds": 0.0,
            "stopped_early": False,
        }
        self.history = {"step": [], "epoch": [], "loss": [], "lr": [], "scale": []}
        self.epochs: list[dict] = []
        self.best_state = None
        self.samples = 0

    def autocast(self):
        torch = self.torch
        if self.precision in ("bf16", "fp16"):
            dt = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.type, dtype=dt)
        return contextlib.nullcontext()

    # --- checkpoints ----------------------------------------------------------------------------------
    def checkpoint_state(self) -> dict:
        torch = self.torch
        h = {
            k: torch.tensor(v, dtype=torch.float64 if k in ("loss", "lr", "scale") else torch.int64)
            for k, v in self.history.items()
        }
        st = {
            "model": self.model.module.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": torch.get_rng_state(),
            "state": _plain(self.state),
            "history": h,
            "epochs": [_plain(e) for e in self.epochs],
            "best_state": self.best_state,
            "config": dict(self.flat_config),
            "ranks": self.size,
            "samples": self.samples,
            "store": self.info.identity_text,
        }
        if self.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return st

    def save(self, path: str) -> None:
        with self.ctx.timers.phase("checkpoint"):
            if self.rank == 0:
                ckpt.save(self.checkpoint_state(), path, self.torch)

    def restore(self, path: str) -> None:
        """Collective: continue from the checkpoint at `path` (every rank reads it). Raises
        errors.JobError (exit 2) when it was made with another configuration."""
        st = None
        with errors.agreement(self.ctx.comm):
            st = ckpt.load(path, self.torch, str(self.device))
            diff = ckpt.config_differences(st["config"], self.flat_config)
            if diff:
                raise errors.JobError(
                    f"{path} was made with another configuration ({'; '.join(diff[:4])}): "
                    "start over with --force"
                )
            if st.get("store") is not None and st["store"] != self.info.identity_text:
                why = store_change(st["store"], self.info)
                raise errors.JobError(
                    f"{path} was trained on another feature store than {self.info.path} ({why}): its "
                    "training would go on over other samples; start over with --force"
                )
        self.model.module.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        self.torch.set_rng_state(st["rng"])
        if "cuda_rng" in st and self.device.type == "cuda":
            self.torch.cuda.set_rng_state(st["cuda_rng"], self.device)
        self.state.update(st["state"])
        self.history = {k: v.tolist() for k, v in st["history"].items()}
        self.epochs = [dict(e) for e in st["epochs"]]
        self.best_state = st["best_state"]
        self.samples = int(st["samples"])

    # --- one step -------------------------------------------------------------------------------------
    def _micro(self, order, p0: int, p1: int, last: bool) -> tuple[float, bool]:
        torch, t = self.torch, self.ctx.timers
        r0, r1 = even_part(p0, p1, self.size, self.rank)
        with t.phase("read"):
            x, y = self.readers["train"].samples(order.samples(np.arange(r0, r1)))
        xt = torch.from_numpy(x).to(self.device)
        yt = torch.from_numpy(y).to(self.device) / float(self.stats["y_std"])
        ctx = contextlib.nullcontext() if last else self.model.no_sync()
        with t.phase("compute"), ctx:
            with self.autocast():
                pred = self.model(xt)
            loss_sum = ((pred.float() - yt) ** 2).sum()
            loss = loss_sum * (self.size / self.p.batch_size)
            self.scaler.scale(loss).backward()
        v = float(loss_sum.detach())
        self.samples += r1 - r0
        return v, math.isfinite(v)

    def step(self, order, b: int) -> dict:
        """One optimizer step on global batch b of the current epoch; the agreed step summary."""
        p, t = self.p, self.ctx.timers
        self.opt.zero_grad(set_to_none=True)
        loss_sum, finite = 0.0, True
        parts = micro_batches(b, p.batch_size, p.accumulation_steps)
        for m, (p0, p1) in enumerate(parts):
            v, ok = self._micro(order, p0, p1, m == len(parts) - 1)
            loss_sum += v if ok else 0.0
            finite &= ok
        with t.phase("agree"):
            tot = torch_dist.sums([loss_sum, 0.0 if finite else 1.0, 1.0 if signals.requested() else 0.0])
        skipped = False
        if tot[1] > 0 and self.precision != "fp16":
            raise NonFinite(
                f"non-finite loss at step {self.state['global_step'] + 1} (epoch {self.state['epoch']}, "
                f"batch {b}): training stopped; lower ddp.learning_rate or set ddp.grad_clip"
            )
        with t.phase("optimizer"):
            if p.grad_clip > 0:
                self.scaler.unscale_(self.opt)
                self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), p.grad_clip)
            before = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
            self.scaler.step(self.opt)
            self.scaler.update()
            if self.scaler.is_enabled() and self.scaler.get_scale() < before:
                skipped = True
                self.state["skipped_steps"] += 1
            lr = self.opt.param_groups[0]["lr"]
            self.sched.step()
        return {
            "loss": tot[0] / p.batch_size if tot[1] == 0 else math.nan,
            "stop": tot[2] > 0,
            "lr": lr,
            "skipped": skipped,
        }

    # --- the loop -------------------------------------------------------------------------------------
    def run(self, ckpt_path: str) -> tuple[str, dict]:
        p, st = self.p, self.state
        while st["epoch"] < p.epochs and not st["stopped_early"] and st["global_step"] < self.total_steps:
            e = st["epoch"]
            order = EpochOrder(self.n_train, p.shuffle_block, p.seed, e)
            t0 = time.perf_counter()
            while st["step"] < self.steps_per_epoch and st["global_step"] < self.total_steps:
                b = st["step"]
                try:
                    out = self.step(order, b)
                except RuntimeError as exc:  # a torch collective that timed out or a peer that vanished
                    raise RuntimeError(f"step {st['global_step'] + 1} (epoch {e}, batch {b}): {exc}") from exc
                st["step"] += 1
                st["global_step"] += 1
                st["epoch_steps"] += 1
                st["epoch_loss"] += out["loss"]
                for k, v in (
                    ("step", st["global_step"]),
                    ("epoch", e),
                    ("loss", out["loss"]),
                    ("lr", out["lr"]),
                    ("scale", self.scaler.get_scale() if self.scaler.is_enabled() else 1.0),
                ):
                    self.history[k].append(v)
                if out["stop"]:
                    st["epoch_seconds"] += time.perf_counter() - t0
                    self.save(ckpt_path)
                    return "interrupted", {"step": st["global_step"]}
                if p.checkpoint_steps and st["global_step"] % p.checkpoint_steps == 0:
                    st["epoch_seconds"] += time.perf_counter() - t0
                    self.save(ckpt_path)
                    t0 = time.perf_counter()
            st["epoch_seconds"] += time.perf_counter() - t0
            self._end_epoch(e)
            self.save(ckpt_path)
        if st["step"] > 0:  # resumed from a stop at the very last step: its epoch still needs its end
            self._end_epoch(st["epoch"])
            self.save(ckpt_path)
        return "complete", self.summary()

    def _end_epoch(self, e: int) -> None:
        p, st = self.p, self.state
        row = {
            "epoch": e,
            "steps": st["epoch_steps"],
            "train_loss": st["epoch_loss"] / max(1, st["epoch_steps"]),
            "seconds": st["epoch_seconds"],
            "samples_per_s": st["epoch_steps"] * p.batch_size / st["epoch_seconds"]
            if st["epoch_seconds"]
            else 0.0,
        }
        with self.ctx.timers.phase("evaluate"):
            for s in ("validation", "test"):
                m = ev.evaluate(
                    self.model.module,
                    self.readers[s],
                    self.stats,
                    self.autocast,
                    self.device,
                    self.rank,
                    self.size,
                    self.torch,
                )
                row.update({f"{s}_{k}": v for k, v in m.items()})
        self.epochs.append(row)
        if row["validation_loss"] < st["best_loss"]:
            st["best_loss"], st["best_epoch"], st["bad_epochs"] = row["validation_loss"], e, 0
            self.best_state = copy.deepcopy(self.model.module.state_dict())
        else:
            st["bad_epochs"] += 1
            if p.patience and st["bad_epochs"] >= p.patience:
                st["stopped_early"] = True
        st.update(epoch=e + 1, step=0, epoch_loss=0.0, epoch_steps=0, epoch_seconds=0.0)

    def final_state(self) -> dict:
        """The weights kept: the best validation epoch's (early stopping), else the last."""
        return self.best_state if self.best_state is not None else self.model.module.state_dict()

    def summary(self) -> dict:
        st = self.state
        best = next(
            (e for e in self.epochs if e["epoch"] == st["best_epoch"]), self.epochs[-1] if self.epochs else {}
        )
        return {
            "steps": st["global_step"],
            "epochs": len(self.epochs),
            "best_epoch": st["best_epoch"],
            "stopped_early": st["stopped_early"],
            "skipped_steps": st["skipped_steps"],
            "best": best,
            "precision": self.precision,
            "precision_why": self.precision_why,
        }

    def profile_row(self) -> dict:
        """This rank's time split (seconds) and counters."""
        from ...runtime.profile import peak_rss_mb

        s = self.ctx.timers.seconds
        comm = self.comm_timer.seconds if self.comm_timer is not None else math.nan
        compute = s.get("compute", 0.0) - (0.0 if math.isnan(comm) else comm)
        return {
            "rank": self.rank,
            "samples": self.samples,
            "compute_s": compute,
            "allreduce_s": comm,
            "read_s": s.get("read", 0.0),
            "optimizer_s": s.get("optimizer", 0.0),
            "agree_s": s.get("agree", 0.0),
            "evaluate_s": s.get("evaluate", 0.0),
            "checkpoint_s": s.get("checkpoint", 0.0),
            "stats_s": s.get("stats", 0.0),
            "rows_read": sum(r.rows_read for r in self.readers.values()),
            "peak_buffer_rows": max(r.peak_rows for r in self.readers.values()),
            "peak_rss_mb": peak_rss_mb(),
        }

    def close(self) -> None:
        for r in self.readers.values():
            r.close()
