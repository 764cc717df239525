"""Benchmark of the benchmark: a full-batch optimizer epoch against the bare limit, same run.

    python bench/optbench_overhead.py                    # d = 10,000, n = 1.2 d (X: 960 MB), ~2-3 min
    python bench/optbench_overhead.py --d 2000 --rows-ratio 2

The bare limit is what a least-squares gradient cannot avoid: the two matrix-vector products
X @ w and X^T @ r, in a plain loop. The measured epoch is one full-batch step of the benchmark's
own runner (gradient through problem.grad, update through optimizers.py on NumPy or torch.optim on
torch), timed the way optbench times (sync before each clock read). Rounds alternate bare and
epoch so that machine load hits both alike; the figure is the median over rounds of the ratio
epoch / bare. Goal: within 1.2x, for NumPy and for torch on CPU. Threads: --threads (default 1)
for BLAS (threadpoolctl) and torch.

Memory: X is n*d*8 bytes (d = 10,000, n = 12,000: 960 MB); building it (fast DCT basis) peaks at
about 3.5x that; torch shares X's buffer (torch.as_tensor of a float64 array, no copy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mpiapp.engines.optbench import backends, problems, theory  # noqa: E402


def timed(fn, steps: int, sync) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - t0) / steps


def measure(name: str, prob, steps: int, rounds: int, optimizer: str) -> dict:
    be = backends.make(name)
    dd = be.data(prob)
    X, y = dd.X, dd.y
    w = be.put(np.zeros(prob.d))
    bare = lambda: X.T @ (X @ w - y)  # noqa: E731  (the two products; NumPy's or torch's kernels)
    hp = theory.hyper(optimizer, prob.L, prob.mu)
    r = be.runner(dd, optimizer, hp, np.zeros(prob.d))
    bare()
    r.step()  # warm-up, not timed
    b, e = [], []
    for _ in range(rounds):
        b.append(timed(bare, steps, be.sync))
        e.append(timed(r.step, steps, be.sync))
    ratios = np.array(e) / np.array(b)
    return {
        "backend": name,
        "bare_s": float(np.median(b)),
        "epoch_s": float(np.median(e)),
        "ratio": float(np.median(ratios)),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=10_000)
    ap.add_argument("--rows-ratio", type=float, default=1.2)
    ap.add_argument("--kappa", type=float, default=1e3)
    ap.add_argument("--steps", type=int, default=5, help="steps per timing")
    ap.add_argument("--rounds", type=int, default=5, help="alternating bare/epoch rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--optimizer", default="nesterov")
    ap.add_argument("--backends", default="numpy,torch")
    a = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(a.threads)
    t0 = time.perf_counter()
    opts = problems.BuildOptions(rows_ratio=a.rows_ratio, threads=a.threads, measure_max_dim=0)
    prob = problems.build(f"lsq-k{a.kappa:g}-d{a.d}", opts)
    print(
        f"problem {prob.name}: n={prob.n} d={prob.d} basis={prob.meta['basis']} X={prob.X.nbytes / 2**20:.0f} MiB "
        f"built in {time.perf_counter() - t0:.1f} s; threads {a.threads}; optimizer {a.optimizer}"
    )
    for name in a.backends.split(","):
        if name == "torch":
            import torch

            torch.set_num_threads(a.threads)
        try:
            m = measure(name, prob, a.steps, a.rounds, a.optimizer)
        except backends.BackendUnavailable as exc:
            print(f"{name}: skipped ({exc})")
            continue
        ok = "meets" if m["ratio"] <= 1.2 else "misses"
        print(
            f"{name:6s} bare (X@w, X^T@r) {m['bare_s'] * 1e3:8.2f} ms   epoch {m['epoch_s'] * 1e3:8.2f} ms   "
            f"ratio {m['ratio']:.3f} (rounds {m['ratio_min']:.3f}..{m['ratio_max']:.3f})   {ok} the 1.2x goal"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
