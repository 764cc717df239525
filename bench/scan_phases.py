"""Where one process's scan time goes, phase by phase, at 1 and 2 Numba threads (in-process).

    python bench/scan_phases.py [--symbols 60] [--bars 5000] [--up-to 8]

S&P-500-scale settings per symbol (500-bar windows, 500 windows, up_to 8, config defaults
otherwise). Prints: the fixed start-up costs of a fresh process (importing the engine, loading the
compiled kernels from Numba's cache: the first scan minus a later one), then per symbol and phase
the milliseconds at 1 and 2 threads and their ratio. Phases: prepare (pivots, swings, pre-filter;
serial), plan (start table, start slots), count (the one shared search per start, prange over
chunks of starts, keeping the valid candidates), fill (each start's rows copied out and ordered;
searched again where they did not fit the arena), sort (only the array-module path, where S comes
after the fill), assign (prange over windows), direct (windows re-run under the budget), patterns (unique patterns, their score terms and efficiency; serial NumPy).
"""

from __future__ import annotations

import argparse
import time

T0 = time.perf_counter()
from mpiapp.engines.scan import ScanParams, scan_symbol  # noqa: E402

T_IMPORT = time.perf_counter() - T0

import numba  # noqa: E402

from mpiapp.io import synthetic  # noqa: E402

PHASES = ("t_prepare", "t_plan", "t_count", "t_fill", "t_sort", "t_assign", "t_direct", "t_patterns")


def run(series, params, threads):
    numba.set_num_threads(threads)
    info = {}
    t0 = time.perf_counter()
    for s in series:
        scan_symbol(s, params, "numba", info=info)
    info["total"] = time.perf_counter() - t0
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=60)
    ap.add_argument("--bars", type=int, default=5000)
    ap.add_argument("--up-to", type=int, default=8)
    a = ap.parse_args()
    params = ScanParams(max_windows=500, up_to=a.up_to)
    series = [synthetic.generate(0, i, a.bars, 1.0, 0.1, 500)[0] for i in range(a.symbols)]
    t0 = time.perf_counter()
    scan_symbol(series[0], params, "numba")
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    scan_symbol(series[0], params, "numba")
    again = time.perf_counter() - t0
    print(
        f"fresh process: import of the scan engine {T_IMPORT:.2f} s; first scan {first:.2f} s, "
        f"the same scan again {again:.3f} s -> loading the compiled kernels ~{first - again:.2f} s"
    )
    nmax = numba.config.NUMBA_NUM_THREADS
    res = {th: run(series, params, th) for th in (1, 2) if th <= nmax}
    res = {th: run(series, params, th) for th in res}  # second round: less noise from warm-up
    n = len(series)
    print(f"{n} symbols x {a.bars} bars, up_to {a.up_to}: ms per symbol")
    print(f"{'phase':<12}" + "".join(f"{f'{th} thread(s)':>14}" for th in res) + f"{'ratio':>8}")
    for ph in PHASES + ("total",):
        row = [1000 * res[th].get(ph, 0.0) / n for th in res]
        ratio = f"{row[0] / row[1]:8.2f}" if len(row) == 2 and row[1] > 0 else ""
        print(f"{ph.removeprefix('t_'):<12}" + "".join(f"{v:14.2f}" for v in row) + ratio)
    acc = sum(res[1].get(p, 0.0) for p in PHASES)
    print(
        f"(unaccounted at 1 thread: {1000 * (res[1]['total'] - acc) / n:.2f} ms per symbol: "
        "bars, windows table, Python overhead)"
    )


main()
