"""The distributed scan: plan on rank 0, scan units on every rank, commit to one HDF5 file.

Flow (every rank runs it; `run(cfg, ...)` is collective):
  1. agree on the output (refuse to overwrite, or resume a .partial file with the same config);
  2. rank 0 indexes the symbols (names, bar counts — not the data), cuts them into work units
     (symbol x window range, `score.unit_windows` windows each) and estimates their costs;
  3. units are handed out: a static cost-balanced plan (scattered by rank 0) or the dynamic RMA
     counter; each rank loads only the symbols of its units (or maps them from the node's
     shared-memory copy) and validates them before computing anything;
  4. finished units are committed collectively every `score.commit_interval_s` seconds to
     PATH.partial (raw rows + the unit's done flag and row ranges), so a stop loses at most one
     interval of work; SIGTERM/SIGUSR1 end the job at the next commit with EXIT_RESUMABLE;
  5. when every unit is done, ranks merge the raw rows symbol by symbol (a pattern chosen by windows
     of two units appears once), write the final tables in symbol order to PATH.tmp, which rank 0
     renames to PATH; the .partial file is then removed.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import __version__, config
from ...io import results as rio
from ...runtime import comm as comm_mod
from ...runtime import errors, partition, profile, signals
from ...runtime.dynamic import SharedCounter
from .result import PATTERN_FIELDS, WINDOW_FIELDS, dedup_patterns

# --- table schemas: the engine's columns plus the symbol id (and the pivots' timestamps) -------------
PIVOTS = range(6)


def _disk(dt) -> str:
    dt = np.dtype(dt)
    return "i1" if dt == np.bool_ else dt.str


PATTERN_COLUMNS = [("symbol", "i4")] + [(c, _disk(dt)) for c, dt in PATTERN_FIELDS] + [
    (f"d{i}", "i8") for i in PIVOTS  # pivot timestamps, ns since the epoch
]
WINDOW_COLUMNS = [("symbol", "i4")] + [(c, _disk(dt)) for c, dt in WINDOW_FIELDS]
UNIT_COLUMNS = [("symbol", "i4"), ("w0", "i4"), ("w1", "i4"), ("cost", "f8")]
#: per unit commit record, one row of the int64 array `_state`; `done` is set together with the row
#: ranges, in one row write, after the rows themselves were flushed (see _commit)
STATE_COLUMNS = ("done", "pat_start", "pat_count", "win_start", "win_count", "rank")
RESUME_SECTIONS = ("data", "scan")  # a .partial file resumes only under the same data and scan keys


@dataclass
class Unit:
    uid: int
    symbol: int
    w0: int
    w1: int
    cost: float


@dataclass
class Outcome:
    status: str  # complete | interrupted
    path: str
    exit_code: int
    summary: dict = field(default_factory=dict)


# --- planning -----------------------------------------------------------------------------------
def make_units(index, params, unit_windows: int) -> list[Unit]:
    """Cut every symbol into window ranges of at most `unit_windows` windows (deterministic)."""
    from . import window_starts

    units = []
    for s, (_, n_bars) in enumerate(index):
        n_win = len(window_starts(n_bars, params))
        for w0 in range(0, n_win, unit_windows):
            w1 = min(w0 + unit_windows, n_win)
            # cost proxy: windows x bars per window (pivot counts are unknown before the data is read)
            units.append(Unit(len(units), s, w0, w1, float((w1 - w0) * params.window_bars)))
    return units


# --- the job --------------------------------------------------------------------------------------
def run(cfg, rt, *, out: str, force=False, resume=False, want_profile=False, progress=None) -> Outcome:
    """Collective. Returns the outcome on every rank (summary filled on rank 0)."""
    from . import ScanParams, resolve_backend

    comm = rt.comm
    rank = rt.rank
    timers = rt.timers
    t_start = time.time()
    out = str(out)
    partial, tmp = out + ".partial", out + ".tmp"

    # 1. output agreement -------------------------------------------------------------------------
    problem = None
    if rank == 0:
        problem = _check_output(out, partial, force, resume)
    errors.agree(problem, comm=comm)
    resuming = resume and os.path.exists(partial)
    if rank == 0:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        if force and not resuming:
            for p in (out, partial, tmp):
                if os.path.exists(p):
                    os.remove(p)
    comm.Barrier()

    # 2. index and units ------------------------------------------------------------------------
    params = ScanParams.from_config(cfg.scan)
    backend, problem = None, None
    try:
        backend, _ = resolve_backend(cfg.scan.backend)
    except RuntimeError as exc:  # scan.backend=cupy without a usable GPU
        problem = str(exc)
    errors.agree(problem, comm=comm)
    if backend in ("numba",):
        import numba  # noqa: F401  (after the thread plan set NUMBA_NUM_THREADS)
    rt.enforce()
    from ...io import sources

    problem = None
    try:
        src = sources.open_from_config(cfg)
    except (ValueError, OSError) as exc:  # a bad spec, a missing folder: every rank sees the same
        src, problem = None, str(exc)
    errors.agree(problem, comm=comm)
    index = None
    if rank == 0:
        try:
            with timers.phase("read"):
                index = src.index()
            if not index:
                problem = f"{cfg.data.source}: no symbols to scan"
        except (ValueError, OSError) as exc:
            problem = str(exc)
    errors.agree(problem, comm=comm)
    # symbols the index already rejected (skip mode: empty file, missing columns, too short)
    index, index_skips = comm.bcast((index, list(src.skipped) if rank == 0 else None), root=0)
    units = make_units(index, params, cfg.score.unit_windows)
    if not units:
        errors.agree(f"{cfg.data.source}: no symbol has {params.window_bars} bars for one window", comm=comm)

    mode, note = rio.choose_mode(cfg.output.hdf5_mpi)
    cfg_yaml = config.dump(cfg)
    # 3. open (or create) the work file ------------------------------------------------------------
    if resuming:
        problem, wf = None, None
        try:
            wf = rio.ResultsFile(partial, mode, comm=comm, create=False)
        except OSError as exc:  # every rank fails alike (collective open)
            problem = f"cannot open {partial} to resume it ({exc}): start over with --force"
        errors.agree(problem, comm=comm)
        if rank == 0:
            problem = _check_resumable(wf, cfg, units)
        errors.agree(problem, comm=comm)
        done = _read_units(wf)["done"]
        rt.log.info("resuming %s: %d of %d units already done", partial, int(done.sum()), len(units))
    else:
        wf = rio.ResultsFile(partial, mode, comm=comm, create=True, note=note)
        wf.set_attrs({"config": cfg_yaml, "mpiapp_version": __version__, "status": "running"})
        for name, cols in (("_units", UNIT_COLUMNS), ("_patterns", PATTERN_COLUMNS), ("_windows", WINDOW_COLUMNS)):
            wf.create_table(name, cols)
        wf.append("_units", _units_rows(units) if rank == 0 else {})
        wf.create_array("_state", (len(units), len(STATE_COLUMNS)), "i8")
        wf.flush()
        done = np.zeros(len(units), dtype=bool)
    if mode == "gather" and rank == 0:
        errors.on_abort(wf.close)  # serial file owned by rank 0: safe to close alone

    todo = [u for u in units if not done[u.uid]]
    signals.install()

    # 4. scan -------------------------------------------------------------------------------------------
    store = _SymbolStore(src, index, cfg, timers, comm)
    mine = _assign(todo, cfg, comm)
    store.preload(None if mine is None else {u.symbol for u in mine}, cfg.score.shared_memory)
    stats = _scan_loop(rt, cfg, params, backend, store, mine, todo, wf, done, progress, want_profile, out)

    store.release()
    stop_sig = comm.allreduce(signals.requested(), op=comm_mod.mpi().MAX)
    if stop_sig:
        wf.set_attrs({"status": "interrupted", "interrupted_by": signals.name(stop_sig)})
        wf.flush()
        wf.close()
        errors.forget(wf.close)
        if rank == 0:
            left = int((~_read_done_file(partial)).sum())
            rt.log.warning("stopped by %s: %s is resumable (%d of %d units left): rerun with --resume",
                           signals.name(stop_sig), partial, left, len(units))  # fmt: skip
        return Outcome("interrupted", partial, signals.EXIT_RESUMABLE)

    # 5. finalize ----------------------------------------------------------------------------------------
    skipped = store.skipped_all(comm)
    # index-time skips get rows after the indexed symbols (their ids are not used by any pattern)
    listed = index + [(name, 0) for name, _ in index_skips]
    skipped.update({len(index) + i: reason for i, (_, reason) in enumerate(index_skips)})
    with timers.phase("write"):
        summary = _finalize(rt, cfg, wf, listed, units, tmp, mode, note, skipped, backend, stats, t_start)
    wf.close()
    errors.forget(wf.close)
    if rank == 0:
        os.replace(tmp, out)
        os.remove(partial)
    comm.Barrier()
    return Outcome("complete", out, 0, summary)


def _check_output(out, partial, force, resume) -> str | None:
    if resume:
        if os.path.exists(partial):
            return None
        if os.path.exists(out):
            return f"{out} is already complete: nothing to resume (use --force to scan again)"
        return f"--resume: no {partial} to resume from (start without --resume)"
    if force:
        return None
    if os.path.exists(out):
        return f"{out} exists: refusing to overwrite it (use --force to replace it, or --out another file)"
    if os.path.exists(partial):
        return f"{partial} exists from an interrupted run: use --resume to continue it or --force to start over"
    return None


def _check_resumable(wf, cfg, units) -> str | None:
    import yaml

    raw = wf.f.attrs.get("config", b"")
    old = yaml.safe_load((raw.decode() if isinstance(raw, bytes) else raw) or "{}")
    new = config.to_plain(cfg)
    diffs = [f"{sec}.{k}: {old.get(sec, {}).get(k)!r} -> {new[sec][k]!r}"
             for sec in RESUME_SECTIONS for k in new[sec] if old.get(sec, {}).get(k) != new[sec][k]]  # fmt: skip
    if diffs:
        return f"{wf.path} was started with another configuration; cannot resume: " + "; ".join(diffs)
    u = wf.read("_units", columns=["symbol", "w0", "w1"])
    if len(u["symbol"]) != len(units) or any(
        (u["symbol"][i], u["w0"][i], u["w1"][i]) != (x.symbol, x.w0, x.w1) for i, x in enumerate(units)
    ):
        return f"{wf.path}: its work units do not match this data source (was the data changed?)"
    return None


def _read_units(wf) -> dict:
    """The unit table and each unit's commit record, on every rank.

    A unit counts as done only if its rows lie inside the raw tables as flushed (defensive: a run
    killed mid-commit must never make a resume trust rows that are not there).
    """
    u = None
    if wf.f is not None and (wf.mode == "mpio" or wf.rank == 0):
        u = wf.read("_units")
        state = wf.f["_state"][:]
        u.update({c: state[:, i] for i, c in enumerate(STATE_COLUMNS)})
        n_pat, n_win = wf.f["_patterns"]["score"].shape[0], wf.f["_windows"]["window"].shape[0]
        inside = (u["pat_start"] + u["pat_count"] <= n_pat) & (u["win_start"] + u["win_count"] <= n_win)
        u["done"] = (u["done"] == 1) & inside
    return wf.comm.bcast(u, root=0) if wf.mode == "gather" else u


def _read_done_file(partial) -> np.ndarray:
    import h5py

    with h5py.File(partial, "r") as f:
        return f["_state"][:, 0] == 1


def _units_rows(units) -> dict:
    return {
        "symbol": np.array([u.symbol for u in units], dtype=np.int32),
        "w0": np.array([u.w0 for u in units], dtype=np.int32),
        "w1": np.array([u.w1 for u in units], dtype=np.int32),
        "cost": np.array([u.cost for u in units]),
    }


def _assign(todo, cfg, comm):
    """The static plan's units for this rank, or None in dynamic mode (claimed as we go)."""
    if cfg.score.partition == "dynamic":
        return None
    costs = np.array([u.cost for u in todo]) if comm.Get_rank() == 0 else None
    mine = partition.scatter_plan(costs, cfg.score.plan_strategy, comm=comm)
    return [todo[i] for i in mine]


