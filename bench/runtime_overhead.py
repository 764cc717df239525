"""Per-unit overhead of the dynamic work counter against a static plan, at 2 ranks.

    python bench/runtime_overhead.py            (re-launches itself under mpiexec -n 2)
    mpiexec -n 2 python bench/runtime_overhead.py --units 4000 --work-us 200 --repeats 7

Both modes run the same units side by side in one job; the figures are medians over repeats.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _launch import ensure_mpiexec  # noqa: E402


def spin(us: float) -> None:
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--units", type=int, default=4000)
    ap.add_argument("--work-us", type=float, default=200.0, help="busy time per unit")
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    ensure_mpiexec(a.ranks, __file__, sys.argv[1:])

    import numpy as np

    from mpiapp import config
    from mpiapp.runtime import dynamic, partition, start

    rt = start(config.load())
    comm = rt.comm

    def static(work):
        mine = partition.scatter_plan(np.ones(a.units), "lpt", comm=comm)
        for _ in mine:
            spin(work)
        comm.Barrier()

    def dyn(work):
        for _ in dynamic.claim(range(a.units), comm=comm):
            spin(work)
        comm.Barrier()

    res = {}
    for work in (0.0, a.work_us):
        for name, fn in (("static", static), ("dynamic", dyn)):
            times = []
            for _ in range(a.repeats):
                comm.Barrier()
                t0 = time.perf_counter()
                fn(work)
                times.append(time.perf_counter() - t0)
            res[name, work] = float(np.median(times))
    if rt.rank == 0:
        per_rank = a.units / rt.size
        print(f"{rt.size} ranks, {a.units} units, medians of {a.repeats} repeats")
        for work in (0.0, a.work_us):
            s, d = res["static", work], res["dynamic", work]
            print(
                f"  work {work:6.0f} us/unit: static {s * 1e3:8.2f} ms  dynamic {d * 1e3:8.2f} ms  "
                f"dynamic/static {d / s:6.3f}  overhead {(d - s) / per_rank * 1e6:6.2f} us/unit"
            )
        print(
            "rerun: mpiexec -n %d python bench/runtime_overhead.py --units %d --work-us %g --repeats %d"
            % (rt.size, a.units, a.work_us, a.repeats)
        )


main()
