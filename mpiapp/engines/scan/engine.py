"""scan_symbol: one symbol's bars in, per-window counters and unique ranked patterns out."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from ...kernels import pivots as _pv
from ...kernels import reference as _ref
from ...kernels import score as _score
from ...kernels import strength as _strength
from ...kernels import swing as _swing
from . import null as _null
from ...kernels import windows as _win
from .backends import array_module, resolve_backend
from .params import ScanParams
from .result import PATTERN_FIELDS, WINDOW_FIELDS, SymbolScan, empty_table, sort_patterns


def window_starts(n_bars: int, params: ScanParams) -> np.ndarray:
    """Start bars of a symbol's windows (int64, ascending): end-anchored, step params.step, at most
    params.max_windows (the most recent). See mpiapp.kernels.windows."""
    return _win.window_starts(int(n_bars), params.window_bars, params.step, params.max_windows)


def _bars(series):
    close = np.ascontiguousarray(series.close, dtype=np.float64)
    if getattr(series, "has_ohlc", True):
        high = np.ascontiguousarray(series.high, dtype=np.float64)
        low = np.ascontiguousarray(series.low, dtype=np.float64)
    else:
        high = low = close
    return high, low, close


def symbol_scale(close, params: ScanParams):
    """Per bar, what the percent threshold and the flat pre-filter's numbers are multiplied by: the
    trailing volatility over scan.scale_reference (kernels.pivots.scale_factor; NaN where not yet
    known), or None with scale = fixed."""
    if not params.scaled:
        return None
    return _pv.scale_factor(close, params.scale_bars, params.scale_reference)


def symbol_pivots(high, low, close, params: ScanParams, backend: str, scale="auto") -> _pv.Pivots:
    """Pivots of the whole series (identical in every backend). scale: the symbol_scale of the
    series ("auto": computed here)."""
    core = _pv.zigzag_core
    if backend != "numpy":
        from ...kernels import numba_scan

        core = numba_scan.zigzag_nb
    if isinstance(scale, str):
        scale = symbol_scale(close, params)
    return _pv.pivots(
        high,
        low,
        close,
        mode=params.pivot_mode,
        pct=params.pivot_pct,
        atr_period=params.atr_period,
        atr_multiple=params.atr_multiple,
        scale=scale,
        core=core,
    )


def symbol_swings(high, low, piv: _pv.Pivots, backend: str) -> np.ndarray:
    """The swing that ended at each pivot (mpiapp.kernels.swing), identical in every backend."""
    core = _swing.swing_core
    if backend != "numpy":
        from ...kernels import numba_scan

        core = numba_scan.swing_nb
    return _swing.swings(high, low, piv.t, piv.kind, core=core)


def scan_symbol(
    series,
    params: ScanParams,
    backend: str | None = None,
    window_range: tuple[int, int] | None = None,
    info: dict | None = None,
) -> SymbolScan:
    """Scan windows w0..w1-1 (default: all) of one symbol.

    backend: None -> params.backend; "auto", "numpy", "numba", "cupy" (or "xp-numpy": the cupy
    code path on numpy). Pivots are computed on the whole series, so the result for a window never
    depends on window_range; merge() of pieces equals the whole scan. With params.null_samples > 0
    the patterns get p-values against surrogates of the whole series (engines/scan/null.py).
    info: None, or a dict that receives the search's work counters (numba / xp backends: see
    mpiapp.kernels.numba_scan.scan_windows; numpy: direct_windows and direct_visited), seconds in
    t_prepare (pivots, swings, pre-filter), t_search (the kernel), t_patterns (the table), and, with the
    null on, null_s (seconds spent drawing and scanning surrogates here; 0 when cached) and
    null_scans (surrogates scanned here).
    Raises ValueError for a window_range outside the symbol's windows.
    """
    name, _ = resolve_backend(backend or params.backend)
    high, low, close = _bars(series)
    n = high.shape[0]
    nwin = int(window_starts(n, params).shape[0])
    w0, w1 = (0, nwin) if window_range is None else (int(window_range[0]), int(window_range[1]))
    if not (0 <= w0 <= w1 <= nwin):
        raise ValueError(f"{series.symbol}: window_range ({w0}, {w1}) outside the symbol's {nwin} windows")
    scale = symbol_scale(close, params)
    windows, pat, piv, top_q, best_q = _scan_bars(high, low, close, params, name, w0, w1, info, scale)
    if params.null_samples > 0:
        null, secs = _null.CACHE.get(
            _null_key(series.symbol, high, low, close, params, name),
            lambda: _null_sample(series.symbol, high, low, close, params, name),
        )
        pat["p_value"] = _null.p_values(
            _null.statistic(params.null_statistic, pat["score"], pat["efficiency"]), null
        )
        windows["best_p_value"] = _null.p_values(best_q, null)
        if info is not None:
            info["null_s"] = info.get("null_s", 0.0) + secs
            info["null_scans"] = info.get("null_scans", 0) + (params.null_samples if secs else 0)
    patterns = sort_patterns(pat) if pat["score"].shape[0] else pat
    return SymbolScan(
        symbol=series.symbol,
        n_bars=n,
        n_windows=nwin,
        backend=name,
        windows=windows,
        patterns=patterns,
        pivots={"t": piv.t, "kind": piv.kind, "price": piv.price, "known": piv.known, "scale": scale},
    )


def _null_key(symbol, high, low, close, params, name):
    h = hashlib.sha256()
    for a in (high, low, close):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return (symbol, h.hexdigest(), params, name)


def _null_sample(symbol, high, low, close, params, name) -> np.ndarray:
    """Sorted null values: per window of each surrogate, its largest statistic (-inf: none)."""
    nwin = int(window_starts(high.shape[0], params).shape[0])
    vals = []
    for h, lo, c in _null.surrogates(
        symbol, high, low, close, params.null_samples, params.null_block_bars, params.null_seed
    ):
        if high is low:  # close-only series stay close-only
            h = lo = c
        _, _, _, top_q, _ = _scan_bars(h, lo, c, params, name, 0, nwin, None)
        vals.append(top_q)
    return np.sort(np.concatenate(vals)) if vals else np.empty(0)


def _scan_bars(high, low, close, params, name, w0, w1, info, scale="auto"):
    """The scan of windows w0..w1-1 of one bar series: (windows table, unsorted patterns table,
    pivots, per window the largest null statistic among its top-k (-inf: none), per window the
    statistic of its best pattern (NaN: none)). scale: the series' symbol_scale ("auto": computed)."""
    n = high.shape[0]
    t0 = time.perf_counter()
    gs = window_starts(n, params)
    if isinstance(scale, str):
        scale = symbol_scale(close, params)
    piv = symbol_pivots(high, low, close, params, name, scale)
    ws = gs[w0:w1]
    wb = params.window_bars
    if params.skip_flat_windows:
        vol, rng, npv = _win.prefilter_stats(close, high, low, piv.t, piv.known, ws, wb)
        k = 1.0 if scale is None else scale[ws + wb - 1]  # the scale known at each window's close
        flat = _win.flat_reasons(
            vol, rng, npv, params.flat_min_volatility * k, params.flat_min_range * k, params.flat_min_pivots
        )
    else:
        flat = np.zeros(w1 - w0, dtype=np.int8)
    skip = flat != 0
    kw = params.kernel_args()
    kw["swing"] = symbol_swings(high, low, piv, name)
    t1 = time.perf_counter()
    if name == "numpy":
        stats, trunc, top, cand = _ref.scan_windows(
            high, low, piv.t, piv.kind, piv.price, piv.known, gs, wb, w0, w1, skip, **kw
        )
        if info is not None:
            info.update(direct_windows=int((~skip).sum()), direct_visited=int(stats[:, _ref.VISITED].sum()))
    else:
        seg_hi, seg_lo = _pv.segment_extremes(high, low, piv.t)
        if name == "numba":
            from ...kernels import numba_scan as mod

            extra = {}
        else:
            from ...kernels import xp_scan as mod

            extra = dict(xp=array_module(name), batch=params.gpu_batch_size)
        stats, trunc, top, cand = mod.scan_windows(
            piv.t,
            piv.kind,
            piv.price,
            piv.known,
            seg_hi,
            seg_lo,
            gs,
            wb,
            params.step,
            w0,
            w1,
            skip,
            **kw,
            **extra,
            info=info,
        )
    windows = {
        "window": np.arange(w0, w1, dtype=np.int64),
        "start_bar": ws.astype(np.int64),
        "end_bar": (ws + wb).astype(np.int64),
        "skipped_flat": np.asarray(skip, dtype=bool),
        "flat_reason": flat.astype(np.int8),
        "truncated": np.asarray(trunc, dtype=bool),
    }
    for k, s in enumerate(_ref.STATS):
        windows[s] = stats[:, k].astype(np.int64)
    windows["kept"] = (top >= 0).sum(axis=1).astype(np.int64)
    t2 = time.perf_counter()
    pat, best_s, top_q, best_q = _patterns(top, cand, windows, piv, params, name, close)
    if info is not None:
        for k, v in (("t_prepare", t1 - t0), ("t_search", t2 - t1), ("t_patterns", time.perf_counter() - t2)):
            info[k] = info.get(k, 0.0) + v
    windows["best_score"] = best_s
    windows["best_p_value"] = np.full(w1 - w0, np.nan)
    windows = {f: windows[f].astype(dt) for f, dt in WINDOW_FIELDS}
    return windows, pat, piv, top_q, best_q


