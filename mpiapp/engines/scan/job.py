"""The scan as a job on the work layer: units are (symbol, window range); the rest is the layer's.

What is scan-specific here, and only this: planning units from the symbol index (costed by windows x
bars), loading symbols through the symbol store, `scan_symbol` on a unit's window range, the raw
`patterns`/`windows` rows it gives, and finalize — the merge of patterns chosen by windows of several
units (one row per pattern, the scan's order), the `symbols` table and the end-of-run summary.
"""

from __future__ import annotations

import numpy as np

from ...io import text
from ...io.symbols import symbol_list, symbols_table
from ...runtime import errors, sync
from ...work import JobSpec, Plan, Unit
from . import live as _live
from .engine import scan_symbol
from .result import PATTERN_FIELDS, WINDOW_FIELDS, dedup_patterns, group_alternatives

PIVOTS = range(6)
#: the arrays of a symbol the scan reads (open and volume are dropped once read and hashed)
SCAN_FIELDS = ("time", "high", "low", "close")


def _disk(dt) -> str:
    dt = np.dtype(dt)
    return "i1" if dt == np.bool_ else dt.str


PATTERN_COLUMNS = (
    [("symbol", "i4")]
    + [(c, _disk(dt)) for c, dt in PATTERN_FIELDS]
    + [
        (f"d{i}", "i8")
        for i in PIVOTS  # pivot timestamps, ns since the epoch
    ]
)
#: the final patterns table adds each row's group (the row of its group's primary) and, on a primary,
#: its number of alternatives (result.group_alternatives): decided once every pattern is known
FINAL_PATTERN_COLUMNS = PATTERN_COLUMNS + [("group", "i8"), ("n_alternatives", "i4"), ("q_value", "f8")]
WINDOW_COLUMNS = [("symbol", "i4")] + [(c, _disk(dt)) for c, dt in WINDOW_FIELDS]
#: the final windows table adds the q-value of each scanned window's test (engines/scan/fdr.py)
FINAL_WINDOW_COLUMNS = WINDOW_COLUMNS + [("best_q_value", "f8")]
KEY_COLUMNS = [("symbol", "i4"), ("w0", "i4"), ("w1", "i4")]
#: the live counts at the last bar (engines/scan/live.py), with the timestamps of their bars;
#: parent and group are row numbers among the symbol's own rows until finalize makes them global
LIVE_COLUMNS = (
    [("symbol", "i4")]
    + [(c, _disk(dt)) for c, dt in _live.LIVE_FIELDS]
    + [(f"d{i}", "i8") for i in range(5)]
    + [("d_ext", "i8"), ("d_known", "i8")]
)
#: the outcome study: one row per count that was ever live, at its known_bar
OUTCOME_COLUMNS = (
    [("symbol", "i4")] + [(c, _disk(dt)) for c, dt in _live.OUTCOME_FIELDS] + [("d_known", "i8")]
)
#: the outcome study on the symbol's surrogates: outcomes counted per level and wave
NULL_TALLY_COLUMNS = [("symbol", "i4")] + [(c, _disk(dt)) for c, dt in _live.TALLY_FIELDS]
NAT = np.iinfo(np.int64).min  # the timestamp of a pivot not yet made


def make_units(index, params, unit_windows: int) -> list[Unit]:
    """Cut every symbol into window ranges of at most `unit_windows` windows (deterministic).

    index: [(name, bars)]; a unit's key is (symbol id, first window, end window) and its cost the
    windows x bars it scans (pivot counts are unknown before the data is read). With the null on
    (scan.null_samples > 0) or the outcome study (scan.outcomes) a symbol is one unit costing
    (1 + surrogates) scans: its surrogates are drawn and scanned once, by the rank that scans the
    symbol (split into time ranges, every unit would draw and walk them again: measured 1.5x the
    null's cost at S&P-500 scale with units of work.unit_size windows).
    """
    from . import window_starts

    units = []
    for s, (_, n_bars) in enumerate(index):
        n_win = len(window_starts(n_bars, params))
        whole = params.null_samples > 0 or params.outcomes
        step = max(n_win, 1) if whole else unit_windows
        for w0 in range(0, n_win, step):
            w1 = min(w0 + step, n_win)
            cost = float((w1 - w0) * params.window_bars)
            if whole:
                cost = float(n_bars) * (
                    1 + params.null_samples + (params.outcome_surrogates if params.outcomes else 0)
                )
            units.append(Unit(len(units), cost, (s, w0, w1)))
    return units


