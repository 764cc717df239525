"""Live counts (the impulse in progress at the last bar) and the walk-forward outcome study.

Oracles outside the code: planted impulses of the project's generator, the series cut inside
wave 3, 4 or 5 (the planted pivots and the issue's formulas for invalidation, cap and target band,
computed here from the count's own prices); the series cut at a count's known_bar (it is reported
there and not one bar earlier); random walks, whose outcome rates must match those of their own
block-bootstrap surrogates; and the score job at 1, 2 and 4 ranks.
"""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.engines.scan import ScanParams
from mpiapp.engines.scan import live, null
from mpiapp.io import synthetic
from test_scan_helpers import random_walk


def expected_levels(d, k, p):
    """(invalidation, cap, band lo, band hi) by the definitions, from pivot prices p0..p(k-1)."""
    L1 = abs(p[1] - p[0])
    L3 = abs(p[3] - p[2]) if k >= 4 else np.nan
    if k == 2:
        inval, cap, band = p[0], p[1], (p[1] - d * 0.382 * L1, p[1] - d * 0.786 * L1)
    elif k == 3:
        inval, cap, band = p[2], np.nan, (p[2] + d * 1.0 * L1, p[2] + d * 2.618 * L1)
    elif k == 4:
        inval, cap, band = p[1], p[3], (p[3] - d * 0.236 * L3, p[3] - d * 0.5 * L3)
    else:
        cap = p[4] + d * L3 if L3 < L1 else np.nan
        far = p[4] + d * 1.618 * L1
        if cap == cap:
            far = min(far, cap) if d > 0 else max(far, cap)
        inval, band = p[4], (p[4] + d * 0.618 * L1, far)
    return inval, cap, min(band), max(band)


def _series_cut(s, c):
    return s.high[:c], s.low[:c], s.close[:c]


def test_counts_in_progress_hold_the_planted_pivots_and_their_levels():
    params = ScanParams()
    found = {(k, d): [0, 0] for k in (3, 4, 5) for d in (1, -1)}
    checked = 0
    for i in range(20):
        s, truth = synthetic.generate(5, i, 3000, 1.0, 0.1, 20)
        for imp in truth:
            for k in (3, 4, 5):
                a, b = imp.t[k - 1], imp.t[k]
                c = a + int(0.8 * (b - a)) + 1  # the series ends inside wave k
                tab = live.live_table(*_series_cut(s, c), params, "numba")
                hit = None
                for r in np.flatnonzero(tab["level"] == 0):
                    if (
                        tab["direction"][r] == imp.direction
                        and tab["wave"][r] == k
                        and all(abs(int(tab[f"t{j}"][r]) - imp.t[j]) <= 2 for j in range(k))
                    ):
                        hit = r
                        break
                found[k, imp.direction][1] += 1
                if hit is None:
                    continue
                found[k, imp.direction][0] += 1
                p = [float(tab[f"p{j}"][hit]) for j in range(5)]
                want = expected_levels(imp.direction, k, p)
                got = [float(tab[f][hit]) for f in ("invalidation", "cap", "target_lo", "target_hi")]
                np.testing.assert_allclose(got, want, rtol=1e-12)
                # the running extreme of the wave in progress, from the bars
                wave_up = (k % 2 == 1) == (imp.direction > 0)
                seg = (s.high if wave_up else s.low)[int(tab[f"t{k - 1}"][hit]) : c]
                assert float(tab["p_ext"][hit]) == (seg.max() if wave_up else seg.min())
                assert all(int(tab[f"t{j}"][hit]) == -1 and np.isnan(tab[f"p{j}"][hit]) for j in range(k, 5))
                checked += 1
    total = sum(n for _, n in found.values())
    hits = sum(h for h, _ in found.values())
    print({f"wave {k} {'bull' if d > 0 else 'bear'}": f"{h}/{n}" for (k, d), (h, n) in found.items()})
    assert all(n >= 10 for _, n in found.values())  # every wave, both directions
    assert hits / total >= 0.95
    assert all(h / n >= 0.85 for h, n in found.values())
    assert checked == hits


def test_a_live_count_is_reported_from_its_known_bar_on_and_not_before():
    params = ScanParams()
    checked = 0
    for seed, n in ((3, 2000), (4, 2500)):
        s = random_walk(n, seed, vol=0.015)
        tab = live.live_table(s.high, s.low, s.close, params, "numba")
        for r in range(len(tab["rank"])):
            kb = int(tab["known_bar"][r])
            key = lambda t, i: (
                (int(t["level"][i]), int(t["direction"][i]), int(t["wave"][i]))
                + tuple(int(t[f"t{j}"][i]) for j in range(5))
            )  # noqa: E731
            mine = key(tab, r)
            at = live.live_table(*_series_cut(s, kb + 1), params, "numba")
            assert mine in {key(at, i) for i in range(len(at["rank"]))}, (mine, kb)
            before = live.live_table(*_series_cut(s, kb), params, "numba")
            assert mine not in {key(before, i) for i in range(len(before["rank"]))}, (mine, kb)
            checked += 1
    assert checked >= 6


