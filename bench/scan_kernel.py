"""Scan kernel throughput: the NumPy reference and the Numba backend on the same windows.

    python bench/scan_kernel.py                  # S&P 500 (arch) + 50 synthetic symbols, ~1-2 min
    python bench/scan_kernel.py --no-compile     # skip the cold-compile measurement (~45 s)

Reports, per data set: windows/s and candidates/s (visited six-pivot candidates, summed over
windows, per second) for numpy and numba, and their ratio (numba/numpy); the Numba compile time
(cold: a fresh cache folder, in a subprocess) and the cache-load time (warm cache, subprocess),
both separately from the throughput runs (which are warm: best of --repeats). Also one numba-only
line at the issue-4 goal settings (up_to 8, 8 start points). Threads: whatever Numba was given
(NUMBA_NUM_THREADS / the machine); this script does not change them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mpiapp.engines.scan import ScanParams, scan_symbol  # noqa: E402
from mpiapp.io.series import Series  # noqa: E402

COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.io.series import Series
c = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.015, 700)))
o = np.r_[c[0], c[:-1]]
s = Series("C", np.arange(700, dtype=np.int64), o, np.maximum(o, c) * 1.002, np.minimum(o, c) * 0.998, c, "x")
scan_symbol(s, ScanParams(window_bars=200, max_combinations=3), "numba")  # also the budget path
print(time.perf_counter() - t0)
"""


def compile_times() -> tuple[float, float]:
    """(cold compile s, warm cache load s): first numba scan in a fresh process, fresh cache dir."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d, PYTHONPATH=ROOT)
        out = []
        for _ in range(2):
            p = subprocess.run(
                [sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True, text=True, check=True
            )
            out.append(float(p.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def sp500() -> list:
    try:
        import arch.data.sp500 as sp
    except ImportError:
        return []
    d = sp.load()
    t = d.index.values.astype("datetime64[ns]").view(np.int64)
    f = lambda c: np.ascontiguousarray(d[c].values, dtype=np.float64)  # noqa: E731
    return [Series("SP500", t, f("Open"), f("High"), f("Low"), f("Close"), "arch.data.sp500")]


def synthetic(n: int, bars: int) -> tuple[list, str]:
    try:
        from mpiapp.io.synthetic import generate

        return [generate(0, i, bars, 1.0, 0.1, n)[0] for i in range(n)], "mpiapp.io.synthetic (seed 0)"
    except ImportError:  # generator not there: seeded random walks
        out = []
        for i in range(n):
            rng = np.random.default_rng(i)
            c = 100 * np.exp(np.cumsum(rng.normal(0, 0.012, bars)))
            o = np.r_[c[0], c[:-1]]
            out.append(
                Series(
                    f"RW{i}",
                    np.arange(bars, dtype=np.int64),
                    o,
                    np.maximum(o, c) * 1.003,
                    np.minimum(o, c) * 0.997,
                    c,
                    "random walk",
                )
            )
        return out, "seeded random walks"


def run(symbols, params, backend, repeats) -> tuple[float, int, int]:
    """(best seconds over repeats, windows, visited candidates)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = [scan_symbol(s, params, backend) for s in symbols]
        best = min(best, time.perf_counter() - t0)
    nw = sum(len(r.windows["window"]) - int(r.windows["skipped_flat"].sum()) for r in res)
    vis = sum(int(r.windows["visited"].sum()) for r in res)
    return best, nw, vis


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=50, help="synthetic symbols (default 50)")
    ap.add_argument("--bars", type=int, default=2000, help="bars per synthetic symbol (default 2000)")
    ap.add_argument("--repeats", type=int, default=3, help="numba repeats, best taken (default 3)")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time measurement")
    a = ap.parse_args(argv)
    import numba

    params = ScanParams()  # the config defaults: 500-bar windows, step 10, up_to 2, 3 starts
    print(
        f"scan kernel benchmark: numba {numba.__version__}, {numba.get_num_threads()} numba threads, "
        f"{os.cpu_count()} CPUs; windows {params.window_bars} bars step {params.step}, up_to "
        f"{params.up_to}, {params.n_starts} starts, budget {params.max_combinations}"
    )
    if not a.no_compile:
        cold, warm = compile_times()
        print(f"numba compile (cold cache, fresh process): {cold:.1f} s; cache load (warm): {warm:.2f} s")
    scan_symbol(sp500()[0] if sp500() else synthetic(1, 2000)[0][0], params, "numba")  # warm up
    sets = []
    sp = sp500()
    if sp:
        sets.append(("S&P 500 daily (arch), 1 x 5,031 bars", sp))
    syn, how = synthetic(a.symbols, a.bars)
    sets.append((f"synthetic, {a.symbols} x {a.bars} bars", syn))
    print(f"synthetic symbols: {how}")
    print(
        f"\n{'data':<44} {'backend':<7} {'seconds':>8} {'windows/s':>11} {'cand/s':>12} {'numba/numpy':>11}"
    )
    for name, symbols in sets:
        tn, nw, vis = run(symbols, params, "numpy", 1)
        tb, nw2, vis2 = run(symbols, params, "numba", a.repeats)
        assert (nw, vis) == (nw2, vis2)
        print(f"{name:<44} {'numpy':<7} {tn:8.3f} {nw / tn:11.0f} {vis / tn:12.0f}")
        print(f"{'':<44} {'numba':<7} {tb:8.3f} {nw / tb:11.0f} {vis / tb:12.0f} {tn / tb:10.0f}x")
    goal = ScanParams(up_to=8, max_start_points=8)
    tb, nw, vis = run(syn, goal, "numba", a.repeats)
    print(
        f"{'same synthetic, up_to 8, 8 starts (issue 4)':<44} {'numba':<7} {tb:8.3f} "
        f"{nw / tb:11.0f} {vis / tb:12.0f}"
    )
    print(
        "\nwindows: scanned (not skipped by the pre-filter); cand: visited six-pivot candidates summed "
        "over windows (numba enumerates each once per symbol and assigns it to its windows)"
    )
    args = argv if argv is not None else sys.argv[1:]
    print("rerun: " + " ".join(["python", "bench/scan_kernel.py"] + list(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