def build(ctx) -> JobSpec:
    """Collective: the score job's spec. Resolves the backend and opens the data source on every rank.

    Raises errors.JobError (every rank) for an unusable backend (scan.backend=cupy without a GPU) or a
    bad data source spec.
    """
    from . import ScanParams, resolve_backend

    cfg = ctx.cfg
    params = ScanParams.from_config(cfg.scan)
    backend = None
    with errors.agreement(ctx.comm):
        try:
            backend, _ = resolve_backend(cfg.scan.backend)
        except RuntimeError as exc:  # scan.backend=cupy without a usable GPU
            raise errors.JobError(str(exc)) from None
    if backend == "numba":  # after the thread plan set NUMBA_NUM_THREADS; without its scipy BLAS probe
        from ...runtime.lean import import_numba_kernels

        import_numba_kernels()
    ctx.rt.enforce()
    ctx.backend = backend
    from ...io import sources

    src = None
    with errors.agreement(ctx.comm):
        src = sources.open_from_config(
            cfg, min_bars=cfg.scan.window_bars
        )  # a bad spec, a missing folder: every rank sees the same
    job = _ScanJob(params, backend, src)
    return JobSpec(
        name="score",
        key_columns=KEY_COLUMNS,
        tables={
            "patterns": PATTERN_COLUMNS,
            "windows": WINDOW_COLUMNS,
            "live": LIVE_COLUMNS,
            "outcomes": OUTCOME_COLUMNS,
            "outcome_null": NULL_TALLY_COLUMNS,
        },
        plan=job.plan,
        prepare=job.prepare,
        run_unit=job.run_unit,
        finalize=job.finalize,
        release=job.release,
        resume_sections=("data", "scan"),
        counters=("candidates", "null_scans", "live_counts", "outcome_counts"),
        units_at_once=job.units_at_once,
    )


