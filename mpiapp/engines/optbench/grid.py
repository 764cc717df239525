"""The benchmark grid: parameters, cells, their seeds and their estimated costs.

A cell is (problem, optimizer, backend, step scale, batch size, seed index). Seeds come from the
cell, never from the rank: the start point w0 from (base seed, problem, seed index) — so every
optimizer and backend starts from the same point — and the mini-batch order from (base seed,
problem, seed index, batch size) — so they also see the same batches.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, fields

import numpy as np

from .problems import BuildOptions


@dataclass(frozen=True)
class BenchParams:
    """The optbench config section as one object (docs/config.md documents each key)."""

    problems: tuple = ("lsq-k1e3-d100", "lsq-k1e6-d100", "lsq-k1e9-d100", "logreg-d100", "digits",
                       "breast_cancer", "diabetes", "finance")
    optimizers: tuple = ("sgd", "momentum", "nesterov", "adam", "adamw")
    backends: tuple = ("numpy", "torch")
    step_scales: tuple = (1.0,)
    batch_sizes: tuple = (0, 64)
    repeats: int = 3
    max_iters: int = 500
    max_epochs: int = 0
    checkpoints: int = 60
    stop_rel: float = 1e-10
    diverge_factor: float = 1e6
    targets: tuple = (1e-3, 1e-6)
    adam_lr: float = 1e-2
    adamw_weight_decay: float = 1e-4
    seed: int = 0
    rows_ratio: float = 2.0
    informative: int = 10
    noise: float = 0.1
    l2: float = 1e-3
    qr_max_dim: int = 2000
    finance_lags: int = 10
    parity_steps: int = 20
    memory_steps: int = 3
    bootstrap: int = 1000
    cache: bool = True
    cache_dir: str = ""
    data_dir: str = ""
    momentum: float | None = None
    adam_betas: tuple = (0.9, 0.999)

    @classmethod
    def from_section(cls, sec) -> "BenchParams":
        kw = {}
        for f in fields(cls):
            v = sec[f.name]
            kw[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    def build_options(self, cache_dir: str | None, threads: int = 1) -> BuildOptions:
        return BuildOptions(seed=self.seed, rows_ratio=self.rows_ratio, informative=self.informative,
                            noise=self.noise, l2=self.l2, qr_max_dim=self.qr_max_dim,
                            data_dir=self.data_dir or None, cache_dir=cache_dir, threads=threads,
                            finance_lags=self.finance_lags)  # fmt: skip


@dataclass(frozen=True)
class Cell:
    """Indices into the grid's lists (the unit key) and the values they stand for."""

    key: tuple  # (problem, optimizer, backend, step, batch, seed) indices
    problem: str
    optimizer: str
    backend: str
    step_scale: float
    batch: int
    seed: int


KEY_NAMES = ("problem", "optimizer", "backend", "step", "batch", "seed")


def cells(p: BenchParams) -> list[Cell]:
    """Every cell of the grid, in key order."""
    out = []
    for ip, prob in enumerate(p.problems):
        for io, opt in enumerate(p.optimizers):
            for ib, be in enumerate(p.backends):
                for i_s, sc in enumerate(p.step_scales):
                    for i_b, bs in enumerate(p.batch_sizes):
                        for seed in range(p.repeats):
                            out.append(Cell((ip, io, ib, i_s, i_b, seed), prob, opt, be, float(sc), int(bs), seed))
    return out


def cell_of(p: BenchParams, key) -> Cell:
    ip, io, ib, i_s, i_b, seed = (int(k) for k in key)
    return Cell(tuple(int(k) for k in key), p.problems[ip], p.optimizers[io], p.backends[ib],
                float(p.step_scales[i_s]), int(p.batch_sizes[i_b]), seed)


def w0(p: BenchParams, cell: Cell, d: int) -> np.ndarray:
    """The start point: standard normal / sqrt(d), seeded by (seed, problem, seed index)."""
    rng = np.random.default_rng([p.seed, zlib.crc32(cell.problem.encode()), cell.seed, 1])
    return rng.standard_normal(d) / np.sqrt(d)


def batch_seed(p: BenchParams, cell: Cell) -> int:
    ss = np.random.SeedSequence([p.seed, zlib.crc32(cell.problem.encode()), cell.seed, 2, max(cell.batch, 0)])
    return int(ss.generate_state(1)[0])


def steps(p: BenchParams, n: int, batch: int) -> tuple[int, int]:
    """(steps budget, steps per epoch): max_iters steps, capped at max_epochs epochs when > 0."""
    per_epoch = 1 if batch <= 0 or batch >= n else max(1, n // batch)
    total = p.max_iters
    if p.max_epochs > 0:
        total = min(total, p.max_epochs * per_epoch)
    return int(total), per_epoch


#: seconds of fixed overhead per step, by backend (measured order of magnitude on a laptop core:
#: a NumPy step ~20 us, a torch.optim step ~300 us, a compiled JAX step ~30 us); only the plan's
#: balance depends on these
STEP_OVERHEAD = {"numpy": 2e-5, "cupy": 1e-4, "torch": 3e-4, "jax": 3e-5}
#: seconds of compilation per cell, by backend (JAX: 0.3-1.8 s per step on a loaded 2-core machine)
COMPILE = {"jax": 0.5}
FLOPS = 2e9  # sustained matrix-vector rate, flop/s (memory bound)


def cost(p: BenchParams, cell: Cell, n: int, d: int) -> float:
    """Estimated seconds of one cell (timed run + parity + memory run): the LPT plan's weight."""
    total, _ = steps(p, n, cell.batch)
    rows = n if cell.batch <= 0 or cell.batch >= n else cell.batch
    per_step = 4.0 * rows * d / FLOPS + STEP_OVERHEAD.get(cell.backend, 1e-4)
    evals = (p.checkpoints + 2) * 6.0 * n * d / FLOPS
    extra = (p.parity_steps * 2 + p.memory_steps) * per_step
    return total * per_step + evals + extra + COMPILE.get(cell.backend, 0.0)