def test_outcome_rates_on_random_walks_match_their_surrogates():
    params = ScanParams(outcomes=True)
    real, sur = {}, {}
    for i in range(10):
        s = random_walk(3000, 100 + i, vol=0.012)
        rows = live.outcome_rows(s.high, s.low, s.close, params, "numba", 0, 2999)
        for tab, acc in [(live.tally(rows, 2), real)] + [
            (live.tally(live.outcome_rows(h, lo, c, params, "numba", 0, 2999), 2), sur)
            for h, lo, c in null.surrogates(s.symbol, s.high, s.low, s.close, 10, 20.0, 0)
        ]:
            for j in range(len(tab["wave"])):
                a = acc.setdefault((int(tab["level"][j]), int(tab["wave"][j])), [0, 0])
                a[0] += int(tab["n"][j])
                a[1] += int(tab["target"][j])
    compared = 0
    for key, (n, hit) in real.items():
        nn, nhit = sur[key]
        if n < 100:
            continue
        r, r0 = hit / n, nhit / nn
        se = np.sqrt(r0 * (1 - r0) * (1 / n + 1 / nn))
        assert abs(r - r0) <= 2 * se, (key, r, r0, se)
        compared += 1
    assert compared >= 6


def test_outcome_of_a_count_by_hand():
    # a bullish count with wave 3 in progress from p2 = 100, L1 = 10: band 110 .. 126.18, invalid
    # below 100. Bars after known_bar 0: 104, 107, 111 (the band's lower edge reached at bar 3)
    high = np.array([101.0, 104, 107, 111, 90])
    low = np.array([100.0, 102, 105, 108, 80])
    code = np.empty(1, np.int64)
    bars = np.empty(1, np.int64)
    from mpiapp.kernels import live as kl

    args = lambda near, inval, strict: (
        high,
        low,
        np.array([0]),
        np.array([0]),
        np.array([1]),
        np.array([1]),  # noqa
        np.array([near]),
        np.array([inval]),
        np.array([strict]),
        np.array([np.nan]),
        10,
        5,
        code,
        bars,
    )
    kl.outcome_core(*args(110.0, 100.0, True))
    assert (code[0], bars[0]) == (kl.TARGET, 3)
    # a band out of reach: the fall to 80 at bar 4 breaks the invalidation first
    kl.outcome_core(*args(130.0, 100.0, True))
    assert (code[0], bars[0]) == (kl.INVALIDATION, 4)
    # only 2 bars followed: nothing happened within them
    a = list(args(130.0, 100.0, True))
    a[10] = 2
    kl.outcome_core(*a)
    assert (code[0], bars[0]) == (kl.NONE, -1)


def test_the_numpy_reference_and_numba_agree():
    params = ScanParams(window_bars=200, outcomes=True)
    s = random_walk(700, 9, vol=0.015)
    a = live.live_table(s.high, s.low, s.close, params, "numpy")
    b = live.live_table(s.high, s.low, s.close, params, "numba")
    assert len(a["rank"]) > 0
    for f in a:
        np.testing.assert_array_equal(a[f], b[f], err_msg=f)
    a = live.outcome_rows(s.high, s.low, s.close, params, "numpy", 300, 699)
    b = live.outcome_rows(s.high, s.low, s.close, params, "numba", 300, 699)
    assert len(a["known_bar"]) > 0
    for f in a:
        np.testing.assert_array_equal(a[f], b[f], err_msg=f)


def test_the_score_job_writes_the_same_live_and_outcome_tables_at_1_2_and_4_ranks(tmp_path):
    import h5py

    from conftest import PY, mpiexec_cmd, run
    from test_scan_known import _write_universe

    data = _write_universe(tmp_path / "csv")
    tables = {}
    for n in (1, 2, 4):
        out = tmp_path / f"s{n}.h5"
        r = run(
            mpiexec_cmd(
                n,
                PY,
                "-m",
                "mpiapp.score",
                "--no-progress",
                "--data",
                f"csv:{data}",
                "--out",
                str(out),
                "--set",
                "scan.window_bars=300",
                "--set",
                "scan.outcomes=true",
                "--set",
                "scan.outcome_surrogates=3",
                "--set",
                "work.unit_size=20",
            ),
            timeout=600,
        )
        assert r.returncode == 0, r.output
        with h5py.File(out, "r") as f:
            tables[n] = {t: {c: f[t][c][()] for c in f[t]} for t in ("live", "outcomes", "outcome_rates")}
        if n == 2:
            assert "live counts at the last bar" in r.stdout and "outcome study" in r.stdout
    assert len(tables[1]["live"]["rank"]) >= 6 and len(tables[1]["outcomes"]["known_bar"]) > 50
    for n in (2, 4):
        for t in tables[1]:
            for c, v in tables[1][t].items():
                np.testing.assert_array_equal(v, tables[n][t][c], err_msg=f"{t}.{c} at -n {n}")
    # the report prints the live table and the outcome study, and draws them
    r = run(
        [PY, "-m", "mpiapp.report", str(tmp_path / "s2.h5"), "--top", "1", "--plot", str(tmp_path / "png")],
        timeout=300,
    )
    assert r.returncode == 0, r.output
    assert "live counts at the last bar" in r.stdout and "outcome study" in r.stdout
    rows = [ln for ln in r.stdout.splitlines() if ln.strip().split(" ")[0].isdigit() and " U" in ln]
    assert len(rows) >= len(tables[2]["live"]["rank"])
    pngs = sorted(p.name for p in (tmp_path / "png").glob("*.png"))
    assert {f"live_U{i}.png" for i in np.unique(tables[2]["live"]["symbol"])} <= set(pngs)
    assert "outcomes.png" in pngs
    assert all((tmp_path / "png" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in pngs)