class _SymbolStore:
    """The symbols this rank needs, read and validated before any compute.

    shared_memory: the node's ranks split the reading of the symbols any of them needs and publish
    the arrays once per node (runtime.shm); otherwise each rank keeps its own copies.
    """

    FIELDS = ("time", "open", "high", "low", "close")

    def __init__(self, src, index, cfg, timers, comm):
        self.src, self.index, self.cfg, self.timers, self.comm = src, index, cfg, timers, comm
        self.cache: dict[int, object] = {}
        self.skipped: dict[int, str] = {}
        self.shared = None
        self.meta: dict[int, tuple] = {}

    def _load(self, s: int):
        from ...io.validate import DataError

        with self.timers.phase("read"):
            try:
                return self.src.load(self.index[s][0]), None
            except DataError as exc:
                if not self.cfg.data.skip_bad_symbols:
                    return None, str(exc)
                self.skipped[s] = str(exc)
                return None, None

    def preload(self, needed, shared: bool) -> None:
        """Collective. needed: symbol ids this rank will scan (None: any, as in dynamic mode)."""
        comm = self.comm
        problems = []
        if shared:
            node = comm_mod.node_comm(comm)
            want = sorted(set().union(*node.allgather(set(needed) if needed is not None else {-1})))
            if -1 in want:
                want = list(range(len(self.index)))
            share = want[node.Get_rank() :: node.Get_size()]
            loaded = {}
            for s in share:
                ser, err = self._load(s)
                if err:
                    problems.append(err)
                elif ser is not None:
                    loaded[s] = ser
            errors.agree("\n".join(problems) or None, comm=comm)
            arrays = {s: {f: getattr(ser, f) for f in self.FIELDS} for s, ser in loaded.items()}
            for d in node.allgather({s: (ser.symbol, ser.origin, ser.has_ohlc) for s, ser in loaded.items()}):
                self.meta.update(d)
            from ...runtime.shm import NodeArrays

            self.shared = NodeArrays(arrays, node)
            for d in node.allgather(self.skipped):
                self.skipped.update(d)
            return
        if needed is None:  # dynamic without shared memory: validate a share now, load on claim
            share = range(comm.Get_rank(), len(self.index), comm.Get_size())
            for s in share:
                _, err = self._load(s)
                if err:
                    problems.append(err)
        else:
            for s in sorted(set(needed)):
                ser, err = self._load(s)
                if err:
                    problems.append(err)
                elif ser is not None:
                    self.cache[s] = ser
        errors.agree("\n".join(problems) or None, comm=comm)
        for d in comm.allgather(self.skipped):
            self.skipped.update(d)

    def get(self, s: int):
        if s in self.skipped:
            return None
        if self.shared is not None:
            from ...io.series import Series

            v = self.shared[s]
            name, origin, has_ohlc = self.meta[s]
            return Series(name, v["time"], v["open"], v["high"], v["low"], v["close"], origin, has_ohlc)
        if s not in self.cache:
            ser, err = self._load(s)
            if err:
                raise ValueError(err)
            self.cache[s] = ser
        return self.cache[s]

    def release(self) -> None:
        if self.shared is not None:
            self.shared.free()
            self.shared = None

    def skipped_all(self, comm) -> dict:
        merged = {}
        for d in comm.allgather(self.skipped):
            merged.update(d)
        return merged


