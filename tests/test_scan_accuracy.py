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
from mpiapp.engines.scan.accuracy import false_alarms
from mpiapp.io import synthetic, synthetic_late, synthetic_leadin


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
    print(
        f"\nrecall {hits}/{total} = {recall:.3f}; false alarms (S > 0.7) {alarms} in {bars} bars = "
        f"{per_1000:.2f} per 1,000 bars"
    )
    assert total >= 60
    assert recall >= 0.95
    assert np.isfinite(per_1000)


def test_recall_on_late_impulses_after_a_larger_swing(record_property):
    """The late layout (mpiapp.io.synthetic_late): before each impulse the series went beyond p0
    2-4 times, and the last impulse ends ~30-40 bars before the series end, in the last windows,
    where no window starts after that larger swing. Default configuration."""
    cfg = config.load()
    params = ScanParams.from_config(cfg.scan)
    d = cfg.data
    hits = total = last_hits = last_total = 0
    for i in range(30):
        s, truth = synthetic_late.generate(d.seed, i, 3000, d.synthetic_plant_rate, d.synthetic_noise, 30)
        r = scan_symbol(s, params, "numba")
        for j, imp in enumerate(truth):
            total += 1
            hits += found(r, imp)
            if j == len(truth) - 1:
                last_total += 1
                last_hits += found(r, imp)
    recall = hits / total
    record_property("late_recall", recall)
    print(
        f"\nlate layout: recall {hits}/{total} = {recall:.3f}; last impulse of each symbol "
        f"{last_hits}/{last_total}"
    )
    assert total >= 60 and last_total == 30
    assert recall >= 0.95
    assert last_hits / last_total >= 0.9


def test_recall_after_a_short_pause_and_the_false_alarms_it_costs(record_property):
    """The lead-in layout (mpiapp.io.synthetic_leadin): the counter-move into p0 is 0.25-0.5 x
    wave 1 (read back from the bars, not from the generator). With the defaults: recall >= 0.95
    over the whole range; false alarms on random walks (S > 0.7 per 1,000 bars) at most 1.2 x those
    of the start rule at the wave-2 band's lower end (0.382) with fixed thresholds."""
    cfg = config.load()
    params = ScanParams.from_config(cfg.scan)
    before = ScanParams.from_config(cfg.scan, start_swing_ratio=0.382, scale="fixed")
    d = cfg.data
    hits = {True: 0, False: 0}
    total = 0
    ratios = []
    for i in range(30):
        s, truth = synthetic_leadin.generate(d.seed, i, 3000, d.synthetic_plant_rate, d.synthetic_noise, 30)
        now, old = scan_symbol(s, params, "numba"), scan_symbol(s, before, "numba")
        for imp in truth:
            total += 1
            ratios.append(synthetic_leadin.lead_in_ratio(s, imp))
            hits[True] += found(now, imp)
            hits[False] += found(old, imp)
    fa = {
        k: false_alarms(p, d.seed + 1, 20, 3000, d.synthetic_noise)[0.7]
        for k, p in (("now", params), ("before", before))
    }
    record_property("leadin_recall", hits[True] / total)
    print(
        f"\nlead-in layout (ratios {min(ratios):.3f}-{max(ratios):.3f}): recall {hits[True]}/{total} with the "
        f"defaults, {hits[False]}/{total} with start ratio 0.382 and fixed thresholds; false alarms per "
        f"1,000 bars {fa['now']:.2f} against {fa['before']:.2f}"
    )
    assert total >= 60 and min(ratios) < 0.3 and max(ratios) > 0.45
    assert hits[True] / total >= 0.95
    assert hits[False] / total < 0.9  # the layout is the hard case it is meant to be
    assert fa["now"] <= 1.2 * fa["before"]


def test_late_layout_defeats_a_count_of_start_points():
    """The generator's promise, checked on its own output: the last impulse lies in the last
    window, and before its p0 that window goes beyond p0 in separate excursions (coming back 3 %,
    the zig-zag threshold, inside p0 in between, so each holds its own pivot) - three or more in a
    third of the symbols, so a rule "the 3 most extreme pivots" cannot reach p0 there."""
    beaten = 0
    for i in range(30):
        s, truth = synthetic_late.generate(0, i, 3000, 1.0, 0.1, 30)
        imp = truth[-1]
        ws = len(s) - 500
        assert ws <= imp.t[0] and imp.t[5] <= len(s) - 1
        if imp.direction > 0:
            y, lvl = np.log(s.low[ws : imp.t[0]]), np.log(imp.p[0])
        else:
            y, lvl = -np.log(s.high[ws : imp.t[0]]), -np.log(imp.p[0])
        beaten += _excursions_beyond(y, lvl, 0.03) >= 3
    assert beaten >= 10


def _excursions_beyond(y, lvl, back):
    """Separate excursions of y below lvl; one ends when y comes back above lvl + back."""
    count, below = 0, False
    for v in y:
        if not below and v < lvl:
            count, below = count + 1, True
        elif below and v > lvl + back:
            below = False
    return count


def test_late_impulse_case_recovered_with_the_defaults():
    """tests/data/scan-late-impulse (the reported case): both planted impulses, each pivot within
    +-2 bars, with the default configuration (the second one was missed by the 3-start rule)."""
    import json
    from pathlib import Path

    from mpiapp.io.sources import open_source

    here = Path(__file__).parent / "data" / "scan-late-impulse"
    expected = json.loads((here / "expected.json").read_text())["LATE1"]
    s = open_source(f"csv:{here}").load("LATE1")
    params = ScanParams.from_config(config.load().scan)
    r = scan_symbol(s, params, "numba")
    for e in expected:
        imp = synthetic.Impulse("LATE1", e["direction"], tuple(e["t"]), ())
        assert found(r, imp), e
    old = scan_symbol(s, ScanParams(max_start_points=3, start_swing_ratio=0.0), "numba")
    assert not found(old, synthetic.Impulse("LATE1", -1, tuple(expected[1]["t"]), ()))
