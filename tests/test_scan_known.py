"""Point in time: what the scan reports as known at bar t does not depend on any later bar.

The oracle is the series cut at bar c, scanned again: `known_bar` is defined as the first bar from
which a scan of the bars up to it alone reports the pattern (docs/scan.md "When a pattern is known").
So (1) the full scan's patterns with known_bar < c are exactly the cut scan's patterns with
known_bar < c, pivots, prices, score and known_bar alike; (2) a pattern with known_bar kb is reported
by the scan of bars 0..kb and not by the scan of bars 0..kb-1. Neither property reads an expected
value from the scan's code. Hand case first.
"""

from __future__ import annotations

import numpy as np
import pytest

from mpiapp.engines.scan import ScanParams, scan_symbol
from mpiapp.io import synthetic, synthetic_late
from mpiapp.io.series import Series
from test_scan_helpers import BACKENDS, one_window, path_series, random_walk

# The ideal bullish impulse of test_scan_hand.py, with a slower final leg: 148 at bar 44 down to
# 130 at bar 60 (-1.125 per bar). Close-only, linear between turning points, pivot_pct = 0.02.
# Confirmation bars (percent mode: a high H is confirmed when a later low reaches H / 1.02, a low
# L when a later high reaches 1.02 L):
#   p0 100 @ 0 : needs 102      -> bar 1 is 102                      -> 1
#   p1 120 @ 10: needs 117.647  -> bar 11 is 118, bar 12 is 116      -> 12
#   p2 108 @ 16: needs 110.16   -> bar 17 is 108 + 32/14 = 110.29    -> 17
#   p3 140 @ 30: needs 137.255  -> bar 31 is 137                     -> 31
#   p4 128 @ 34: needs 130.56   -> bar 35 is 130, bar 36 is 132      -> 36
#   p5 148 @ 44: needs 145.098  -> bars 45, 46, 47: 146.875, 145.75, 144.625 -> 47
SLOW = [(0, 100), (10, 120), (16, 108), (30, 140), (34, 128), (44, 148), (60, 130)]
KNOWN = [1, 12, 17, 31, 36, 47]
CUT_FIELDS = (
    "direction",
    "t0",
    "t1",
    "t2",
    "t3",
    "t4",
    "t5",
    "p0",
    "p5",
    "score",
    "F",
    "T",
    "A",
    "C",
    "window",
    "known_bar",
    "truncated",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_known_bar_by_hand(backend):
    s = path_series(SLOW)
    # one window over all 61 bars (0..60): p5 is confirmed at 47, the window closes at bar 60
    r = scan_symbol(s, one_window(len(s), pivot_pct=0.02, scan_pattern_types=["bullish"]), backend)
    assert r.pivots["t"].tolist() == [0, 10, 16, 30, 34, 44]
    assert r.pivots["known"].tolist() == KNOWN
    assert len(r) == 1
    assert int(r.patterns["t5"][0]) == 44 and int(r.patterns["known_bar"][0]) == 60
    # windows of 48 bars, step 1: window 0 (bars 0..47) closes on p5's confirmation bar
    p = ScanParams(
        scale="fixed",
        window_bars=48,
        window_overlap_ratio=1 - 1 / 48,
        skip_flat_windows=False,
        pivot_pct=0.02,
        scan_pattern_types=["bullish"],
    )
    r = scan_symbol(s, p, backend)
    assert len(r) == 1 and int(r.patterns["window"][0]) == 0 and int(r.patterns["known_bar"][0]) == 47
    # 47 bars: window 0 (0..46) closes before p5 is confirmed; window 1 (1..47) lacks t0
    p = ScanParams(
        scale="fixed",
        window_bars=47,
        window_overlap_ratio=1 - 1 / 47,
        skip_flat_windows=False,
        pivot_pct=0.02,
        scan_pattern_types=["bullish"],
    )
    r = scan_symbol(s, p, backend)
    assert len(r) == 0


def _cut(s: Series, c: int) -> Series:
    """The series as it stood at the close of bar c - 1."""
    return Series(
        s.symbol, s.time[:c], s.open[:c], s.high[:c], s.low[:c], s.close[:c], s.origin, has_ohlc=s.has_ohlc
    )


def _rows_before(scan, c) -> list:
    """The rows with known_bar < c, as sorted tuples of the compared columns."""
    P = scan.patterns
    keep = np.flatnonzero(P["known_bar"] < c)
    return sorted(tuple(P[f][i].item() for f in CUT_FIELDS) for i in keep)


def _universe():
    """Random walks (both kinds of bars), planted impulses and the late layout: 1,500 bars each."""
    out = [random_walk(1500, 11, vol=0.015), random_walk(1500, 12, vol=0.02, ohlc=False)]
    out.append(synthetic.generate(7, 0, 1500, 1.0, 0.1, 10)[0])
    out.append(synthetic_late.generate(7, 1, 1500, 1.0, 0.1, 10)[0])
    return out


PARAMS = {
    "default": ScanParams(window_bars=300, window_overlap_ratio=0.97, max_windows=10_000),
    "atr-upto4-starts3": ScanParams(
        window_bars=250,
        window_overlap_ratio=0.96,
        max_windows=10_000,
        pivot_mode="atr",
        atr_multiple=2.5,
        up_to=4,
        max_start_points=3,
    ),
    "budget": ScanParams(
        window_bars=300, window_overlap_ratio=0.97, max_windows=10_000, up_to=6, max_combinations=40
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("prm", sorted(PARAMS))
def test_cut_series_reports_what_was_known(backend, prm):
    """Patterns known before bar c are the same whether the scan saw the bars after c or not."""
    params = PARAMS[prm]
    compared = 0
    for s in _universe():
        full = scan_symbol(s, params, backend)
        for c in (700, 1013, 1100, 1377):
            cut = scan_symbol(_cut(s, c), params, backend)
            a, b = _rows_before(full, c), _rows_before(cut, c)
            assert a == b, (s.symbol, prm, c, set(a) ^ set(b))
            compared += len(a)
    assert compared > 50  # the property was tested on real content


def test_known_bar_is_the_first_bar_that_reports_the_pattern():
    """Scanning bars 0..kb reports the pattern (with known_bar kb); bars 0..kb-1 do not."""
    params = PARAMS["default"]
    checked = 0
    for s in _universe():
        full = scan_symbol(s, params, "numba")
        P = full.patterns
        for row in range(0, len(full), max(1, len(full) // 6)):
            key = tuple(int(P[f"t{k}"][row]) for k in range(6)) + (int(P["direction"][row]),)
            kb = int(P["known_bar"][row])
            assert kb > int(P["t5"][row])
            assert kb < len(s.close)

            def has(scan):
                Q = scan.patterns
                return any(
                    tuple(int(Q[f"t{k}"][i]) for k in range(6)) + (int(Q["direction"][i]),) == key
                    for i in range(len(scan))
                )

            at = scan_symbol(_cut(s, kb + 1), params, "numba")
            assert has(at), (s.symbol, key, kb)
            before = scan_symbol(_cut(s, kb), params, "numba")
            assert not has(before), (s.symbol, key, kb)
            checked += 1
    assert checked >= 20


# ---- through the score job, at -n 1 and -n 2, and into the train job's scan features ------------
def _write_universe(folder, cut=None):
    """Three 1,500-bar CSV symbols (planted impulses, the late layout, a random walk), or their
    first `cut` rows."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    series = [
        synthetic.generate(21, 0, 1500, 1.0, 0.1, 3)[0],
        synthetic_late.generate(21, 1, 1500, 1.0, 0.1, 3)[0],
        random_walk(1500, 23, vol=0.015),
    ]
    for i, s in enumerate(series):
        c = len(s.close) if cut is None else cut
        pd.DataFrame(
            {
                "Date": pd.to_datetime(s.time[:c]).strftime("%Y-%m-%d"),
                "Open": s.open[:c],
                "High": s.high[:c],
                "Low": s.low[:c],
                "Close": s.close[:c],
                "Volume": 1000,
            }
        ).to_csv(folder / f"U{i}.csv", index=False)
    return folder


def _score(n, data, out):
    from conftest import PY, mpiexec_cmd, run

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
        ),
        timeout=240,
    )
    assert r.returncode == 0, r.output
    return out


def _file_rows(path, c) -> dict:
    """{symbol name: sorted rows with known_bar < c} of a score results file, read with h5py."""
    import h5py

    with h5py.File(path, "r") as f:
        P = {k: f["patterns"][k][()] for k in f["patterns"]}
        names = [x.decode() for x in f["symbols"]["name"][()]]
    out = {}
    for sid, name in enumerate(names):
        keep = np.flatnonzero((P["symbol"] == sid) & (P["known_bar"] < c))
        out[name] = sorted(tuple(P[f][i].item() for f in CUT_FIELDS) for i in keep)
    return out


CUTS = (800, 1100, 1333)


@pytest.fixture(scope="module")
def job_scans(tmp_path_factory):
    """{(c, n): score file} of the universe (c = None: whole) and its cuts, scanned at -n 1 and 2."""
    tmp = tmp_path_factory.mktemp("cut")
    out = {}
    for c in (None,) + CUTS:
        data = _write_universe(tmp / f"data{c}", cut=c)
        for n in (1, 2):
            out[c, n] = _score(n, data, tmp / f"scan{c}_{n}.h5")
    return out


def test_the_score_job_cut_at_c_reports_what_it_knew_before_c_at_any_rank_count(job_scans):
    compared = 0
    for c in CUTS:
        for n in (1, 2):
            got = _file_rows(job_scans[c, n], c)
            assert got == _file_rows(job_scans[None, n], c), (c, n)
            assert got == _file_rows(job_scans[None, 3 - n], c), (c, n)
            compared += sum(len(v) for v in got.values())
    assert compared > 60


def test_train_scan_features_at_bar_t_are_those_of_the_scan_cut_at_t(job_scans):
    """The train job's scan features (its own reader, the scan file as given) at every bar t < c
    equal those it builds from the scan of the bars up to c alone."""
    from mpiapp.engines.train.job import _read_scan
    from mpiapp.engines.train.scanfeat import scan_features

    whole = _read_scan(str(job_scans[None, 2]))
    for c in CUTS:
        part = _read_scan(str(job_scans[c, 2]))
        for name, pats in part.items():
            a = scan_features(c, *whole[name], lookback=60)
            b = scan_features(c, *pats, lookback=60)
            assert np.array_equal(a, b), (name, c, np.flatnonzero(np.any(a != b, axis=1))[:5])