def _scan_loop(rt, cfg, params, backend, store, mine, todo, wf, done, progress, want_profile, out) -> dict:
    """Scan units, committing every commit_interval_s seconds; stop on a signal. Collective."""
    from . import scan_symbol

    comm, rank = rt.comm, rt.rank
    MPI = comm_mod.mpi()
    timers = rt.timers
    dynamic = mine is None
    counter = SharedCounter(comm) if dynamic else None
    finished = SharedCounter(comm)  # units done job-wide, for rank 0's progress bar
    bar = _progress_bar(progress, len(todo), len(done) - len(todo)) if rank == 0 else None
    prof = None
    if want_profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()

    pending_p, pending_w, pending_u = [], [], []
    stats = {"units": 0, "candidates": 0}
    it = iter(mine) if not dynamic else None
    local_done = False
    interval = cfg.score.commit_interval_s
    next_commit = time.perf_counter() + interval

    def next_unit():
        if dynamic:
            k = counter.fetch_add(1)
            return todo[k] if k < len(todo) else None
        return next(it, None)

    while True:
        unit = None
        if not local_done and not signals.requested():
            unit = next_unit()
            if unit is None:
                local_done = True
        if unit is not None:
            series = store.get(unit.symbol)
            with timers.phase("busy"):
                if series is None:  # skipped symbol: the unit is done with nothing in it
                    p, w = {}, {}
                else:
                    res = scan_symbol(series, params, backend=backend, window_range=(unit.w0, unit.w1))
                    p, w = _rows(res, unit.symbol, series)
            stats["units"] += 1
            stats["candidates"] += int(np.sum(w.get("visited", 0)))
            pending_p.append(p)
            pending_w.append(w)
            pending_u.append(unit.uid)
            finished.fetch_add(1)
            if bar is not None:
                bar.n = (len(done) - len(todo)) + finished.fetch_add(0)
                bar.refresh()
        if unit is None or signals.requested() or time.perf_counter() >= next_commit:
            with timers.phase("wait"):
                _poll_barrier(comm, bar, finished, len(done) - len(todo))
            with timers.phase("write"):
                _commit(wf, pending_p, pending_w, pending_u, rank)
            pending_p, pending_w, pending_u = [], [], []
            flags = np.array([0 if local_done else 1, signals.requested()], dtype=np.int64)
            glob = np.empty_like(flags)
            comm.Allreduce(flags, glob, op=MPI.MAX)
            if glob[1]:
                signals.adopt(int(glob[1]))
                break
            if glob[0] == 0:
                break
            next_commit = time.perf_counter() + interval
    if prof is not None:
        prof.disable()
        prof.dump_stats(f"{out}.rank{rank}.prof")
    if counter is not None:
        counter.free()
    finished.free()
    if bar is not None:
        bar.close()
    return stats


