"""Scaling of the distributed scan on one node, measured side by side in one run.

    python bench/scan_scaling.py                 # small universe at -n 1 and -n 2 (+ shared memory off)
    python bench/scan_scaling.py --sp500         # also the S&P-500-scale workload at -n 2
    python bench/scan_scaling.py --baseline DIR  # only: S&P-500 scale at -n 2, this checkout against
                                                 # another (git worktree add DIR COMMIT), alternating
    python bench/scan_scaling.py --costs         # only: S&P-500 scale at -n 2, the scan with and without
                                                 # its live counts, with the outcome study, with the null

Reports: speedup 1 -> 2 ranks (median wall of --repeats runs), load imbalance (busy max/mean),
write share of wall, peak RSS and unique memory per rank with and without shared price arrays, and
for --sp500: 500 synthetic symbols x 5,000 bars, 500-bar windows, 500 windows per symbol, up_to 8,
8 start points at -n 2 — wall time and windows/s; then every pivot a start (the default rule), with
the symbols generated on the fly and read from an HDF5 file (mpiapp.io.convert); from the file,
-n 2 against -n 1 with 2 threads (units in threads, the default, and one unit at a time) and -n 1
with 1 thread, alternating, process and job walls.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(
    os.environ,
    OMPI_ALLOW_RUN_AS_ROOT="1",
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
    OMPI_MCA_rmaps_base_oversubscribe="1",
    OMPI_MCA_btl="vader,self",
    OMPI_MCA_pml="ob1",
)


def job(n, out, args, bind_none=True, env=None, root=ROOT):
    """One score run of the checkout at `root` (its mpiapp imported first: cwd and PYTHONPATH)."""
    cmd = ["mpiexec", "-n", str(n)] + (["--bind-to", "none"] if bind_none else [])
    cmd += [sys.executable, "-m", "mpiapp.score", "--force", "--no-progress", "--out", out] + args
    t0 = time.perf_counter()
    env = dict(ENV, PYTHONPATH=root, **(env or {}))
    p = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    from mpiapp.io.results import read_attrs, read_table

    prof = read_table(out, "profile")
    win = read_table(out, "windows")
    a = read_attrs(out)
    return {
        "wall": wall,
        "job_wall": float(a["wall_s"]),
        "busy": prof["busy_s"],
        "write": prof["write_s"],
        "read": prof["read_s"],
        "wait": prof["wait_s"],
        "rss": prof["peak_rss_mb"],
        "windows": len(win["window"]),
    }


def median_run(n, out, args, repeats, **kw):
    runs = [job(n, out, args, **kw) for _ in range(repeats)]
    best = sorted(runs, key=lambda r: r["job_wall"])[len(runs) // 2]
    best["job_wall_median"] = statistics.median(r["job_wall"] for r in runs)
    best["wall_median"] = statistics.median(r["wall"] for r in runs)
    return best


def alternating(variants, out, repeats):
    """{name: median run} of variants [(name, n, args, env[, root])], run in turn `repeats` times (so
    a slow spell of the machine hits every variant alike)."""
    runs = {v[0]: [] for v in variants}
    for _ in range(repeats):
        for name, n, args, env, *root in variants:
            runs[name].append(job(n, out, args, env=env, root=root[0] if root else ROOT))
    res = {}
    for name, rs in runs.items():
        best = sorted(rs, key=lambda r: r["job_wall"])[len(rs) // 2]
        best["job_wall_median"] = statistics.median(r["job_wall"] for r in rs)
        best["wall_median"] = statistics.median(r["wall"] for r in rs)
        res[name] = best
    return res


def imbalance(busy):
    m = float(sum(busy)) / len(busy)
    return max(busy) / m if m > 0 else 1.0


def sp500_file(tmp) -> str:
    """The S&P-500-scale universe (500 synthetic symbols x 5,000 bars) as one packed HDF5 file."""
    h5 = os.path.join(tmp, "sp500.h5")
    subprocess.run(
        [sys.executable, "-m", "mpiapp.io.convert", "synthetic:500", h5, "--bars", "5000", "--packed"],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
    )
    return h5


def compare_with(base, tmp, out, repeats, this_sets=()):
    """S&P-500 scale, -n 2, the scan defaults but 500-bar windows and up_to 8: this checkout (with
    `this_sets`, KEY=VALUE settings given to it alone) and the one at `base`, alternating; medians
    and their ratio."""
    args = [
        "--data",
        f"hdf5:{sp500_file(tmp)}",
        "--set",
        "scan.window_bars=500",
        "--set",
        "scan.max_windows=500",
        "--set",
        "scan.up_to=8",
        "--set",
        "scan.window_overlap_ratio=0.982",
    ]
    mine = args + [x for kv in this_sets for x in ("--set", kv)]
    for root in (ROOT, base):  # warm each checkout's Numba cache outside the timings
        job(2, out, args[:2] + ["--set", "scan.max_windows=5"], root=root)
    rs = alternating(
        [("this checkout", 2, mine, None, ROOT), ("baseline", 2, args, None, base)], out, repeats
    )
    print(
        f"S&P-500 scale at -n 2 (500 x 5,000 bars from an HDF5 file, 500-bar windows, up_to 8, default "
        f"start rule), medians of {repeats}, alternating; baseline {base}"
        + (f"; this checkout with {' '.join(this_sets)}" if this_sets else "")
        + ":"
    )
    for name, r in rs.items():
        print(
            f"  {name:14s}: wall {r['wall_median']:.2f} s (job {r['job_wall_median']:.2f} s, busy "
            + " ".join(f"{x:.2f}" for x in r["busy"])
            + f")   windows {r['windows']:,}"
        )
    a, b = rs["this checkout"], rs["baseline"]
    print(
        f"  this / baseline: process {a['wall_median'] / b['wall_median']:.2f}x, job "
        f"{a['job_wall_median'] / b['job_wall_median']:.2f}x"
    )


def costs(tmp, out, repeats):
    """S&P-500 scale, -n 2: the scan's busy time per rank without its live counts, with them (the
    default), with the outcome study, and with the null (scan.null_samples 20), alternating."""
    args = [
        "--data",
        f"hdf5:{sp500_file(tmp)}",
        "--set",
        "scan.window_bars=500",
        "--set",
        "scan.max_windows=500",
        "--set",
        "scan.up_to=8",
        "--set",
        "scan.window_overlap_ratio=0.982",
    ]
    job(2, out, args[:2] + ["--set", "scan.max_windows=5"])  # warm the Numba cache
    variants = [
        ("no live counts", 2, args + ["--set", "scan.live_top=0"], None),
        ("defaults (live counts)", 2, args, None),
        ("+ outcome study", 2, args + ["--set", "scan.outcomes=true"], None),
        ("+ null, 20 surrogates", 2, args + ["--set", "scan.null_samples=20"], None),
    ]
    rs = alternating(variants, out, repeats)
    print(
        f"S&P-500 scale at -n 2 (500 x 5,000 bars from an HDF5 file, 500-bar windows, up_to 8), medians of "
        f"{repeats}, alternating:"
    )
    from mpiapp.io.results import read_table

    for name, r in rs.items():
        print(
            f"  {name:24s}: wall {r['wall_median']:.2f} s (job {r['job_wall_median']:.2f} s), busy "
            + " ".join(f"{x:.2f}" for x in r["busy"])
            + " s a rank"
        )
    base = rs["no live counts"]
    for name in ("defaults (live counts)", "+ outcome study", "+ null, 20 surrogates"):
        r = rs[name]
        print(
            f"  {name} / no live counts: busy {max(r['busy']) / max(base['busy']):.2f}x, "
            f"job {r['job_wall_median'] / base['job_wall_median']:.2f}x"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=200)
    ap.add_argument("--bars", type=int, default=5000)
    ap.add_argument("--up-to", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sp500", action="store_true", help="also run the S&P-500-scale workload at -n 2")
    ap.add_argument(
        "--costs",
        action="store_true",
        help="only the costs of the live counts, the outcome study and the null at S&P-500 scale, -n 2",
    )
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        help="only compare the S&P-500-scale scan at -n 2 (defaults, symbols read from an HDF5 "
        "file) with the checkout in DIR, alternating, medians of --repeats",
    )
    ap.add_argument(
        "--this-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --baseline: a setting given to this checkout's runs alone (repeatable)",
    )
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mpiapp-bench-")
    out = os.path.join(tmp, "s.h5")
    if a.baseline:
        compare_with(os.path.abspath(a.baseline), tmp, out, a.repeats, a.this_set)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if a.costs:
        costs(tmp, out, a.repeats)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    small = [
        "--data",
        f"synthetic:{a.symbols}",
        "--set",
        f"data.synthetic_bars={a.bars}",
        "--set",
        f"scan.up_to={a.up_to}",
    ]
    job(1, out, small + ["--set", "scan.max_windows=5"])  # warm the numba cache outside the timings
    print(
        f"universe: synthetic:{a.symbols} x {a.bars} bars, up_to {a.up_to}, other scan keys default; "
        f"median of {a.repeats}"
    )
    r1 = median_run(1, out, small, a.repeats)
    r1t = median_run(1, out, small, a.repeats, env={"MPIAPP_THREADS": "1"})
    r2 = median_run(2, out, small, a.repeats)
    r2n = median_run(2, out, small + ["--set", "work.shared_memory=false"], a.repeats)
    sp = r1["job_wall_median"] / r2["job_wall_median"]
    sp1 = r1t["job_wall_median"] / r2["job_wall_median"]
    print(f"  -n 1 x 2 threads: job wall {r1['job_wall_median']:.2f} s (process {r1['wall']:.2f} s)")
    print(f"  -n 1 x 1 thread : job wall {r1t['job_wall_median']:.2f} s (process {r1t['wall']:.2f} s)")
    print(f"  -n 2 x 1 thread : job wall {r2['job_wall_median']:.2f} s (process {r2['wall']:.2f} s)")
    print(f"  speedup 1 -> 2 ranks, both cores used either way (-n 1 runs 2 Numba threads): {sp:.2f}x")
    print(f"  speedup 1 -> 2 ranks at 1 thread per rank (rank scaling alone):            {sp1:.2f}x")
    print(
        f"  -n 2: load imbalance (busy max/mean) {imbalance(r2['busy']):.3f}   busy per rank "
        + " ".join(f"{b:.2f}" for b in r2["busy"])
    )
    for name, r in (("-n 1 x 2", r1), ("-n 1 x 1", r1t), ("-n 2 x 1", r2)):
        print(
            f"  {name} per rank: busy "
            + " ".join(f"{x:.2f}" for x in r["busy"])
            + "  read "
            + " ".join(f"{x:.2f}" for x in r["read"])
            + "  wait "
            + " ".join(f"{x:.2f}" for x in r["wait"])
            + "  write "
            + " ".join(f"{x:.2f}" for x in r["write"])
            + f"  (job wall {r['job_wall']:.2f} s)"
        )
    print(
        f"  -n 2: write share of wall {max(r2['write']) / r2['job_wall']:.1%} (max write {max(r2['write']):.3f} s)"
    )
    print("  -n 2: peak RSS per rank, shared price arrays on : " + " ".join(f"{x:.0f} MB" for x in r2["rss"]))
    print(
        "  -n 2: peak RSS per rank, shared price arrays off: " + " ".join(f"{x:.0f} MB" for x in r2n["rss"])
    )
    if a.sp500:
        big = [
            "--data",
            "synthetic:500",
            "--set",
            "data.synthetic_bars=5000",
            "--set",
            "scan.window_bars=500",
            "--set",
            "scan.max_windows=500",
            "--set",
            "scan.up_to=8",
            "--set",
            "scan.max_start_points=8",
            "--set",
            "scan.window_overlap_ratio=0.982",
        ]
        rb = job(2, out, big)
        ra = job(1, out, big)
        print("S&P-500 scale (500 x 5,000 bars, 500-bar windows, <=500 windows/symbol, up_to 8, 8 starts):")
        for name, r in (("-n 2", rb), ("-n 1", ra)):
            print(
                f"  {name}: wall {r['wall']:.1f} s (job {r['job_wall']:.1f} s)   windows {r['windows']:,}   "
                f"{r['windows'] / r['job_wall']:,.0f} windows/s   imbalance {imbalance(r['busy']):.3f}   "
                f"write {max(r['write']):.2f} s ({max(r['write']) / r['job_wall']:.1%})"
            )
        print(f"  speedup 1 -> 2 ranks at this scale: {ra['job_wall'] / rb['job_wall']:.2f}x")
        # the same workload with the default start rule (every pivot, start_swing_ratio)
        dflt = [x for x in big if x != "scan.max_start_points=8"]
        dflt = [
            x
            for i, x in enumerate(dflt)
            if not (x == "--set" and i + 1 < len(dflt) and dflt[i + 1] == "--set")
        ]
        dflt += ["--set", "scan.max_start_points=0"]
        rsd = alternating([("-n 2", 2, dflt, None), ("-n 1", 1, dflt, None)], out, a.repeats)
        rd2, rd1 = rsd["-n 2"], rsd["-n 1"]
        print(f"  same, every pivot a start (default start rule; medians of {a.repeats}, alternating):")
        for name, r, ref in (("-n 2", rd2, rb), ("-n 1", rd1, ra)):
            print(
                f"  {name}: wall {r['wall_median']:.2f} s (job {r['job_wall_median']:.2f} s, generating the "
                f"symbols (read) {max(r['read']):.2f} s), {r['job_wall_median'] / ref['job_wall']:.2f}x the 8-start "
                "run   peak RSS " + " ".join(f"{x:.0f} MB" for x in r["rss"])
            )
        print(
            f"  -n 1 (2 threads) / -n 2, every pivot a start: process {rd1['wall_median'] / rd2['wall_median']:.2f}x, "
            f"job {rd1['job_wall_median'] / rd2['job_wall_median']:.2f}x"
        )
        # the same symbols read from an HDF5 file, as a user's data would be (generating a synthetic
        # symbol costs more CPU than scanning it, and is not part of the scan)
        h5 = sp500_file(tmp)
        fromfile = ["--data", f"hdf5:{h5}"] + dflt[2:]
        one = {"MPIAPP_THREADS": "1"}
        rs = alternating(
            [
                ("-n 2", 2, fromfile, None),
                ("-n 1 x 2 threads", 1, fromfile, None),
                (
                    "-n 1 x 2 threads, one unit at a time",
                    1,
                    fromfile + ["--set", "work.units_at_once=1"],
                    None,
                ),
                ("-n 1 x 1 thread", 1, fromfile, one),
            ],
            out,
            a.repeats,
        )
        print(
            f"  same, every pivot a start, the 500 symbols read from an HDF5 file (medians of {a.repeats}, "
            "variants alternating):"
        )
        for name, r in rs.items():
            print(
                f"  {name:38s}: wall {r['wall_median']:.2f} s (job {r['job_wall_median']:.2f} s, read "
                f"{max(r['read']):.2f} s, busy "
                + " ".join(f"{x:.2f}" for x in r["busy"])
                + ")   peak RSS "
                + " ".join(f"{x:.0f} MB" for x in r["rss"])
            )
        r2, r1 = rs["-n 2"], rs["-n 1 x 2 threads"]
        r1u, r11 = rs["-n 1 x 2 threads, one unit at a time"], rs["-n 1 x 1 thread"]
        print(
            f"  -n 1 x 2 threads / -n 2 (thread parity): process {r1['wall_median'] / r2['wall_median']:.2f}x, "
            f"job {r1['job_wall_median'] / r2['job_wall_median']:.2f}x   (one unit at a time: process "
            f"{r1u['wall_median'] / r2['wall_median']:.2f}x, job {r1u['job_wall_median'] / r2['job_wall_median']:.2f}x)"
        )
        print(
            f"  -n 1 x 1 thread / -n 2 (rank scaling, 1 thread a rank): process "
            f"{r11['wall_median'] / r2['wall_median']:.2f}x, job {r11['job_wall_median'] / r2['job_wall_median']:.2f}x"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    print("rerun: python bench/scan_scaling.py " + " ".join(sys.argv[1:]))


main()
