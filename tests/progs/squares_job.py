"""A job built only from the work layer (tests): each unit sums the squares of a range of integers.

    mpiexec -n 2 python tests/progs/squares_job.py --out X.h5 [--units N] [--delay S] [--raise-unit K]
        [--rounds R]                  # units fed in rounds of R by rank 0 instead of one plan
        [--rank0-busy S]              # rank 0 computes S s (pure Python) in each of its units

Unit i covers [lo, hi) with lo = 1000 i and hi = lo + 1000 + 37 i (uneven costs); its row is
(unit, lo, hi, sum of k^2 for lo <= k < hi). --delay sleeps in every unit; --raise-unit makes that
unit raise. --rank0-busy keeps rank 0's main interpreter busy (the GIL held, as a Python-heavy unit
does), so a test can see whether the other ranks' claims wait for it. The final table `sums` is in unit order. Everything else comes from mpiapp.work.
"""

import os
import sys
import time

import numpy as np

from mpiapp import cli
from mpiapp.work import JobSpec, Plan, Unit

COLUMNS = [("unit", "i8"), ("lo", "i8"), ("hi", "i8"), ("sum", "i8")]


def bounds(i: int) -> tuple[int, int]:
    return 1000 * i, 1000 * i + 1000 + 37 * i


def units(first: int, n: int) -> list:
    return [Unit(i, float(bounds(i)[1] - bounds(i)[0]), bounds(i)) for i in range(first, first + n)]


def build(args):
    def plan(ctx):
        return Plan([] if args.rounds else units(0, args.units))

    seen = [0]

    def run_unit(unit, ctx):
        if args.delay:
            seen[0] += 1
            if seen[0] <= 3:  # a test waits for these before it signals or kills a rank
                print(f"UNIT rank={ctx.rank} pid={os.getpid()} uid={unit.uid}", flush=True)
            time.sleep(args.delay)
        if args.rank0_busy and ctx.rank == 0:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < args.rank0_busy:
                sum(range(10_000))
        if unit.uid == args.raise_unit:
            raise RuntimeError(f"unit {unit.uid} raised on purpose")
        lo, hi = unit.key
        k = np.arange(lo, hi, dtype=np.int64)
        ctx.timers.count("numbers", hi - lo)
        return {
            "sums": {
                "unit": np.array([unit.uid]),
                "lo": np.array([lo]),
                "hi": np.array([hi]),
                "sum": np.array([int(np.sum(k * k))]),
            }
        }

    def finalize(fin):
        rows = {}
        if fin.can_read and fin.ctx.rank == 0:  # small: rank 0 writes it all, in unit order
            rows = fin.read("sums", range(len(fin.units["cost"])))
            o = np.argsort(rows["unit"], kind="stable")
            rows = {c: v[o] for c, v in rows.items()}
        fin.write("sums", COLUMNS, rows)
        return {"units": len(fin.units["cost"])}

    return lambda ctx: JobSpec(
        name="squares",
        key_columns=[("lo", "i8"), ("hi", "i8")],
        tables={"sums": COLUMNS},
        plan=plan,
        run_unit=run_unit,
        finalize=finalize,
        counters=("numbers",),
    )


def feeder(args):
    """Rounds of `args.rounds` units until `args.units` (rank 0 only)."""
    state = {"next": 0}

    def feed(finished):
        n = min(args.rounds, args.units - state["next"])
        new = units(state["next"], max(n, 0))
        state["next"] += len(new)
        return new

    return feed


def main(argv=None) -> int:
    ap = cli.parser("squares", __doc__)
    ap.add_argument("--units", type=int, default=24)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--raise-unit", type=int, default=-1)
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--rank0-busy", type=float, default=0.0)
    args = ap.parse_args(argv)
    show = lambda outcome: print(f"squares complete: {outcome.path}")  # noqa: E731
    return cli.main("squares", args, build(args), show, rounds=feeder(args) if args.rounds else None)


if __name__ == "__main__":
    sys.exit(main())