def _poll_barrier(comm, bar, finished, base) -> None:
    """Wait for every rank without spinning a core (an idle rank must not steal CPU from busy ones)."""
    req = comm.Ibarrier()
    delay = 0.0005
    while not req.Test():
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        if bar is not None:
            bar.n = base + finished.fetch_add(0)
            bar.refresh()


def _progress_bar(on, total, initial):
    """One bar on rank 0 for every rank's units (fed by the job-wide `finished` counter)."""
    if not on:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total + initial, initial=initial, unit="unit", desc="scan", file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)  # fmt: skip


def _cat(pieces, columns) -> dict:
    pieces = [p for p in pieces if p and len(p[columns[0][0]])]
    if not pieces:
        return {c: np.empty(0, dtype=dt) for c, dt in columns}
    return {c: np.concatenate([p[c] for p in pieces]).astype(dt, copy=False) for c, dt in columns}


def _commit(wf, pending_p, pending_w, pending_u, rank) -> None:
    """Collective: raw rows of the finished units, then their done flags and row ranges."""
    p = _cat(pending_p, PATTERN_COLUMNS)
    w = _cat(pending_w, WINDOW_COLUMNS)
    p_base = wf.append("_patterns", p)
    w_base = wf.append("_windows", w)
    uid, ps, pc, ws, wc = [], [], [], [], []
    po = wo = 0
    for pp, ww, u in zip(pending_p, pending_w, pending_u):
        n_p = len(pp["symbol"]) if pp else 0
        n_w = len(ww["symbol"]) if ww else 0
        uid.append(u)
        ps.append(p_base + po)
        pc.append(n_p)
        ws.append(w_base + wo)
        wc.append(n_w)
        po += n_p
        wo += n_w
    state = np.column_stack([np.ones(len(uid)), ps, pc, ws, wc, np.full(len(uid), rank)]).astype(np.int64)
    # the rows first, durable (extents and data flushed) ...
    wf.flush()
    # ... then the units' commit records, written by rank 0 (one whole row per unit), flushed again
    gathered = wf.comm.gather((np.asarray(uid, dtype=np.int64), state.reshape(-1, len(STATE_COLUMNS))), root=0)
    if wf.rank == 0:
        idx = np.concatenate([g[0] for g in gathered])
        if idx.size:
            wf.set_rows("_state", idx, np.concatenate([g[1] for g in gathered]))
    wf.flush()


