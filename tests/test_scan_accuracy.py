"""Accuracy on planted impulses (issue 3 item 6), with the synthetic generator's ground truth.

recall: a planted impulse counts as found when a pattern of the same direction whose six pivot bars
are each within +-2 bars of the planted ones is in the top-5 of some window (the patterns table is
the union of the windows' top-k; a window only ranks candidates it contains).
false alarms: patterns scoring above 0.7 per 1,000 bars of pure random walk (plant rate 0).
Both at the config defaults (scan.* and the generator's default noise and plant rate).
"""

from __future__ import annotations

import numpy as np

from mpiapp import config
from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.io import synthetic


def found(scan, imp) -> bool:
    P = scan.patterns
    T = np.stack([P[f"t{k}"] for k in range(6)], axis=1)
    near = np.all(np.abs(T - np.asarray(imp.t)) <= 2, axis=1)
    return bool(np.any(near & (P["direction"] == imp.direction)))


def test_recall_and_false_alarms(record_property):
    cfg = config.load()
    params = ScanParams.from_config(cfg.scan)
    assert params.top_k == 5
    d = cfg.data
    hits = total = 0
    for i in range(30):
        s, truth = synthetic.generate(d.seed, i, 3000, d.synthetic_plant_rate, d.synthetic_noise, 30)
        r = scan_symbol(s, params, "numba")
        for imp in truth:
            total += 1
            hits += found(r, imp)
    recall = hits / total
    bars = alarms = 0
    for i in range(20):
        s, truth = synthetic.generate(d.seed + 1, i, 3000, 0.0, d.synthetic_noise, 20)
        assert not truth
        r = scan_symbol(s, params, "numba")
        alarms += int(np.sum(r.patterns["score"] > 0.7))
        bars += len(s)
    per_1000 = 1000.0 * alarms / bars
    record_property("recall", recall)
    record_property("false_alarms_per_1000_bars", per_1000)
    print(f"\nrecall {hits}/{total} = {recall:.3f}; false alarms (S > 0.7) {alarms} in {bars} bars = "
          f"{per_1000:.2f} per 1,000 bars")
    assert total >= 60
    assert recall >= 0.95
    assert np.isfinite(per_1000)
