"""The candidate budget (`scan.max_combinations`) bounds the work and the memory of every backend.

The shape that exposed it: a staircase (every rally a new high, every pullback a higher low) with
a large `up_to`. From one start the number of complete candidates grows like (up_to + 1)^3 (waves
1, 3 and 5 may end at any later high; waves 2 and 4 only at the next low), so a search that ignores
the budget anywhere (as the shared per-start search of the numba backend did: 20 s and 4.3 GB on the
reported case, where the numpy reference visits 1,510 candidates) blows up.

Bounds asserted (counters reported by the kernels, and the peak memory of a fresh process; never
wall time): the shared search visits at most budget candidates per start, the re-run windows at
most budget each, and the candidates held are bounded by the same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mpiapp.engines.scan import ScanParams, scan_symbol
from test_scan_helpers import DAY, BACKENDS
from mpiapp.io.series import Series

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def staircase(n, up=0.06, down=0.04, up_bars=3, down_bars=2, sign=1, symbol="STAIR") -> Series:
    """Close-only log-linear staircase: rallies of `up` over up_bars, pullbacks of `down` over
    down_bars (both beyond the 3 % zig-zag threshold, so every turn is a pivot); sign=-1 mirrors
    it into a falling staircase."""
    steps = []
    while len(steps) < n - 1:
        steps += [up / up_bars] * up_bars + [-down / down_bars] * down_bars
    logp = np.r_[0.0, np.cumsum(steps[: n - 1])]
    close = 100.0 * np.exp(sign * logp)
    t = np.arange(n, dtype=np.int64) * DAY
    return Series(symbol, t, close, close, close, close, "hand", has_ohlc=False)


def stair_params(**kw) -> ScanParams:
    # scale fixed: the staircase's turns are made for the fixed 3 % threshold
    base = dict(up_to=64, window_bars=1000, max_combinations=10, skip_flat_windows=False, scale="fixed")
    base.update(kw)
    return ScanParams(**base)


def assert_bounded(info, budget):
    assert info["shared_visited"] <= info["start_slots"] * budget, info
    assert info["direct_visited"] <= info["direct_windows"] * budget, info
    assert info["candidate_rows"] <= (info["start_slots"] + info["direct_windows"]) * budget, info


PROBE = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/tests")
from test_scan_budget import staircase, stair_params
from mpiapp.engines.scan import scan_symbol
s = staircase(4000, sign=int(sys.argv[3]))
info = {}
r = scan_symbol(s, stair_params(), sys.argv[2], info=info)
info["patterns"] = len(r)
info["truncated"] = int(r.windows["truncated"].sum())
# this process's own high-water mark (VmHWM starts afresh at exec; ru_maxrss would carry the
# peak of the process that spawned it, e.g. a pytest process grown large by earlier tests)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
info["peak_rss_mb"] = (int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
print(json.dumps(info))
"""


@pytest.mark.parametrize("backend,sign", [("numba", 1), ("xp-numpy", -1)])
def test_budget_bounds_memory_and_work_in_a_fresh_process(backend, sign):
    """numba on the rising staircase (the reported case, rebuilt here), and the second instance:
    the array-module path on the falling one. A budget of 10 must keep the process small."""
    p = subprocess.run(
        [sys.executable, "-c", PROBE, ROOT, backend, str(sign)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads(p.stdout.strip().splitlines()[-1])
    assert_bounded(info, 10)
    assert info["truncated"] > 0 and info["patterns"] > 0
    # importing numba and the kernels takes ~250 MB; an unbounded search took 4.3 GB here
    assert info["peak_rss_mb"] < 1000, info


@pytest.mark.parametrize("sign", [1, -1])
def test_budgeted_staircase_same_in_all_backends(sign):
    """Saturated starts (more candidates than the budget) and windows re-run by the budgeted
    search give the reference's tables exactly, in both directions."""
    s = staircase(900, sign=sign)
    for budget in (7, 300):
        p = stair_params(up_to=24, window_bars=300, window_overlap_ratio=0.9, max_combinations=budget)
        ref = scan_symbol(s, p, "numpy")
        assert ref.windows["truncated"].any()
        for b in BACKENDS[1:]:
            info = {}
            got = scan_symbol(s, p, b, info=info)
            assert ref.equals(got, rtol=1e-9), (b, budget)
            assert info["saturated_starts"] > 0
            assert_bounded(info, budget)
