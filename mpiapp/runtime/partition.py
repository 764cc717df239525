"""Rank-0 planning: split work units with costs into per-rank plans, then scatter them.

Plans are pure functions of (costs, number of ranks, strategy) — no randomness, no dependence on
timing — so every run, and every rank count, sees the same assignment for the same input.
"""

from __future__ import annotations

import heapq

import numpy as np

from . import comm as _comm

STRATEGIES = ("block", "cyclic", "lpt")


def plan(costs, nranks: int, strategy: str = "lpt") -> list[np.ndarray]:
    """Unit indices for each of `nranks` ranks; every unit exactly once, each list ascending.

    block: contiguous runs of nearly equal count (keeps neighbours together).
    cyclic: unit i to rank i mod n (cheap balance when costs trend along the list).
    lpt: longest processing time first — units by cost descending (ties: lower index first), each to
    the least-loaded rank (ties: lower rank). Makespan <= (4/3 - 1/(3n)) x optimal, and always
    <= total/n + (1 - 1/n) x max cost.
    """
    costs = np.asarray(costs, dtype=np.float64)
    if costs.ndim != 1:
        raise ValueError("costs must be one-dimensional")
    if nranks < 1:
        raise ValueError(f"nranks must be >= 1, got {nranks}")
    if np.any(~np.isfinite(costs)) or np.any(costs < 0):
        raise ValueError("costs must be finite and non-negative")
    n = costs.shape[0]
    idx = np.arange(n, dtype=np.int64)
    if strategy == "block":
        return [a.copy() for a in np.array_split(idx, nranks)]
    if strategy == "cyclic":
        return [idx[r::nranks].copy() for r in range(nranks)]
    if strategy != "lpt":
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    order = np.lexsort((idx, -costs))  # cost descending, then index ascending
    heap = [(0.0, r) for r in range(nranks)]
    owned: list[list[int]] = [[] for _ in range(nranks)]
    for u in order:
        load, r = heapq.heappop(heap)
        owned[r].append(int(u))
        heapq.heappush(heap, (load + float(costs[u]), r))
    return [np.array(sorted(o), dtype=np.int64) for o in owned]


def loads(costs, plans) -> np.ndarray:
    costs = np.asarray(costs, dtype=np.float64)
    return np.array([costs[p].sum() for p in plans])


def imbalance(values) -> float:
    """max / mean (1.0 = perfect balance); 1.0 when everything is zero."""
    v = np.asarray(values, dtype=np.float64)
    m = v.mean() if v.size else 0.0
    return float(v.max() / m) if m > 0 else 1.0


def scatter_plan(costs, strategy: str = "lpt", comm=None, root: int = 0) -> np.ndarray:
    """Rank `root` plans from `costs` (only its copy is read) and each rank receives its unit indices."""
    comm = _comm.world(comm)
    plans = plan(costs, comm.Get_size(), strategy) if comm.Get_rank() == root else None
    return comm.scatter(plans, root=root)
