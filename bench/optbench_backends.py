"""Time per optimizer step: JAX against NumPy and torch on the CPU, side by side in one run.

    python bench/optbench_backends.py                        # d = 100, 1,000, 10,000; ~5 min, ~3 GB
    python bench/optbench_backends.py --dims 100,1000 --optimizers sgd,adam --batches 0

Each step is the benchmark's own runner step, timed as optbench times it: `Backend.sync()` (for
JAX, block_until_ready on the step's outputs) before every clock read, a warm-up step first (JAX
compiles there; its compile seconds are printed apart). Problem: least squares lsq-k1e3-d<d> with
n = rows_ratio * d rows (1.2: X is 960 MB at d = 10,000); full-batch steps (two matrix-vector
products over X) and mini-batch steps of 64 rows (the gather, two small products and the update:
mostly per-step overhead). Rounds rotate the order of the backends so that machine load hits all
alike; a figure is the median over rounds of the mean step time within a round, and the ratio
column is the median over rounds of that round's backend / NumPy ratio. A run whose iterates left the
finite numbers (heavy ball's theory momentum on noisy mini-batches can) says so in its last column. Threads: one per library
(threadpoolctl for BLAS, torch.set_num_threads, JAX through runtime/xla.py's plan), --threads N, and
the whole process is bound to the first N CPUs of its mask, so that XLA's pool (which the plan binds
to those CPUs) and NumPy's and torch's threads compete for the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mpiapp.engines.optbench import backends, problems, recorder, theory  # noqa: E402
from mpiapp.engines.optbench.optimizers import OPTIMIZERS  # noqa: E402

BACKENDS = ("numpy", "torch", "jax")


def mean_step(be, r, steps: int, batches) -> float:
    """Seconds per step over `steps` steps of runner r (sync before each clock read)."""
    be.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        r.step(None if batches is None else batches.next())
    be.sync()
    return (time.perf_counter() - t0) / steps


def measure(bes: dict, data: dict, prob, optimizer: str, batch: int, rounds: int, budget_s: float) -> dict:
    hp = theory.hyper(optimizer, theory.smoothness(prob.L, prob.L_max, prob.n, batch), prob.mu)
    w0 = np.random.default_rng(0).standard_normal(prob.d) / np.sqrt(prob.d)
    full = batch <= 0 or batch >= prob.n
    runners, batches, compile_s, steps = {}, {}, {}, {}
    for name, be in bes.items():
        warm = be.runner(data[name], optimizer, hp, w0)
        warm.step(None if full else np.arange(batch))
        be.sync()
        compile_s[name] = float(getattr(warm, "compile_s", float("nan")))
        del warm
        runners[name] = be.runner(data[name], optimizer, hp, w0)
        batches[name] = None if full else recorder.Batches(prob.n, batch, seed=1)
        probe = np.median([mean_step(be, runners[name], 2, batches[name]) for _ in range(3)])
        steps[name] = int(max(2, min(5000, budget_s / max(probe, 1e-7))))
    n_steps = min(steps.values())  # the same number of steps for every backend
    per = {name: [] for name in bes}
    order = list(bes)
    for k in range(rounds):
        for name in order[k % len(order) :] + order[: k % len(order)]:
            per[name].append(mean_step(bes[name], runners[name], n_steps, batches[name]))
    t = {name: np.array(v) for name, v in per.items()}
    finite = all(bool(np.all(np.isfinite(bes[name].get(runners[name].params())))) for name in bes)
    out = {
        "optimizer": optimizer,
        "batch": batch,
        "steps": n_steps,
        "compile_s": compile_s.get("jax", float("nan")),
        "finite": finite,
    }
    for name in bes:
        out[f"{name}_us"] = float(np.median(t[name]) * 1e6)
        if name != "numpy" and "numpy" in t:
            out[f"{name}_over_numpy"] = float(np.median(t[name] / t["numpy"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", default="100,1000,10000")
    ap.add_argument("--rows-ratio", type=float, default=1.2)
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--batches", default="0,64", help="rows per step; 0 = full batch")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument(
        "--budget", type=float, default=0.2, help="seconds of steps of the slowest backend per round (about)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(a.threads)
    plan = _Plan(a.threads)
    os.sched_setaffinity(0, plan.cpus)
    bes = {}
    for name in a.backends.split(","):
        if name == "torch":
            import torch

            torch.set_num_threads(a.threads)
        bes[name] = backends.make(name, 0, plan)
    rows = []
    for d in (int(x) for x in a.dims.split(",")):
        t0 = time.perf_counter()
        prob = problems.build(
            f"lsq-k1e3-d{d}",
            problems.BuildOptions(rows_ratio=a.rows_ratio, threads=a.threads, measure_max_dim=0),
        )
        data = {name: be.data(prob) for name, be in bes.items()}
        print(
            f"\nlsq-k1e3-d{d}: n = {prob.n}, X {prob.X.nbytes / 2**20:.1f} MiB, built in "
            f"{time.perf_counter() - t0:.1f} s; {a.threads} thread(s) on CPU(s) {list(plan.cpus)}; medians of "
            f"{a.rounds} rounds"
        )
        cols = (
            [f"{b} us/step" for b in bes]
            + [f"{b}/numpy" for b in bes if b != "numpy"]
            + ["jax compile s", "steps x rounds", "iterates finite"]
        )
        print("| optimizer | batch | " + " | ".join(cols) + " |")
        print("|---|---|" + "---|" * len(cols))
        for batch in (int(x) for x in a.batches.split(",")):
            for opt in a.optimizers.split(","):
                m = measure(bes, data, prob, opt, batch, a.rounds, a.budget)
                m.update(d=d, n=prob.n)
                rows.append(m)
                vals = (
                    [_us(m[f"{b}_us"]) for b in bes]
                    + [f"{m[f'{b}_over_numpy']:.2f}" for b in bes if b != "numpy"]
                    + [f"{m['compile_s']:.2f}", f"{m['steps']} x {a.rounds}", "yes" if m["finite"] else "no"]
                )
                print(f"| {opt} | {'full' if batch <= 0 else batch} | " + " | ".join(vals) + " |", flush=True)
        del data, prob
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


def _us(v: float) -> str:
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"


class _Plan:
    """A one-rank thread plan for JAX (runtime.threads.ThreadPlan's fields that runtime/xla.py reads)."""

    def __init__(self, threads: int):
        self.threads, self.local_rank = threads, 0
        self.cpus = tuple(sorted(os.sched_getaffinity(0)))[:threads]


if __name__ == "__main__":
    sys.exit(main())
