"""Every reported impulse is a real one: each wave checked against the raw High/Low bars.

The oracle uses none of the scan's code: for every pattern row it reads the six pivot bars and
prices back and checks, on the bars themselves, that (a) each pivot's price is its bar's Low (wave
starts of an up wave, ends of a down wave) or High, and (b) both ends of every wave are the extremes
of the bars the wave spans (docs/scan.md): no bar of an up wave has a Low below its start or a High
above its end, and the reverse for a down wave - which for p1..p4 says p_i is the extreme of bars
t_(i-1)..t_(i+1), for p0 and p5 of their one wave. Run on the embedded real data through the score
job at -n 2 (reading the results file), on planted universes and on random walks in every backend.
"""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest

from conftest import PY, mpiexec_cmd, run
from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.io import synthetic, synthetic_late
from test_scan_helpers import BACKENDS, random_walk


def wave_faults(high, low, d, t, p) -> list[str]:
    """What is wrong with the pattern (direction d, pivot bars t, prices p) on these bars."""
    faults = []
    for i in range(1, 6):
        a, b = int(t[i - 1]), int(t[i])
        up = (i % 2 == 1) == (d > 0)
        hi, lo = float(np.max(high[a : b + 1])), float(np.min(low[a : b + 1]))
        start, end = (low[a], high[b]) if up else (high[a], low[b])
        if p[i - 1] != start or p[i] != end:
            faults.append(f"wave {i}: pivot prices {p[i - 1]}, {p[i]} are not the bars' {start}, {end}")
        if up and (lo < p[i - 1] or hi > p[i]):
            faults.append(
                f"wave {i} (up, bars {a}..{b}): low {lo} below its start {p[i - 1]} or high "
                f"{hi} above its end {p[i]}"
            )
        if not up and (hi > p[i - 1] or lo < p[i]):
            faults.append(
                f"wave {i} (down, bars {a}..{b}): high {hi} above its start {p[i - 1]} or "
                f"low {lo} below its end {p[i]}"
            )
    return faults


def check_all(high, low, P) -> int:
    for r in range(len(P["score"])):
        t = [int(P[f"t{k}"][r]) for k in range(6)]
        p = [float(P[f"p{k}"][r]) for k in range(6)]
        bad = wave_faults(high, low, int(P["direction"][r]), t, p)
        assert not bad, (t, bad)
    return len(P["score"])


def _bars(s):
    return (s.high, s.low) if s.has_ohlc else (s.close, s.close)


def test_every_pattern_of_the_embedded_data_is_valid_on_its_bars(tmp_path):
    """The README's first command (embedded real data, -n 2), read back from the results file."""
    from mpiapp import config
    from mpiapp.io import sources

    out = tmp_path / "score.h5"
    r = run(mpiexec_cmd(2, PY, "-m", "mpiapp.score", "--no-progress", "--out", str(out)), timeout=300)
    assert r.returncode == 0, r.output
    with h5py.File(out, "r") as f:
        P = {k: f["patterns"][k][()] for k in f["patterns"]}
        names = [n.decode() for n in f["symbols"]["name"][()]]
    cfg = config.load()
    src = sources.open_from_config(cfg, min_bars=cfg.scan.window_bars)
    checked = 0
    for sid, name in enumerate(names):
        s = src.load(name)
        high, low = _bars(s)
        rows = P["symbol"] == sid
        checked += check_all(high, low, {k: v[rows] for k, v in P.items()})
    assert checked > 100
    # one structure, one line: the groups as the rule states them, by a plain loop over the rows
    T = np.stack([P[f"t{k}"] for k in range(6)], axis=1)
    expect = list(range(len(T)))
    for i in range(len(T)):
        for j in range(i):
            if (P["symbol"][j], P["direction"][j]) == (P["symbol"][i], P["direction"][i]) and len(
                set(T[i].tolist()) & set(T[j].tolist())
            ) >= 4:
                expect[i] = expect[j]
                break
    assert P["group"].tolist() == expect
    n_alt = [expect.count(i) - 1 if expect[i] == i else 0 for i in range(len(T))]
    assert P["n_alternatives"].tolist() == n_alt
    assert sum(g == i for i, g in enumerate(expect)) < len(T)  # the data has alternative counts
    # the printed top 10: no two lines of one structure (same symbol and direction, >= 4 shared bars)
    top = [ln.split() for ln in r.stdout.splitlines() if re.match(r"^\s+\d+ \S+\s+(bull|bear) ", ln)]
    assert len(top) == 10
    for i, a in enumerate(top):
        for b in top[:i]:
            if a[1:3] == b[1:3]:
                assert len(set(a[-6:]) & set(b[-6:])) < 4, (a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("up_to", [2, 8])
def test_every_pattern_is_valid_on_planted_and_random_bars(backend, up_to):
    n = 1500 if backend == "numpy" else 3000
    params = ScanParams(window_bars=300 if backend == "numpy" else 500, up_to=up_to)
    series = [synthetic.generate(3, i, n, 1.0, 0.1, 10)[0] for i in range(2)]
    series += [synthetic_late.generate(3, 2, n, 1.0, 0.1, 10)[0]]
    series += [synthetic.generate(4, 3, n, 0.0, 0.1, 10)[0]]  # the generator's background alone
    series += [random_walk(n, 5, vol=0.015), random_walk(n, 6, vol=0.02, ohlc=False)]
    checked = 0
    for s in series:
        r = scan_symbol(s, params, backend)
        checked += check_all(*_bars(s), r.patterns)
    assert checked > 100


def test_the_oracle_catches_a_wave_that_overruns_its_start():
    # close-only: 100 -> 120 (bar 10) -> 95 (bar 15) -> 130 (bar 25): a "wave 1" from 100 at bar 0
    # to 130 at bar 25 that skipped the swing through 95 starts above the low of its own bars
    x = np.interp(np.arange(26), [0, 10, 15, 25], [100, 120, 95, 130])
    faults = wave_faults(x, x, 1, [0, 25, 25, 25, 25, 25], [100, 130, 130, 130, 130, 130])
    assert any("below its start" in f for f in faults)


def test_groups_by_hand():
    from mpiapp.engines.scan.result import group_alternatives

    # rows in table order (one symbol, bullish); row 1 shares 5 bars with row 0 (differs in p0);
    # row 2 shares none; row 3 shares 3 with row 0 (a new group); row 4 shares 4 with row 3 and
    # 1 with row 0 (joins row 3's group); row 5 shares 4 with row 1 (joins row 0's group through
    # row 1, the first better row it is near)
    t6 = [
        [0, 10, 20, 30, 40, 50],
        [5, 10, 20, 30, 40, 50],
        [60, 61, 62, 63, 64, 65],
        [0, 10, 20, 31, 41, 51],
        [1, 11, 20, 31, 41, 51],
        [5, 10, 21, 30, 40, 55],
    ]
    group, n_alt = group_alternatives([0] * 6, [1] * 6, t6)
    assert group.tolist() == [0, 0, 2, 3, 3, 0]
    assert n_alt.tolist() == [2, 0, 0, 1, 0, 0]
    # another direction or symbol never joins
    group, _ = group_alternatives([0, 0, 1], [1, -1, 1], [t6[0], t6[1], t6[1]])
    assert group.tolist() == [0, 1, 2]