def _rows(res, symbol: int, series) -> tuple[dict, dict]:
    """Engine output -> raw table rows (adds the symbol index and the pivot timestamps)."""
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


# --- finalize -----------------------------------------------------------------------------------------
def merge_patterns(rows: dict) -> dict:
    """Raw rows of several units -> one row per (symbol, pattern), in symbol then §5 order."""
    if len(rows["symbol"]) == 0:
        return rows
    return sort_patterns(dedup_patterns(rows, extra_keys=("symbol",)))


def sort_patterns(rows: dict) -> dict:
    """Symbol, then §5: score descending, t0 ascending, pivot indices lexicographically."""
    if len(rows["symbol"]) == 0:
        return rows
    o = np.lexsort([rows[f"t{i}"] for i in reversed(PIVOTS)] + [-rows["score"], rows["symbol"]])
    return {c: v[o] for c, v in rows.items()}


def _finalize(rt, cfg, wf, index, units, tmp, mode, note, skipped, backend, stats, t_start) -> dict:
    comm, rank, size = rt.comm, rt.rank, rt.size
    # every rank learns where each unit's rows are (the _units table is small)
    u = _read_units(wf)
    n_sym = len(index)
    rows_per_sym = np.bincount(u["symbol"], weights=u["pat_count"] + u["win_count"], minlength=n_sym)
    # contiguous symbol blocks, balanced by rows: rank order == symbol order in the final tables
    if mode == "mpio":
        bounds = _contiguous_blocks(rows_per_sym, size)
        lo, hi = bounds[rank], bounds[rank + 1]
    else:
        lo, hi = (0, n_sym) if rank == 0 else (0, 0)
    mine = np.flatnonzero((u["symbol"] >= lo) & (u["symbol"] < hi))
    if wf.f is not None and (mode == "mpio" or rank == 0):
        pats = [wf.read_ranges("_patterns", zip(u["pat_start"][mine], u["pat_count"][mine]))]
        wins = [wf.read_ranges("_windows", zip(u["win_start"][mine], u["win_count"][mine]))]
    else:
        pats, wins = [], []
    p = merge_patterns(_cat(pats, PATTERN_COLUMNS))
    w = _cat(wins, WINDOW_COLUMNS)
    if len(w["symbol"]):
        o = np.lexsort((w["window"], w["symbol"]))
        w = {c: v[o] for c, v in w.items()}

    # symbols table (rank 0 knows the index)
    name_len = max(8, max(len(nm.encode()) for nm, _ in index))
    n_win = np.bincount(u["symbol"], weights=u["w1"] - u["w0"], minlength=n_sym).astype(np.int32)
    reason_len = max([8] + [len(r.encode()) for r in skipped.values()])
    sym_cols = [("name", f"S{name_len}"), ("bars", "i8"), ("windows", "i4"), ("skipped_reason", f"S{min(reason_len, 1024)}")]
    sym = {
        "name": np.array([nm.encode() for nm, _ in index], dtype=f"S{name_len}"),
        "bars": np.array([n for _, n in index], dtype=np.int64),
        "windows": n_win,
        "skipped_reason": np.array([skipped.get(s, "").encode()[:1024] for s in range(n_sym)],
                                   dtype=f"S{min(reason_len, 1024)}"),  # fmt: skip
    }
    for s in skipped:
        sym["windows"][s] = 0

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    prof_cols = [("rank", "i4"), ("host", "S64"), ("units", "i8"), ("candidates", "i8"), ("busy_s", "f8"),
                 ("wait_s", "f8"), ("read_s", "f8"), ("write_s", "f8"), ("peak_rss_mb", "f8")]  # fmt: skip
    gathered = profile.gather(rt.timers, comm=comm, extra={"peak_rss_mb": peak_mb, **stats})
    prof_rows, hosts = None, None
    if rank == 0:  # the fixed columns (a phase a rank never entered counts 0 s)
        prof_rows = [{c: r.get(c, 0.0) for c, _ in prof_cols} for r in gathered]
        hosts = sorted({r["host"] for r in prof_rows})

    final = rio.ResultsFile(tmp, mode, comm=comm, create=True, note=note)
    final.create_table("patterns", PATTERN_COLUMNS)
    final.create_table("windows", WINDOW_COLUMNS)
    final.create_table("symbols", sym_cols)
    final.create_table("profile", prof_cols)
    final.append("patterns", p if len(p["symbol"]) else {})
    final.append("windows", w if len(w["symbol"]) else {})
    final.append("symbols", sym if rank == 0 else {})
    prof_table = None
    if rank == 0:
        prof_table = {c: np.array([r[c] if c != "host" else r[c].encode() for r in prof_rows], dtype=dt)
                      for c, dt in prof_cols}  # fmt: skip
    final.append("profile", prof_table or {})
    lib = comm_mod.library()
    final.set_attrs({
        "config": config.dump(cfg), "mpiapp_version": __version__, "mpi_library": lib["library_version"],
        "mpi_vendor": f"{lib['vendor']} {lib['vendor_version']}", "ranks": size, "hosts": ",".join(hosts or []),
        "backend": backend, "data_source": cfg.data.source, "status": "complete",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_start)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": time.time() - t_start,
        "units": len(units), "threads_per_rank": rt.thread_plan.threads,
    })  # fmt: skip
    final.close()

    # summary for rank 0
    tot = {k: comm.allreduce(int(v)) for k, v in (
        ("windows", len(w["symbol"])), ("skipped_flat", int(np.sum(w["skipped_flat"]))),
        ("truncated", int(np.sum(w["truncated"]))), ("patterns", len(p["symbol"])),
        ("visited", int(np.sum(w["visited"]))))}  # fmt: skip
    top = _global_top(p, cfg.score.summary_top, comm, index)
    summary = {**tot, "symbols": n_sym, "skipped_symbols": len(skipped), "top": top, "profile": prof_rows,
               "hdf5_mode": mode, "wall_s": time.time() - t_start}
    return summary


def _contiguous_blocks(weights, parts: int) -> list[int]:
    """Symbol boundaries so that each of `parts` consecutive blocks holds about 1/parts of the weight."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.concatenate(([0.0], np.cumsum(w)))
    total = cum[-1]
    bounds = [0]
    for r in range(1, parts):
        bounds.append(int(np.searchsorted(cum, total * r / parts, side="left")) if total > 0 else
                      (len(w) * r) // parts)  # fmt: skip
        bounds[-1] = max(bounds[-1], bounds[-2])
    bounds.append(len(w))
    return bounds


def _global_top(p, k, comm, index) -> list[dict]:
    if k == 0:
        return []
    n = len(p["score"])
    order = np.lexsort((p["t0"], -p["score"]))[:k] if n else []
    mine = [{c: p[c][i].item() for c in p} for i in order]
    allrows = sum(comm.allgather(mine), [])
    allrows.sort(key=lambda r: (-r["score"], r["t0"], [r[f"t{i}"] for i in PIVOTS], r["symbol"]))
    for r in allrows:
        r["name"] = index[r["symbol"]][0]
    return allrows[:k]