class _ScanJob:
    def __init__(self, params, backend, src):
        self.params, self.backend, self.src = params, backend, src
        self.store = None
        self.kernel_threads = 0  # > 0: units run in worker threads, kernels at this many threads

    def units_at_once(self, ctx, per_rank: int) -> int:
        """work.units_at_once, resolved: units in worker threads only on the numba backend (its
        kernels release the GIL) with a thread-safe Numba threading layer (omp, tbb), and by
        default only with at least 2 units per thread (else one unit at a time, threads in the
        kernels). Each worker's kernels run at threads // units threads."""
        threads = ctx.rt.thread_plan.threads
        n = ctx.cfg.work.units_at_once
        if self.backend != "numba" or ctx.cfg.runtime.numba_threading_layer not in ("omp", "tbb"):
            n = 1
        elif n == 0:
            n = threads if threads > 1 and per_rank >= 2 * threads else 1
        self.kernel_threads = max(1, threads // n) if n > 1 else 0
        return n

    # rank 0 only
    def plan(self, ctx) -> Plan:
        with ctx.timers.phase("read"):
            index = self.src.index()
        if not index:
            raise errors.JobError(f"{ctx.cfg.data.source}: no symbols to scan")
        units = make_units(index, self.params, ctx.cfg.work.unit_size)
        if not units:
            raise errors.JobError(
                f"{ctx.cfg.data.source}: no symbol has {self.params.window_bars} bars for one window"
            )
        # symbols the index already rejected (skip mode: empty file, missing columns, too short)
        return Plan(units, info=(index, list(self.src.skipped)), inputs=self.src.input_paths())

    def prepare(self, ctx, mine) -> None:
        from ...io.store import open_for_job

        self.store = open_for_job(
            ctx, self.src, ctx.info[0], None if mine is None else {u.key[0] for u in mine}, fields=SCAN_FIELDS
        )

    def run_unit(self, unit, ctx) -> dict:
        s, w0, w1 = unit.key
        if self.kernel_threads:  # a worker thread (work.loop): Numba's thread count is per thread
            import numba

            numba.set_num_threads(self.kernel_threads)
        series = self.store.get(
            s, record=ctx.record_input
        )  # read here (perhaps just now, on claim): recorded
        if series is None:  # skipped symbol: the unit is done with nothing in it
            return {}
        info = {}
        res = scan_symbol(series, self.params, backend=self.backend, window_range=(w0, w1), info=info)
        p, w = _rows(res, s, series)
        ctx.timers.count("candidates", int(np.sum(w["visited"])))
        if self.params.null_samples > 0:  # the significance's own cost, apart in the profile
            ctx.timers.add("null", float(info.get("null_s", 0.0)))
            ctx.timers.count("null_scans", int(info.get("null_scans", 0)))
        out = {"patterns": p, "windows": w}
        out.update(_live_rows(series, s, w0, w1, res, self.params, self.backend, ctx))
        return out

    def release(self, ctx) -> None:
        self.store.release()

    def finalize(self, fin) -> dict:
        return finalize(fin, self.store.skipped_all(), self.store.dropped_all())


def _rows(res, symbol: int, series) -> tuple[dict, dict]:
    """Engine output -> raw table rows (adds the symbol index and the pivots' timestamps)."""
    pat = res.patterns
    n = len(pat["score"])
    p = {c: np.asarray(pat[c]) for c, _ in PATTERN_COLUMNS if c in pat}
    p["symbol"] = np.full(n, symbol, dtype=np.int32)
    for i in PIVOTS:
        p[f"d{i}"] = series.time[np.asarray(pat[f"t{i}"], dtype=np.int64)] if n else np.empty(0, np.int64)
    win = res.windows
    w = {c: np.asarray(win[c]) for c, _ in WINDOW_COLUMNS if c in win}
    w["symbol"] = np.full(len(win["window"]), symbol, dtype=np.int32)
    missing = [c for c, _ in PATTERN_COLUMNS if c not in p] + [c for c, _ in WINDOW_COLUMNS if c not in w]
    if missing:
        raise KeyError(f"scan engine output lacks columns {missing}")
    return p, w


def _live_rows(series, s, w0, w1, res, params, backend, ctx) -> dict:
    """The unit's live-count rows (its symbol's last unit: the live table at the last bar) and
    outcome-study rows (the counts first live at a bar this unit owns: after the previous unit's
    last window end, up to its own, the last unit up to the series end - with the study on a unit
    is a whole symbol, make_units), with their surrogates' tallies. Timed apart in the profile
    (live_s, outcomes_s)."""
    import time

    from .engine import _bars, window_starts

    from ...kernels.pivots import Pivots

    out = {}
    high, low, close = _bars(series)
    n = high.shape[0]
    n_windows = res.n_windows
    scale = res.pivots["scale"]
    if params.live_top > 0 and w1 == n_windows:
        t0 = time.perf_counter()
        piv = Pivots(*(res.pivots[k] for k in ("t", "kind", "price", "known")))
        rows = _live.live_table(high, low, close, params, backend, scale=scale, pivots=piv)
        m = rows["rank"].shape[0]
        rows["symbol"] = np.full(m, s, dtype=np.int32)
        for i in range(5):
            ti = rows[f"t{i}"]
            rows[f"d{i}"] = np.where(ti >= 0, series.time[np.maximum(ti, 0)], NAT)
        rows["d_ext"] = series.time[rows["t_ext"]] if m else np.empty(0, np.int64)
        rows["d_known"] = series.time[rows["known_bar"]] if m else np.empty(0, np.int64)
        out["live"] = rows
        ctx.timers.add("live", time.perf_counter() - t0)
        ctx.timers.count("live_counts", m)
    if params.outcomes:
        t0 = time.perf_counter()
        ends = window_starts(n, params) + params.window_bars - 1
        lo = 0 if w0 == 0 else int(ends[w0 - 1]) + 1
        hi = n - 1 if w1 == n_windows else int(ends[w1 - 1])
        rows = _live.outcome_rows(high, low, close, params, backend, lo, hi, scale=scale)
        m = rows["known_bar"].shape[0]
        rows["symbol"] = np.full(m, s, dtype=np.int32)
        rows["d_known"] = series.time[rows["known_bar"]] if m else np.empty(0, np.int64)
        out["outcomes"] = rows
        ctx.timers.count("outcome_counts", m)
        if params.outcome_surrogates > 0:
            from . import null as _null

            tallies = []
            for h, lw, c in _null.surrogates(
                series.symbol,
                high,
                low,
                close,
                params.outcome_surrogates,
                params.null_block_bars,
                params.null_seed,
            ):
                if high is low:  # close-only series stay close-only
                    h = lw = c
                tallies.append(
                    _live.tally(
                        _live.outcome_rows(h, lw, c, params, backend, lo, hi), len(params.live_degrees)
                    )
                )
            tot = {f: tallies[0][f].copy() for f, _ in _live.TALLY_FIELDS}
            for t in tallies[1:]:
                for f in ("n", "target", "invalidation", "cap", "none"):
                    tot[f] += t[f]
            tot["symbol"] = np.full(tot["n"].shape[0], s, dtype=np.int32)
            out["outcome_null"] = tot
        ctx.timers.add("outcomes", time.perf_counter() - t0)
    return out


# --- finalize -----------------------------------------------------------------------------------------
def merge_patterns(rows: dict) -> dict:
    """Raw rows of several units -> one row per (symbol, pattern), in symbol then the scan's order."""
    if len(rows["symbol"]) == 0:
        return rows
    return sort_by_symbol(dedup_patterns(rows, extra_keys=("symbol",)))


def sort_by_symbol(rows: dict) -> dict:
    """Symbol, then the scan's order (docs/scan.md): score descending, t0 ascending, pivot indices lexicographically."""
    if len(rows["symbol"]) == 0:
        return rows
    o = np.lexsort([rows[f"t{i}"] for i in reversed(PIVOTS)] + [-rows["score"], rows["symbol"]])
    return {c: v[o] for c, v in rows.items()}


def _cat(pieces, columns) -> dict:
    pieces = [p for p in pieces if p and len(p[columns[0][0]])]
    if not pieces:
        return {c: np.empty(0, dtype=dt) for c, dt in columns}
    return {c: np.concatenate([p[c] for p in pieces]).astype(dt, copy=False) for c, dt in columns}


def finalize(fin, skipped: dict, dropped: dict) -> dict:
    """Collective: the final patterns, windows and symbols tables, and the summary (rank 0).

    skipped: {symbol id: reason}; dropped: {symbol id: input rows dropped for having no price}.

    Each rank takes a contiguous block of symbols (balanced by rows), so rank order is symbol order in
    the final tables; in gather mode rank 0 takes them all.
    """
    ctx = fin.ctx
    cfg = ctx.cfg
    rank = ctx.rank
    index, index_skips = ctx.info
    # index-time skips get rows after the indexed symbols (their ids are not used by any unit)
    listed = symbol_list(index, index_skips)
    skipped = dict(skipped)
    skipped.update({len(index) + i: reason for i, (_, reason) in enumerate(index_skips)})
    u = fin.units
    n_sym = len(listed)
    rows_per_sym = np.bincount(u["symbol"], weights=u["patterns_count"] + u["windows_count"], minlength=n_sym)
    lo, hi = fin.block(rows_per_sym)
    mine = np.flatnonzero((u["symbol"] >= lo) & (u["symbol"] < hi))
    pats, wins, lives, outs, nulls = [], [], [], [], []
    if fin.can_read and (fin.parallel or rank == 0):
        pats = [fin.read("patterns", mine)]
        wins = [fin.read("windows", mine)]
        lives = [fin.read("live", mine)]
        outs = [fin.read("outcomes", mine)]
        nulls = [fin.read("outcome_null", mine)]
    p = merge_patterns(_cat(pats, PATTERN_COLUMNS))
    first_row = fin.offset(len(p["symbol"]))  # this rank's rows follow the ranks' before it
    group, n_alt = group_alternatives(
        p["symbol"], p["direction"], np.stack([p[f"t{i}"] for i in PIVOTS], axis=1)
    )
    p["group"] = (group + first_row).astype(np.int64)
    p["n_alternatives"] = n_alt.astype(np.int32)
    w = _cat(wins, WINDOW_COLUMNS)
    if len(w["symbol"]):
        o = np.lexsort((w["window"], w["symbol"]))
        w = {c: v[o] for c, v in w.items()}
    fdr = _false_discoveries(p, w, cfg.scan, ctx, u)

    sym_hi = n_sym if rank == 0 else 0  # rank 0 writes the whole symbols table
    n_win = np.zeros(0, np.int32)
    if rank == 0:
        n_win = np.bincount(u["symbol"], weights=u["w1"] - u["w0"], minlength=n_sym).astype(np.int32)
        for s in skipped:
            n_win[s] = 0
    sym_cols, sym = symbols_table(
        listed,
        skipped,
        0,
        sym_hi,
        reason_bytes=text.width(skipped.values(), most=1024),
        extra=[("dropped_rows", "i8", [dropped.get(s, 0) for s in range(sym_hi)]), ("windows", "i4", n_win)],
    )
    fin.write("patterns", FINAL_PATTERN_COLUMNS, p if len(p["symbol"]) else {})
    fin.write("windows", FINAL_WINDOW_COLUMNS, w if len(w["symbol"]) else {})
    fin.write("symbols", sym_cols, sym if rank == 0 else {})
    live = _final_live(_cat(lives, LIVE_COLUMNS), fin)
    fin.write("live", LIVE_COLUMNS, live if len(live["symbol"]) else {})
    rates = None
    if cfg.scan.outcomes:
        o = _cat(outs, OUTCOME_COLUMNS)
        if len(o["symbol"]):
            order = np.lexsort((o["t0"], o["direction"], o["known_bar"], o["level"], o["symbol"]))
            o = {c: v[order] for c, v in o.items()}
        fin.write("outcomes", OUTCOME_COLUMNS, o if len(o["symbol"]) else {})
        rates = _outcome_rates(o, _cat(nulls, NULL_TALLY_COLUMNS), cfg.scan, ctx)
        fin.write("outcome_rates", RATE_COLUMNS, rates if rank == 0 else {})
    fin.attrs(data_source=cfg.data.source)

    tot = {
        k: sync.allreduce_sum(int(v), comm=ctx.comm)
        for k, v in (
            ("windows", len(w["symbol"])),
            ("skipped_flat", int(np.sum(w["skipped_flat"]))),
            ("truncated", int(np.sum(w["truncated"]))),
            ("patterns", len(p["symbol"])),
            ("visited", int(np.sum(w["visited"]))),
            ("groups", int(np.sum(p["group"] == first_row + np.arange(len(p["symbol"]))))),
        )
    }
    top = _global_top(p, first_row, cfg.output.summary_top, ctx, listed)
    warnings = sum(sync.allgather(_flat_warnings(w, listed, cfg.scan), comm=ctx.comm), [])
    lives_top = _live_top(live, cfg.output.summary_top, ctx, listed)
    return {
        **tot,
        "symbols": n_sym,
        "skipped_symbols": len(skipped),
        "top": top,
        "fdr": fdr,
        "warnings": warnings,
        "live": lives_top,
        "outcome_rates": rates,
    }


#: outcome_rates: per degree level and wave in progress, the outcome study against its null
RATE_COLUMNS = [
    ("level", "i1"),
    ("degree", "f8"),
    ("wave", "i1"),
    ("n", "i8"),
    ("target", "i8"),
    ("invalidation", "i8"),
    ("cap", "i8"),
    ("none", "i8"),
    ("rate", "f8"),
    ("null_n", "i8"),
    ("null_target", "i8"),
    ("null_invalidation", "i8"),
    ("null_cap", "i8"),
    ("null_none", "i8"),
    ("null_rate", "f8"),
    ("p_value", "f8"),
]


def _final_live(rows: dict, fin) -> dict:
    """Collective: this rank's live rows in symbol, level, rank order, with parent and group as rows
    of the file's live table (the symbol's rows follow one another)."""
    n = len(rows["symbol"])
    if n:
        order = np.lexsort((rows["rank"], rows["level"], rows["symbol"]))
        rows = {c: v[order] for c, v in rows.items()}
    first = fin.offset(n)
    if n:
        starts = np.r_[0, np.flatnonzero(np.diff(rows["symbol"])) + 1]
        base = np.repeat(starts, np.diff(np.r_[starts, n]))  # each row's symbol's first row
        for c in ("parent", "group"):
            rows[c] = np.where(rows[c] >= 0, rows[c] + base + first, -1).astype(np.int64)
    return rows


def _outcome_rates(o: dict, nulls: dict, scan, ctx) -> dict:
    """Collective: RATE_COLUMNS rows (every rank gets them): per level and wave, the counts' outcomes
    against their surrogates'; p_value: Fisher's exact test (two-sided) of target-first against
    not, the counts of the series against those of its surrogates (scipy.stats.fisher_exact)."""
    n_levels = len(scan.live_degrees)
    mine = _live.tally({k: o[k] for k in ("level", "wave", "outcome")}, n_levels)
    keys = ("n", "target", "invalidation", "cap", "none")
    real = {k: sync.allreduce_sum(mine[k], comm=ctx.comm) for k in keys}
    null = {k: np.zeros(n_levels * 4, dtype=np.int64) for k in keys}
    if len(nulls["symbol"]):
        for k in keys:
            np.add.at(
                null[k], nulls["level"].astype(np.int64) * 4 + nulls["wave"].astype(np.int64) - 2, nulls[k]
            )
    null = {k: sync.allreduce_sum(null[k], comm=ctx.comm) for k in keys}
    from scipy.stats import fisher_exact

    rows = {c: [] for c, _ in RATE_COLUMNS}
    for i in range(n_levels * 4):
        lv, wave = i // 4, 2 + i % 4
        n, hit, nn, nhit = (
            int(real["n"][i]),
            int(real["target"][i]),
            int(null["n"][i]),
            int(null["target"][i]),
        )
        rows["level"].append(lv)
        rows["degree"].append(float(scan.live_degrees[lv]))
        rows["wave"].append(wave)
        for k in keys:
            rows[k].append(int(real[k][i]))
            rows["null_" + k].append(int(null[k][i]))
        rows["rate"].append(hit / n if n else np.nan)
        rows["null_rate"].append(nhit / nn if nn else np.nan)
        p = fisher_exact([[hit, n - hit], [nhit, nn - nhit]])[1] if n and nn else np.nan
        rows["p_value"].append(float(p))
    return {c: np.asarray(rows[c], dtype=dt) for c, dt in RATE_COLUMNS}


def _live_top(live: dict, k: int, ctx, index) -> list[dict]:
    """Collective: the best live count (rank 1, lowest degree) of up to k symbols, by live score."""
    if k == 0:
        return []
    n = len(live["symbol"])
    sel = np.flatnonzero((live["rank"] == 1) & (live["level"] == 0)) if n else np.empty(0, np.int64)
    mine = [{c: live[c][i].item() for c in live} for i in sel]
    rows = sum(sync.allgather(mine, comm=ctx.comm), [])
    rows.sort(key=lambda r: (-r["score"], r["symbol"]))
    for r in rows:
        r["name"] = index[r["symbol"]][0]
    return rows[:k]


def _false_discoveries(p, w, scan, ctx, units) -> dict | None:
    """Collective: q-values over the run's family of window tests (engines/scan/fdr.py), set as
    w["best_q_value"] and p["q_value"] (NaN without the null); the summary's figures, or None."""
    from . import fdr

    w["best_q_value"] = np.full(len(w["symbol"]), np.nan)
    p["q_value"] = np.full(len(p["symbol"]), np.nan)
    if scan.null_samples == 0:
        return None
    mine = fdr.family_p(w["best_p_value"], w["skipped_flat"])
    fam = np.sort(np.concatenate(sync.allgather(mine, comm=ctx.comm)))
    q_sorted = fdr.q_of_sorted(fam, scan.fdr_method)
    tested = ~w["skipped_flat"].astype(bool)
    w["best_q_value"][tested] = fdr.q_at(
        np.where(np.isnan(w["best_p_value"][tested]), 1.0, w["best_p_value"][tested]), fam, q_sorted
    )
    best = p["n_best"] > 0
    p["q_value"][best] = fdr.q_at(p["p_value"][best], fam, q_sorted)
    m = fam.shape[0]
    win_per_symbol = np.bincount(units["symbol"], weights=units["w1"] - units["w0"])
    p_min = fdr.smallest_attainable(scan.null_samples, win_per_symbol)
    return {
        "tests": m,
        "method": scan.fdr_method,
        "alpha": scan.fdr_alpha,
        "p_min": p_min,
        "discoveries": int(np.sum(q_sorted <= scan.fdr_alpha)),
        "unreachable": fdr.unreachable(p_min, m, scan.fdr_method, scan.fdr_alpha),
    }


def _flat_warnings(w, listed, scan) -> list[str]:
    """One line per symbol of this rank that has windows but none scanned: its name, why its
    windows were skipped, and the key that would change it."""
    from ...kernels.windows import FLAT_PIVOTS, FLAT_RANGE, FLAT_VOLATILITY

    out = []
    if not len(w["symbol"]):
        return out
    for s in np.unique(w["symbol"]):
        rows = w["symbol"] == s
        if not np.all(w["skipped_flat"][rows]):
            continue
        bits = 0
        for v in np.unique(w["flat_reason"][rows]):  # every reason any of its windows had
            bits |= int(v)
        why, keys = [], []
        if bits & FLAT_PIVOTS:
            why.append(f"fewer than {scan.flat_min_pivots} confirmed pivots")
            keys.append("scan.flat_min_pivots" + ("" if scan.scale == "volatility" else " or scan.pivot_pct"))
        if bits & FLAT_RANGE:
            why.append("a range below scan.flat_min_range")
            keys.append("scan.flat_min_range")
        if bits & FLAT_VOLATILITY:
            why.append("a volatility below scan.flat_min_volatility")
            keys.append("scan.flat_min_volatility")
        hint = (
            ""
            if scan.scale == "volatility" or bits == FLAT_PIVOTS
            else " (scan.scale=fixed: daily-bar numbers; scan.scale=volatility follows the series' own scale)"
        )
        out.append(
            f"{listed[int(s)][0]}: no window scanned: all {int(rows.sum())} skipped as flat "
            f"({', '.join(why)}){hint}; to change it: {', '.join(keys)}, or "
            "scan.skip_flat_windows=false"
        )
    return out


def _global_top(p, first_row, k, ctx, index) -> list[dict]:
    """Collective: the k best group primaries of all ranks (one line per structure), the scan's order."""
    if k == 0:
        return []
    n = len(p["score"])
    primary = np.flatnonzero(p["group"] == first_row + np.arange(n)) if n else np.empty(0, np.int64)
    order = primary[np.lexsort((p["t0"][primary], -p["score"][primary]))][:k] if n else []
    mine = [{c: p[c][i].item() for c in p} for i in order]
    allrows = sum(sync.allgather(mine, comm=ctx.comm), [])
    allrows.sort(key=lambda r: (-r["score"], r["t0"], [r[f"t{i}"] for i in PIVOTS], r["symbol"]))
    for r in allrows:
        r["name"] = index[r["symbol"]][0]
    return allrows[:k]
