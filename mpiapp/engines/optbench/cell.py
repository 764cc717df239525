"""One grid cell: parity check, the timed run (one curve), the memory run, targets.

Order inside a cell: (1) for a backend other than numpy, the first `parity_steps` steps are run on
both and compared (parity.TOLERANCE); a cell that fails parity is recorded as `parity` and not
timed; (2) the timed run (recorder.run), whose warm-up also gives the compile seconds of a compiled
backend (JAX: `compile_s`; nan for the others); (3) the memory run (memory.measure), apart from timing.
Expected failures (a backend error, a diverged run) become a status, never an exception.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from dataclasses import dataclass, field

import numpy as np

from . import memory, parity, recorder, theory
from .grid import BenchParams, Cell, batch_seed, steps, w0

#: status codes stored in the cells table
STATUS = {"converged": 0, "budget": 1, "diverged": 2, "failed": 3, "parity": 4}
STATUS_NAME = {v: k for k, v in STATUS.items()}
#: statuses whose results are cached (a failed, diverged or parity-failed cell is always rerun)
CACHEABLE = ("converged", "budget")


@dataclass
class CellResult:
    status: str
    curve: recorder.Curve | None
    scalars: dict = field(default_factory=dict)
    message: str = ""


def hyper_for(p: BenchParams, cell: Cell, prob) -> theory.Hyper:
    """Theory hyper-parameters of a cell; mini-batch steps use L(b) (theory.smoothness). A set
    optbench.momentum replaces the theory momentum of heavy ball and Nesterov; optbench.adam_betas
    are Adam's and AdamW's betas."""
    L = theory.smoothness(prob.L, prob.L_max, prob.n, cell.batch)
    hp = theory.hyper(cell.optimizer, L, prob.mu, cell.step_scale, p.adam_lr, p.adamw_weight_decay)
    if p.momentum is not None and cell.optimizer in ("momentum", "nesterov"):
        hp = dataclasses.replace(hp, momentum=float(p.momentum))
    if cell.optimizer in ("adam", "adamw"):
        hp = dataclasses.replace(hp, betas=tuple(float(b) for b in p.adam_betas))
    return hp


def problem_scalars(prob) -> dict:
    return {
        "n": prob.n,
        "d": prob.d,
        "L": prob.L,
        "mu": prob.mu,
        "kappa": prob.kappa,
        "kappa_measured": prob.kappa_measured,
        "f_star": prob.f_star,
    }


def run_cell(p: BenchParams, cell: Cell, prob, be, dd, ref=None) -> CellResult:
    """Run one cell on backend `be` with device data `dd`; `ref` = (numpy backend, its data) for
    the parity check. Never raises for an expected failure: the status says what happened."""
    hp = hyper_for(p, cell, prob)
    x0 = w0(p, cell, prob.d)
    bseed = batch_seed(p, cell)
    total, per_epoch = steps(p, prob.n, cell.batch)
    sc = dict(
        problem_scalars(prob), lr=hp.lr, momentum=hp.momentum, parity_dev=math.nan, steps_per_epoch=per_epoch
    )
    try:
        if be.name != "numpy" and ref is not None and p.parity_steps > 0:
            a = parity.trajectory(ref[0], ref[1], cell.optimizer, hp, x0, p.parity_steps, cell.batch, bseed)
            b = parity.trajectory(be, dd, cell.optimizer, hp, x0, p.parity_steps, cell.batch, bseed)
            sc["parity_dev"] = parity.deviation(a, b)
            if not sc["parity_dev"] <= parity.TOLERANCE:
                return CellResult(
                    "parity",
                    None,
                    sc,
                    f"{be.name} left numpy's trajectory by "
                    f"{sc['parity_dev']:.2e} > {parity.TOLERANCE:g} in {p.parity_steps} steps",
                )
        spec = recorder.RunSpec(
            max_steps=total,
            batch=cell.batch,
            checkpoints=p.checkpoints,
            stop_rel=p.stop_rel,
            diverge_factor=p.diverge_factor,
            batch_seed=bseed,
        )
        curve = recorder.run(be, dd, cell.optimizer, hp, x0, prob.f_star, spec)
        rows = None if cell.batch <= 0 or cell.batch >= prob.n else np.arange(cell.batch)
        mem = memory.measure(be, dd, cell.optimizer, hp, x0, p.memory_steps, rows)
    except Exception as exc:  # a backend error is this cell's failure, not the job's
        msg = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc(limit=3)
        return CellResult("failed", None, sc, (msg + " | " + tb.replace("\n", " "))[:400])
    sc.update({k: v for k, v in mem.items()})
    for t in p.targets:
        sec, it = curve.to_target(t)
        sc[f"time_to_{t:g}"], sc[f"iters_to_{t:g}"] = sec, it
    sc["compile_s"] = float(curve.meta.get("compile_s", math.nan))
    sc.update(
        seconds=float(curve.time[-1]),
        iterations=int(curve.iteration[-1]),
        f0_gap=curve.f0_gap,
        final_rel=float(curve.rel[-1]),
        min_rel=float(np.min(curve.rel)),
    )
    low = float(np.min(curve.subopt))
    if low < 0:  # beyond rounding (recorder.suboptimality): f* is not the minimum of this problem
        return CellResult(
            curve.status,
            curve,
            sc,
            f"f fell below f* by {-low:.3g}, more than rounding: f* "
            f"({prob.f_star!r}) is not the minimum of {prob.name}",
        )
    return CellResult(curve.status, curve, sc)