def _terms(name, p6, t6, params) -> np.ndarray:
    """(N, 9) score terms (TERMS order) of the final patterns, with the backend's own scorer."""
    tol, w = params.fib_tolerance, params.weights
    if name == "numpy":
        r = _score.score_rows(p6, t6, tol, *w)
        return np.stack([r[k] for k in _score.TERMS], axis=1)
    if name == "numba":
        from ...kernels import numba_scan

        return numba_scan.score_final(p6, t6, tol, w)
    from ...kernels.xp_scan import XPScorer

    # the rows' own prices and bars, flattened, indexed by 0..6N-1
    sc = XPScorer(array_module(name), t6.reshape(-1), p6.reshape(-1), params.gpu_batch_size, tol, w)
    rows = np.arange(p6.shape[0] * 6, dtype=np.int64).reshape(-1, 6)
    return sc.terms(rows)


def _distinct_tuples(cand, rows):
    """(the distinct pivot tuples among cand[rows], lexicographic (u, 6); for each of rows, the
    index of its tuple) - np.unique(cand[rows], axis=0, return_inverse=True), computed on one
    int64 key per tuple when the six pivot indices fit in 63 bits (sorting records is slow)."""
    bits = int(cand.max()).bit_length() if cand.size else 1
    if 6 * bits > 63:
        urow, inv1 = np.unique(rows, return_inverse=True)
        uniq, inv2 = np.unique(cand[urow], axis=0, return_inverse=True)
        return uniq, inv2.reshape(-1)[inv1.reshape(-1)]
    sel = cand[rows]
    key = sel[:, 0].copy()
    for k in range(1, 6):
        key <<= bits
        key |= sel[:, k]
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return sel[first], inv.reshape(-1)


