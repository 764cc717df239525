"""Calibration and power of the scan's p-values (docs/scan.md "Significance"), and their cost.

    python bench/scan_null.py [--symbols 40] [--bars 3000] [--samples 20] [--set scan.KEY=VALUE ...]

Calibration: on pure random walks (i.i.d. Gaussian log returns, 1.2 % a bar, OHLC with wicks; and
the synthetic generator's background with plant rate 0, which has volatility regimes), the fraction
of windows whose best pattern (by S) has p < alpha, for alpha = 0.01, 0.05, 0.1. A window without a
pattern counts as "not below". Overlapping windows share patterns, so windows are far from
independent: the error shown is the binomial one on the window count (optimistic) and the one from
the spread of per-symbol fractions (symbols are independent).

False-discovery control (q-values, engines/scan/fdr.py): --runs independent runs of a small
random-walk universe (--run-symbols i.i.d. Gaussian walks each); in each run the family is every
scanned window's best p-value; the share of runs with any window q < alpha should be at most alpha
(within its binomial error) for BY, and for BH where the tests are positively dependent.

Power: planted impulses of the synthetic generator at its default noise ("guarded" layout, and the
"late" layout): the fraction found (six pivots within +-2 bars in some window's top-k) with p < 0.05.

Cost: seconds of the null (surrogates drawn and scanned) against the scan itself, per symbol.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from mpiapp import config
from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.engines.scan.accuracy import LAYOUTS
from mpiapp.io import synthetic
from mpiapp.io.series import Series

ALPHAS = (0.01, 0.05, 0.1)


def gaussian_walk(i: int, n: int) -> Series:
    rng = np.random.default_rng([20261130, i])
    vol = 0.012
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    opn = np.r_[close[0], close[:-1]]
    high = np.maximum(opn, close) * (1 + np.abs(rng.normal(0, vol / 4, n)))
    low = np.minimum(opn, close) * (1 - np.abs(rng.normal(0, vol / 4, n)))
    return Series(f"RW{i:04d}", synthetic.time_axis(n), opn, high, low, close, "rw", has_ohlc=True)


def calibration(series_list, params):
    per_symbol = {a: [] for a in ALPHAS}
    below = dict.fromkeys(ALPHAS, 0)
    windows = 0
    for s in series_list:
        bp = np.nan_to_num(scan_symbol(s, params, "numba").windows["best_p_value"], nan=1.0)
        windows += bp.size
        for a in ALPHAS:
            below[a] += int(np.sum(bp < a))
            per_symbol[a].append(float(np.mean(bp < a)) if bp.size else 0.0)
    rows = []
    for a in ALPHAS:
        f = below[a] / max(windows, 1)
        se_bin = np.sqrt(a * (1 - a) / max(windows, 1))
        se_sym = np.std(per_symbol[a], ddof=1) / np.sqrt(len(per_symbol[a]))
        rows.append((a, f, se_bin, se_sym))
    return windows, rows


def q_calibration(params, runs, per_run, bars, method):
    """Share of runs whose smallest window q-value is < alpha, for ALPHAS (and the run count)."""
    from mpiapp.engines.scan import fdr

    smallest = []
    for r in range(runs):
        fam = []
        for k in range(per_run):
            win = scan_symbol(gaussian_walk(100_000 + r * per_run + k, bars), params, "numba").windows
            fam.append(fdr.family_p(win["best_p_value"], win["skipped_flat"]))
        p = np.sort(np.concatenate(fam))
        q = fdr.q_of_sorted(p, method)
        smallest.append(float(q.min()) if q.size else 1.0)
    smallest = np.array(smallest)
    return [(a, float(np.mean(smallest < a)), np.sqrt(a * (1 - a) / runs)) for a in ALPHAS]


def power(params, layout, seed, n_symbols, n_bars, rate, noise, alpha=0.05):
    gen = LAYOUTS[layout]
    hits = sig = total = 0
    for i in range(n_symbols):
        s, truth = gen(seed, i, n_bars, rate, noise, n_symbols)
        pats = scan_symbol(s, params, "numba").patterns
        t = np.stack([pats[f"t{k}"] for k in range(6)], axis=1)
        for imp in truth:
            total += 1
            near = np.all(np.abs(t - np.asarray(imp.t)) <= 2, axis=1) & (pats["direction"] == imp.direction)
            if near.any():
                hits += 1
                sig += bool(np.min(pats["p_value"][near]) < alpha)
    return sig, hits, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=40)
    ap.add_argument("--bars", type=int, default=3000)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--runs", type=int, default=40, help="runs of the q-value calibration")
    ap.add_argument("--run-symbols", type=int, default=4, help="symbols per run of the q-value calibration")
    ap.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    a = ap.parse_args()
    cfg = config.load(overrides=[f"scan.null_samples={a.samples}"] + a.overrides)
    params = ScanParams.from_config(cfg.scan)
    d = cfg.data
    t0 = time.perf_counter()
    print(
        f"null: {params.null_samples} surrogates, mean block {params.null_block_bars} bars, "
        f"statistic {params.null_statistic}; {a.symbols} symbols x {a.bars} bars"
    )
    for label, series in (
        ("i.i.d. Gaussian random walk", [gaussian_walk(i, a.bars) for i in range(a.symbols)]),
        (
            "synthetic background (plant rate 0)",
            [
                synthetic.generate(d.seed + 1, i, a.bars, 0.0, d.synthetic_noise, a.symbols)[0]
                for i in range(a.symbols)
            ],
        ),
    ):
        nw, rows = calibration(series, params)
        print(f"calibration on {label} ({nw} windows):")
        for alpha, f, se_b, se_s in rows:
            print(
                f"  alpha {alpha:<5} fraction of windows with best p < alpha {f:.4f}  "
                f"(binomial se {se_b:.4f}; per-symbol se {se_s:.4f})"
            )
    for method in ("by", "bh"):
        rows = q_calibration(params, a.runs, a.run_symbols, a.bars, method)
        print(
            f"q-values ({method}) on i.i.d. Gaussian random walks, {a.runs} runs of {a.run_symbols} symbols x "
            f"{a.bars} bars: "
            + "   ".join(
                f"alpha {al}: runs with any q < alpha {f:.3f} (binomial se {se:.3f})" for al, f, se in rows
            )
        )
    for layout in ("guarded", "late"):
        sig, hits, total = power(
            params, layout, d.seed, a.symbols, a.bars, d.synthetic_plant_rate, d.synthetic_noise
        )
        print(
            f"power, {layout} layout, noise {d.synthetic_noise}: p < 0.05 for {sig}/{total} planted "
            f"= {sig / max(total, 1):.3f} (found at all: {hits}/{total})"
        )
    # cost: one symbol of S&P scale (5,000 bars, 500 windows), scan alone vs scan + null
    s, _ = synthetic.generate(d.seed, 0, 5000, 1.0, d.synthetic_noise, 1)
    base = ScanParams.from_config(cfg.scan, null_samples=0, max_windows=500, up_to=8)
    withn = ScanParams.from_config(cfg.scan, max_windows=500, up_to=8)
    scan_symbol(s, base, "numba")
    t1 = time.perf_counter()
    scan_symbol(s, base, "numba")
    t_scan = time.perf_counter() - t1
    info = {}
    scan_symbol(s, withn, "numba", info=info)
    print(
        f"cost per 5,000-bar symbol (500 windows, up_to 8): scan {t_scan:.3f} s, null "
        f"{info['null_s']:.3f} s for {info['null_scans']} surrogates ({info['null_s'] / t_scan:.1f}x)"
    )
    print(f"({time.perf_counter() - t0:.0f} s)  rerun: python bench/scan_null.py " + " ".join(sys.argv[1:]))


main()
