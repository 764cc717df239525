"""One run per curve: a single optimisation run recorded at geometric checkpoints.

Timing rules (what the public toolkits get wrong, done right here):
- one run per curve: every checkpoint of a curve comes from the same run (no restart per point);
- the device is synchronised before every clock read (`Backend.sync`);
- evaluating f, ||grad f|| and the test loss at a checkpoint happens with the clock stopped;
- a warm-up step (on a throw-away copy of the start point and optimizer) runs before the clock
  starts, so first-call costs (allocator, kernel caches, JAX's compilation) are not timed; a
  runner that compiles reports the seconds in `compile_s`, kept in Curve.meta["compile_s"];
- suboptimality is f - f* against the true optimum f*, never against the best value any run found;
  a value below 0 by rounding only is recorded as 0 (`suboptimality`).

Mini-batches: each epoch draws a permutation of the n rows from a generator seeded by the cell
and takes floor(n / b) consecutive slices (the remainder is dropped). Drawing the indices is timed
(it is part of training).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import problem as obj

STATUSES = ("converged", "budget", "diverged", "failed")


@dataclass(frozen=True)
class RunSpec:
    """max_steps: budget in optimizer steps (a full-batch step is one epoch); batch: rows per step
    (0 = full batch);
    checkpoints: about how many geometric checkpoints per run; stop_rel: stop once the relative
    suboptimality (f - f*) / (f(w0) - f*) is at or below this (0 = run the whole budget);
    diverge_factor: a run whose f - f* exceeds this multiple of f(w0) - f* (or is not finite) has
    diverged; batch_seed: seed of the mini-batch order."""

    max_steps: int
    batch: int = 0
    checkpoints: int = 60
    stop_rel: float = 1e-10
    diverge_factor: float = 1e6
    batch_seed: int = 0


@dataclass
class Curve:
    """Arrays of one run, one entry per checkpoint (the first is iteration 0):
    time (s, timed steps only), iteration, epoch, subopt (f - f*), grad_norm (||grad f||, full data),
    test_loss (data term on the test rows; nan without test rows). f0_gap = f(w0) - f*.
    meta["compile_s"]: seconds the backend spent compiling the step (nan: nothing is compiled)."""

    time: np.ndarray
    iteration: np.ndarray
    epoch: np.ndarray
    subopt: np.ndarray
    grad_norm: np.ndarray
    test_loss: np.ndarray
    status: str
    f0_gap: float
    steps_per_epoch: int
    meta: dict = field(default_factory=dict)

    @property
    def rel(self) -> np.ndarray:
        return self.subopt / self.f0_gap

    def to_target(self, target: float) -> tuple[float, float]:
        """(seconds, iterations) at the first checkpoint whose relative suboptimality <= target;
        (inf, inf) when the run never got there. Resolution: the checkpoint spacing."""
        hit = np.nonzero(self.rel <= target)[0]
        if not len(hit):
            return math.inf, math.inf
        return float(self.time[hit[0]]), float(self.iteration[hit[0]])


def checkpoint_iters(total: int, count: int) -> np.ndarray:
    """0, then about `count` geometrically spaced distinct iterations in [1, total], total included."""
    if total <= 0:
        return np.array([0], dtype=np.int64)
    pts = np.unique(np.round(np.geomspace(1, total, max(2, count))).astype(np.int64))
    return np.concatenate([[0], pts])


class Batches:
    """Row-index batches: per-epoch permutations from a seeded generator."""

    def __init__(self, n: int, batch: int, seed: int):
        self.n, self.b = n, batch
        self.per_epoch = max(1, n // batch)
        self.rng = np.random.default_rng(seed)
        self.perm, self.pos = None, self.per_epoch

    def next(self) -> np.ndarray:
        if self.pos >= self.per_epoch:
            self.perm, self.pos = self.rng.permutation(self.n), 0
        s = self.pos * self.b
        self.pos += 1
        return self.perm[s : s + self.b]


#: a computed f below f* by at most this many units in the last place of max(|f|, |f*|) is what
#: evaluating f rounds (its sums carry that error): the suboptimality is recorded as 0, not negative
ROUNDING_ULPS = 64


def suboptimality(f: float, f_star: float) -> float:
    """f - f*, clipped to 0 when it is negative by no more than rounding (ROUNDING_ULPS); a more
    negative value is kept (and flags its cell: f* is then not the minimum)."""
    gap = f - f_star
    if gap < 0 and -gap <= ROUNDING_ULPS * np.finfo(np.float64).eps * max(abs(f), abs(f_star)):
        return 0.0
    return gap


def evaluate(be, dd, w, f_star: float) -> tuple[float, float, float]:
    """(f - f* (see suboptimality), ||grad f||, test loss) at w, as floats (forces a device sync)."""
    xp = be.xp
    f = be.scalar(obj.loss(dd.kind, dd.X, dd.y, w, dd.l2, xp))
    g = obj.grad(dd.kind, dd.X, dd.y, w, dd.l2, xp)
    gn = math.sqrt(be.scalar(g @ g))
    tl = be.scalar(obj.loss(dd.kind, dd.X_test, dd.y_test, w, 0.0, xp)) if dd.X_test.shape[0] else math.nan
    return suboptimality(f, f_star), gn, tl


def run(
    be, dd, optimizer: str, hp, w0: np.ndarray, f_star: float, spec: RunSpec, clock=time.perf_counter
) -> Curve:
    """Run `optimizer` from w0 on the device data dd and record the curve (module docstring)."""
    n = int(dd.X.shape[0])
    full = spec.batch <= 0 or spec.batch >= n
    batches = None if full else Batches(n, spec.batch, spec.batch_seed)
    per_epoch = 1 if full else batches.per_epoch
    total = int(spec.max_steps)
    cks = checkpoint_iters(total, spec.checkpoints)

    warm = be.runner(dd, optimizer, hp, w0)  # warm-up: a throw-away copy, not timed
    warm.step(None if full else np.arange(min(spec.batch, n)))
    be.sync()
    compile_s = float(getattr(warm, "compile_s", math.nan))
    del warm

    r = be.runner(dd, optimizer, hp, w0)
    rows = []
    gap0, gn, tl = evaluate(be, dd, r.params(), f_star)
    rows.append((0.0, 0, 0.0, gap0, gn, tl))
    status, t_acc, k = "budget", 0.0, 0
    for target in cks[1:]:
        be.sync()
        t0 = clock()
        while k < target:
            r.step(None if full else batches.next())
            k += 1
        be.sync()
        t_acc += clock() - t0
        gap, gn, tl = evaluate(be, dd, r.params(), f_star)
        rows.append((t_acc, k, k / per_epoch, gap, gn, tl))
        if not math.isfinite(gap) or gap > spec.diverge_factor * max(gap0, 1e-300):
            status = "diverged"
            break
        if spec.stop_rel > 0 and gap <= spec.stop_rel * gap0:
            status = "converged"
            break
    a = np.array(rows, dtype=np.float64)
    return Curve(
        time=a[:, 0],
        iteration=a[:, 1].astype(np.int64),
        epoch=a[:, 2],
        subopt=a[:, 3],
        grad_norm=a[:, 4],
        test_loss=a[:, 5],
        status=status,
        f0_gap=float(gap0),
        steps_per_epoch=per_epoch,
        meta={"compile_s": compile_s},
    )