def _patterns(top, cand, windows, piv, params, name, close):
    """(unsorted patterns table, per window: S of its best pattern (NaN: none), the largest null
    statistic among its top-k (-inf: none), the statistic of its best pattern (NaN: none))."""
    nW = top.shape[0]
    best_s = np.full(nW, np.nan)
    top_q = np.full(nW, -np.inf)
    best_q = np.full(nW, np.nan)
    wi, rank = np.nonzero(top >= 0)
    if wi.size == 0:
        return empty_table(PATTERN_FIELDS), best_s, top_q, best_q
    # distinct pivot tuples of the kept rows (rows re-found by the per-window search can repeat
    # a tuple), in lexicographic order
    uniq, inv = _distinct_tuples(cand, top[wi, rank])
    wglob = windows["window"][wi]
    first = np.full(uniq.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inv, wglob)
    count = np.bincount(inv, minlength=uniq.shape[0]).astype(np.int64)
    t6 = piv.t[uniq]
    p6 = piv.price[uniq]
    terms = _terms(name, p6, t6, params)
    w0 = int(windows["window"][0])
    pat = {"direction": (-piv.kind[uniq[:, 0]]).astype(np.int8)}
    for k in range(6):
        pat[f"t{k}"] = t6[:, k].astype(np.int64)
    for k in range(6):
        pat[f"p{k}"] = p6[:, k].astype(np.float64)
    for k, nm in enumerate(_score.TERMS):
        pat["score" if nm == "S" else nm] = terms[:, k]
    pat["window"] = first
    pat["n_windows"] = count
    r0 = rank == 0
    pat["n_best"] = np.bincount(inv[r0], minlength=uniq.shape[0]).astype(np.int64)
    pat["truncated"] = windows["truncated"][first - w0]
    # known from the close of the first window that kept it (its last bar), which is never before
    # the bar confirming p5: a window only ranks candidates whose p5 its bars confirm
    pat["known_bar"] = np.maximum(piv.known[uniq[:, 5]], windows["end_bar"][first - w0] - 1).astype(np.int64)
    pat["efficiency"] = _strength.wave_efficiency(close, t6)
    pat["p_value"] = np.full(uniq.shape[0], np.nan)
    q = _null.statistic(params.null_statistic, pat["score"], pat["efficiency"])
    np.maximum.at(top_q, wi, q[inv])
    best_s[wi[r0]] = pat["score"][inv[r0]]
    best_q[wi[r0]] = q[inv[r0]]
    pat = {f: pat[f].astype(dt) for f, dt in PATTERN_FIELDS}
    return pat, best_s, top_q, best_q
