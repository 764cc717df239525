"""Cells in, raw table rows out: what one rank does for its cells (no MPI here).

`Workspace` holds what a rank has loaded: problems (built once, in `load`), backends and their
device copies of the data, the cell cache. `Workspace.run(cell)` returns the raw rows of one
cell for the `curves` and `cells` tables (fixed-width numeric and bytes columns only).
"""

from __future__ import annotations

import math

import numpy as np

from . import backends as backends_mod
from . import cache as cache_mod
from . import problems as problems_mod
from .cell import CACHEABLE, STATUS, CellResult, run_cell
from .grid import KEY_NAMES, BenchParams, Cell
from .memory import FIELDS as MEMORY_FIELDS
from .solve import data_hash

KEY_COLUMNS = [(k, "i4") for k in KEY_NAMES]
CURVE_COLUMNS = [
    ("point", "i4"),
    ("time", "f8"),
    ("iteration", "i8"),
    ("epoch", "f8"),
    ("subopt", "f8"),
    ("rel_subopt", "f8"),
    ("grad_norm", "f8"),
    ("test_loss", "f8"),
]


def cell_columns(p: BenchParams) -> list[tuple[str, str]]:
    cols = [
        ("status", "i1"),
        ("cached", "i1"),
        ("cache_key", "S64"),
        ("message", "S400"),
        ("n", "i8"),
        ("d", "i8"),
        ("L", "f8"),
        ("mu", "f8"),
        ("kappa", "f8"),
        ("kappa_measured", "f8"),
        ("f_star", "f8"),
        ("lr", "f8"),
        ("momentum", "f8"),
        ("parity_dev", "f8"),
        ("steps_per_epoch", "i8"),
        ("iterations", "i8"),
        ("seconds", "f8"),
        ("compile_s", "f8"),
        ("f0_gap", "f8"),
        ("final_rel", "f8"),
        ("min_rel", "f8"),
    ]
    for t in p.targets:
        cols += [(f"time_to_{t:g}", "f8"), (f"iters_to_{t:g}", "f8")]
    cols += [(m, "i8") for m in MEMORY_FIELDS] + [("state_multiple", "f8"), ("state_ok", "i1")]
    return cols


class Workspace:
    """One rank's problems, backends, device data and cache."""

    def __init__(
        self, params: BenchParams, cache_dir: str | None, threads: int = 1, device: int = 0, plan=None
    ):
        self.p, self.threads, self.device, self.plan = params, threads, device, plan
        self.cache = cache_mod.CellCache(cache_dir) if (cache_dir and params.cache) else None
        self.ref_dir = cache_dir
        self.problems: dict = {}
        self.fingerprints: dict = {}
        self.backends: dict = {}
        self.data: dict = {}
        self.hits: dict = {}  # cache entries read (and checked) by check_cache: key -> (status, scalars, curve)

    def load(self, names) -> None:
        """Build the named problems (reference solutions cached next to the cell cache). Raises
        ProblemError (a ValueError) naming the problem, also when memory runs out building it."""
        opts = self.p.build_options(self.ref_dir, self.threads)
        for name in names:
            if name not in self.problems:
                try:
                    prob = problems_mod.build(name, opts)
                except MemoryError:
                    raise problems_mod.ProblemError(
                        f"{name}: out of memory building it (optbench.problems); "
                        "choose a smaller problem or fewer ranks per node"
                    ) from None
                self.problems[name] = prob
                self.fingerprints[name] = data_hash(
                    prob.X, prob.y, prob.X_test, prob.y_test, extra=f"{prob.kind} {prob.l2!r} {prob.f_star!r}"
                )

    def backend(self, name: str):
        if name not in self.backends:
            self.backends[name] = backends_mod.make(name, self.device, self.plan)
        return self.backends[name]

    def device_data(self, backend: str, problem: str):
        k = (backend, problem)
        if k not in self.data:
            self.data[k] = self.backend(backend).data(self.problems[problem])
        return self.data[k]

    def key(self, cell: Cell) -> str:
        """The cache key of a cell whose problem is loaded."""
        return cache_mod.cell_key(
            self.p,
            cell,
            self.fingerprints[cell.problem],
            cache_mod.env_fingerprint(self.backend(cell.backend), self.threads),
        )

    def check_cache(self, cells) -> None:
        """Read the cache entries of `cells` (problems loaded) now, each checked; raises
        cache.CacheError (a ValueError) naming a changed or damaged entry."""
        if self.cache is None:
            return
        for cell in cells:
            k = self.key(cell)
            hit = self.cache.read(k)
            if hit is not None:
                self.hits[k] = hit

    def run(self, cell: Cell) -> dict:
        """Raw rows of one cell: {"curves": {column: array}, "cells": {column: array}}."""
        self.load([cell.problem])
        prob = self.problems[cell.problem]
        key = self.key(cell)
        hit = self.hits.pop(key, None)
        if hit is None and self.cache is not None:
            hit = self.cache.get(key)
        if hit is not None:
            status, scalars, curve = hit
            res, cached = CellResult(status, curve, scalars), True
        else:
            be = self.backend(cell.backend)
            dd = self.device_data(cell.backend, cell.problem)
            ref = (self.backend("numpy"), self.device_data("numpy", cell.problem))
            res, cached = run_cell(self.p, cell, prob, be, dd, ref), False
            if self.cache is not None and res.status in CACHEABLE:
                self.cache.put(key, res.status, res.scalars, res.curve, cell)
        return rows(self.p, cell, res, cached, key)


def rows(p: BenchParams, cell: Cell, res: CellResult, cached: bool, key: str) -> dict:
    """The raw rows of a cell result (one `cells` row, one `curves` row per checkpoint)."""
    sc = res.scalars
    one = {name: np.array([cell.key[i]], dtype=np.int32) for i, name in enumerate(KEY_NAMES)}
    cells = dict(one)
    for col, dt in cell_columns(p):
        if col == "status":
            v = STATUS[res.status]
        elif col == "cached":
            v = int(cached)
        elif col == "cache_key":
            v = key.encode()
        elif col == "message":
            v = res.message.encode("utf-8", "replace")[:400]
        elif dt.startswith("f"):
            v = float(sc.get(col, math.nan))
        else:
            v = sc.get(col, -1)
            v = int(v) if v is not None and not (isinstance(v, float) and not math.isfinite(v)) else -1
        cells[col] = np.array([v], dtype=dt)
    c = res.curve
    m = 0 if c is None else len(c.time)
    curves = {name: np.full(m, cell.key[i], dtype=np.int32) for i, name in enumerate(KEY_NAMES)}
    curves["point"] = np.arange(m, dtype=np.int32)
    if c is not None:
        curves.update(
            time=c.time.astype("f8"),
            iteration=c.iteration.astype("i8"),
            epoch=c.epoch.astype("f8"),
            subopt=c.subopt.astype("f8"),
            rel_subopt=(c.subopt / c.f0_gap).astype("f8"),
            grad_norm=c.grad_norm.astype("f8"),
            test_loss=c.test_loss.astype("f8"),
        )
    else:
        for col, dt in CURVE_COLUMNS[1:]:
            curves[col] = np.zeros(0, dtype=dt)
    return {"curves": curves, "cells": cells}
