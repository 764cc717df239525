"""The feature store: every symbol's features and targets in one HDF5 file, split by date.

Why a store and not features built in the training loop: a data-parallel step needs samples of
every symbol at once; building them per step would repeat the work on every rank every epoch, and
holding them all in memory caps the data at one rank's RAM. The store is built once by a
distributed phase on the work layer (units = symbols; resumable; written collectively) and read in
chunks by the training phase. It is reused when it exists for the same data, horizon and split:
its `identity` records them, with the content hash of every data file it was built from, so a
store built from data that changed since is never reused (refused, naming the changed files).

Layout (`ddp.features_path`, default beside the output: OUT.features.h5 for OUT.h5, so jobs with
different outputs in one folder never share, or rebuild, each other's store):
  X          (rows, F) float32, chunked by rows: the close-only price features of the train job
             (engines/train/features.py: no look-ahead), rows in symbol then bar order;
  rows       table: symbol (i4), bar (i8), time (i8, ns), label_end (i8, ns: time of bar + horizon),
             y (f4: forward log return over `horizon` bars);
  symbols    table: symbol, name, first_row, n_rows, and per split (train, validation, test) the
             global row range [lo, hi) of its samples, purged (rows in no split), spacing_ns (the
             median time between its consecutive bars, spacing.py), left_out (1: no training rows,
             so its validation and test rows are left out too — a symbol the model never trained
             on would be scored as if it had);
  skipped    table: symbols with too few bars, and why;
  sources    table: name (relative to the data folder) and content hash of every data file read
             (none for builtin and synthetic data);
  attributes features (JSON names), horizon, validation_from, test_from (dates), identity (JSON of
             what the store depends on: format, features, data section, horizon and split, and
             `sources`, the combined hash of the sources table), plus the work layer's provenance.

Close-only features for every symbol: a pooled model needs one feature set, and several sources
(and builtin series) carry no High/Low or volume. One bar spacing for every symbol (spacing.py): the
phase checks it before computing anything, unless ddp.mixed_spacing.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ...io.symbols import SKIPPED_COLUMNS, skip_rows, skipped_rows
from ...runtime import errors, sync
from ...work import JobSpec, Plan, Unit
from ..train.features import feature_names, price_features, targets, warmup_bars
from . import spacing as _spacing
from . import split as _split

FEATURES = tuple(feature_names(False, False))
FORMAT = 4  # bump when the layout or the features change: an older store is rebuilt
#: rows per HDF5 chunk of X: a shuffle block's read touches one or two chunks of ~40 KB (10 features)
CHUNK_ROWS = 1024
ROW_COLUMNS = [("symbol", "i4"), ("bar", "i8"), ("time", "i8"), ("label_end", "i8"), ("y", "f4")]
RAW_TABLES = {
    "rows": ROW_COLUMNS + [(f"x{i}", "f4") for i in range(len(FEATURES))],
    "skipped": SKIPPED_COLUMNS,
}


def default_path(params, out: str) -> str:
    """ddp.features_path, or beside the output `out`: OUT.features.h5 (OUT without its .h5)."""
    if params.features_path:
        return params.features_path
    stem = out[:-3] if out.endswith(".h5") else out
    return stem + ".features.h5"


def source_digests(src) -> dict:
    """{file name: content hash} of every file the data source reads (io.fingerprint); rank 0."""
    from ...io.fingerprint import file_digests

    return file_digests(src.input_paths() if hasattr(src, "input_paths") else [])


def identity(cfg, params, sources: dict) -> dict:
    """What a store depends on: the data section, the content of its data files (`sources`:
    {name: hash}), the horizon and split, the feature layout."""
    from ...io.fingerprint import combined

    return {
        "format": FORMAT,
        "features": list(FEATURES),
        "data": {k: cfg.data[k] for k in sorted(cfg.data)},
        "sources": combined(sources),
        **params.store_identity(),
    }


def symbol_rows(series, horizon: int) -> dict:
    """The raw rows of one series: every bar with all features finite and a known label."""
    X, names = price_features(series.close)
    assert tuple(names) == FEATURES
    y = targets(series.close, horizon)
    keep = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    bars = np.flatnonzero(keep).astype(np.int64)
    t = np.asarray(series.time, dtype=np.int64)
    rows = {"bar": bars, "time": t[bars], "label_end": t[bars + horizon], "y": y[bars].astype(np.float32)}
    for i in range(len(FEATURES)):
        rows[f"x{i}"] = X[bars, i].astype(np.float32)
    return rows


def too_short(n_bars: int, horizon: int) -> str | None:
    need = warmup_bars() + horizon + 2
    if n_bars < need:
        return f"{n_bars} bars: needs at least {need} (the {warmup_bars()}-bar feature warm-up and the {horizon}-bar horizon)"
    return None


def build(ctx, params, ident: dict, digests: dict) -> JobSpec:
    """Collective: the feature-store phase as a work-layer job; `ident` its identity and `digests` the
    content hashes of its data files (rank 0; source_digests). Raises errors.JobError (exit 2, every
    rank) for a bad data source."""
    from ...io import sources

    cfg = ctx.cfg
    src = None
    with errors.agreement(ctx.comm):
        src = sources.open_from_config(cfg, min_bars=1)
    job = _StoreJob(params, src, ident, digests)
    return JobSpec(
        name="ddp_features",
        key_columns=[("symbol", "i4")],
        tables=RAW_TABLES,
        plan=job.plan,
        prepare=job.prepare,
        run_unit=job.run_unit,
        finalize=job.finalize,
        release=job.release,
        resume_sections=("data", "ddp"),
        counters=("symbols",),
    )


class _StoreJob:
    def __init__(self, params, src, ident, digests):
        self.params, self.src, self.ident, self.digests = params, src, ident, digests
        self.store = None
        self.spacing: dict[int, int] = {}  # symbol -> median spacing (ns), every symbol, every rank

    def plan(self, ctx) -> Plan:
        index = self.src.index()
        if not index:
            raise errors.JobError(f"{ctx.cfg.data.source}: no symbols")
        units = [Unit(s, float(n), (s,)) for s, (_, n) in enumerate(index)]
        inputs = self.src.input_paths() if hasattr(self.src, "input_paths") else []
        return Plan(units, info=(index, list(self.src.skipped)), inputs=inputs)

    def prepare(self, ctx, mine) -> None:
        from ...io.store import open_for_job

        index, _ = ctx.info
        self.store = open_for_job(ctx, self.src, index, None if mine is None else {u.key[0] for u in mine})
        self.spacing = check_spacing(ctx, self.store, index, mine, self.params.mixed_spacing)

    def run_unit(self, unit, ctx) -> dict:
        (s,) = unit.key
        index, _ = ctx.info
        series = self.store.get(s, record=ctx.record_input)
        if series is None:
            return skip_rows(s, self.store.skipped.get(s, "skipped"))
        why = too_short(len(series), self.params.horizon)
        if why:
            return skip_rows(s, why)
        rows = symbol_rows(series, self.params.horizon)
        rows["symbol"] = np.full(rows["bar"].shape[0], s, dtype=np.int32)
        ctx.timers.count("symbols")
        return {"rows": {c: np.asarray(rows[c], dtype=dt) for c, dt in RAW_TABLES["rows"]}}

    def release(self, ctx) -> None:
        self.store.release()

    def finalize(self, fin) -> dict:
        return finalize(fin, self.params, self.ident, self.store.skipped_all(), self.digests, self.spacing)


def check_spacing(ctx, store, index, mine, allowed: bool) -> dict:
    """Collective: {symbol: median bar spacing (ns)} of every symbol with bars, each measured by the rank
    that holds it (its units; with units claimed dynamically, every size-th symbol). Raises
    errors.JobError (exit 2, every rank) naming each spacing and its symbols when they differ and
    `allowed` is false."""
    held = sorted({u.key[0] for u in mine}) if mine is not None else range(ctx.rank, len(index), ctx.size)
    own = {}
    for s in held:
        series = store.get(s)
        if series is not None:
            own[int(s)] = _spacing.median_spacing(series.time)
    every: dict = {}
    for part in sync.allgather(own, comm=ctx.comm):
        every.update(part)
    ids = sorted(every)
    errors.agree(
        _spacing.problem([index[s][0] for s in ids], [every[s] for s in ids], allowed), comm=ctx.comm
    )
    return every


def finalize(
    fin, params, ident: dict, store_skips: dict, digests: dict | None = None, spacing: dict | None = None
) -> dict:
    """Collective: X, rows, symbols and skipped of the store; the split computed from every rank's
    samples; a symbol with no training rows left out of validation and test (named in the log and by
    the symbols table's left_out). Raises errors.JobError (exit 2) when no symbol has samples or a
    split is empty."""
    ctx = fin.ctx
    rank = ctx.rank
    index, index_skips = ctx.info
    n_sym = len(index)
    u = fin.units
    per_sym = np.bincount(u["symbol"], weights=u["rows_count"], minlength=n_sym)
    lo, hi = fin.block(per_sym)
    mine = np.flatnonzero((u["symbol"] >= lo) & (u["symbol"] < hi))
    rows = fin.read("rows", mine) if len(mine) and fin.can_read else None
    if rows is None or len(rows["symbol"]) == 0:
        rows = {c: np.empty(0, dtype=dt) for c, dt in RAW_TABLES["rows"]}
    order = np.lexsort((rows["bar"], rows["symbol"]))
    rows = {c: v[order] for c, v in rows.items()}
    n = int(rows["symbol"].shape[0])

    # the split: a day histogram of every rank's samples
    day = _split.days(rows["time"])
    first = sync.allgather(int(day.min()) if n else None, comm=ctx.comm)
    last = sync.allgather(int(day.max()) if n else None, comm=ctx.comm)
    first = [x for x in first if x is not None]
    with errors.agreement(ctx.comm):
        if not first:
            raise errors.JobError(f"{ctx.cfg.data.source}: no symbol has samples (see the skipped table)")
    d0, d1 = min(first), max(x for x in last if x is not None)
    hist = sync.allreduce_sum(
        np.bincount(day - d0, minlength=d1 - d0 + 1) if n else np.zeros(d1 - d0 + 1, dtype=np.int64),
        comm=ctx.comm,
    )
    cuts = None
    with errors.agreement(ctx.comm):
        try:
            cuts = _split.cut_days(d0, hist, params)
        except ValueError as exc:
            raise errors.JobError(f"ddp split: {exc}") from None
    v_day, t_day = cuts

    base = fin.offset(n)
    total = sync.allreduce_sum(n, comm=ctx.comm)
    sym_ids = np.arange(lo, hi, dtype=np.int64)
    sym = {
        c: np.zeros(len(sym_ids), dtype=np.int64)
        for c in (
            "first_row",
            "n_rows",
            "train_lo",
            "train_hi",
            "validation_lo",
            "validation_hi",
            "test_lo",
            "test_hi",
            "purged",
            "spacing_ns",
            "left_out",
        )
    }
    starts = np.searchsorted(rows["symbol"], sym_ids, side="left")
    ends = np.searchsorted(rows["symbol"], sym_ids, side="right")
    for i, (a, b) in enumerate(zip(starts, ends)):
        first_row = base + int(a)
        sym["first_row"][i], sym["n_rows"][i] = first_row, int(b - a)
        r = _split.symbol_ranges(rows["time"][a:b], rows["label_end"][a:b], v_day, t_day)
        if b > a and r["train"][1] == r["train"][0]:  # never trained on: not scored either
            r = dict(r, validation=(int(b - a), int(b - a)), test=(int(b - a), int(b - a)))
            sym["left_out"][i] = 1
        sym["spacing_ns"][i] = (spacing or {}).get(int(sym_ids[i]), 0)
        for s in _split.SPLITS:
            sym[f"{s}_lo"][i] = first_row + r[s][0]
            sym[f"{s}_hi"][i] = first_row + r[s][1]
        sym["purged"][i] = r["purged"]

    with ctx.timers.phase("write"):
        X = (
            np.stack([rows[f"x{i}"] for i in range(len(FEATURES))], axis=1)
            if n
            else np.zeros((0, len(FEATURES)), dtype=np.float32)
        )
        fin.out.create_array("X", (0, len(FEATURES)), np.float32, chunk=CHUNK_ROWS, rows_hint=total)
        fin.out.append_array("X", X)
        fin.write("rows", ROW_COLUMNS, {c: rows[c] for c, _ in ROW_COLUMNS})
        names = [nm for nm, _ in index]
        name_len = max(8, max(len(nm.encode()) for nm in names))
        cols = [("symbol", "i4"), ("name", f"S{name_len}")] + [(c, "i8") for c in sym]
        mine_sym = {
            "symbol": sym_ids.astype(np.int32),
            "name": np.array([names[s].encode() for s in sym_ids], dtype=f"S{name_len}"),
            **sym,
        }
        fin.write("symbols", cols, mine_sym)
        skips = (
            fin.read("skipped", np.flatnonzero(u["skipped_count"] > 0))
            if (rank == 0 and fin.can_read)
            else None
        )
        items = []
        if rank == 0:  # the units' skips, the store's (symbols no unit of this run read), the index's
            extra = [(i, r) for i, r in store_skips.items() if skips is None or i not in set(skips["symbol"])]
            items = (
                ([] if skips is None else list(zip(skips["symbol"], skips["reason"])))
                + extra
                + [(-1, f"{nm}: {r}") for nm, r in index_skips]
            )
        fin.write("skipped", SKIPPED_COLUMNS, skipped_rows(items))
        src_rows = {}
        if rank == 0 and digests:
            src_rows = {
                "name": np.array([n.encode() for n in sorted(digests)]),
                "digest": np.array([digests[n].encode() for n in sorted(digests)], dtype="S32"),
            }
        width = sync.bcast(
            max([8] + [len(n.encode()) for n in (digests or {})]) if rank == 0 else 0, comm=ctx.comm
        )
        if rank == 0 and src_rows:
            src_rows["name"] = src_rows["name"].astype(f"S{width}")
        fin.write("sources", [("name", f"S{width}"), ("digest", "S32")], src_rows)
    left = [index[int(s)][0] for s in sym_ids[sym["left_out"] == 1]]
    left = [nm for part in sync.allgather(left, comm=ctx.comm) for nm in part]
    if left and rank == 0:
        ctx.log.warning(
            "left out of validation and test (no training rows before %s): %s",
            _split.date_of_day(v_day),
            ", ".join(left),
        )
    fin.attrs(
        features=json.dumps(list(FEATURES)),
        horizon=int(params.horizon),
        validation_from=_split.date_of_day(v_day),
        test_from=_split.date_of_day(t_day),
        identity=json.dumps(ident, sort_keys=True),
        n_rows=int(total),
    )
    return {
        "rows": int(total),
        "validation_from": _split.date_of_day(v_day),
        "test_from": _split.date_of_day(t_day),
        "left_out": left,
    }


# --- reading ---------------------------------------------------------------------------------------------
class StoreInfo:
    """What the training phase needs from a finished store (read on every rank, O(symbols))."""

    def __init__(self, path: str):
        import h5py

        self.path = path
        with h5py.File(path, "r") as f:
            a = f.attrs
            self.features = json.loads(_text(a["features"]))
            self.identity_text = _text(a["identity"])
            self.identity = json.loads(self.identity_text)
            self.validation_from = _text(a["validation_from"])
            self.test_from = _text(a["test_from"])
            self.horizon = int(a["horizon"])
            self.n_rows = int(f["X"].shape[0])
            g = f["symbols"]
            self.symbols = {c: g[c][:] for c in g.keys()}
            self.names = [n.decode("utf-8", "replace") for n in self.symbols["name"]]
            self.sources = {}
            if "sources" in f:
                t = f["sources"]
                self.sources = {
                    n.decode("utf-8", "replace"): d.decode() for n, d in zip(t["name"][:], t["digest"][:])
                }
        problem = check_ranges(self.symbols, self.n_rows)
        if problem:
            raise ValueError(f"{path} is a damaged feature store: {problem}")

    def left_out(self) -> list[str]:
        """Symbols with samples but no training rows, left out of validation and test."""
        return [self.names[i] for i in np.flatnonzero(self.symbols["left_out"] == 1)]

    def split_ranges(self, split: str, window: int) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) global rows of `split` per symbol, narrowed so each sample has `window - 1` rows of
        its own symbol before it."""
        s = self.symbols
        lo = np.maximum(s[f"{split}_lo"], s["first_row"] + window - 1)
        return lo, np.maximum(s[f"{split}_hi"], lo)


def check_ranges(sym: dict, n_rows: int) -> str | None:
    """Why the symbols table cannot describe rows [0, n_rows) of X (None when it can): every symbol's
    rows inside X, every split range inside its symbol's rows, in split order. Pure."""
    first, n = sym["first_row"], sym["n_rows"]
    end = first + n
    bad = np.flatnonzero((first < 0) | (n < 0) | (end > n_rows))
    if len(bad):
        s = int(bad[0])
        return f"symbol {s}'s rows [{int(first[s])}, {int(end[s])}) lie outside X's {n_rows} rows"
    prev = first
    for split in _split.SPLITS:
        lo, hi = sym[f"{split}_lo"], sym[f"{split}_hi"]
        bad = np.flatnonzero((lo < prev) | (hi < lo) | (hi > end))
        if len(bad):
            s = int(bad[0])
            return (
                f"symbol {s}'s {split} rows [{int(lo[s])}, {int(hi[s])}) lie outside its rows "
                f"[{int(first[s])}, {int(end[s])}) or before the previous split"
            )
        prev = hi
    return None


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def reusable(path: str, ident: dict, digests: dict | None = None) -> str | None:
    """None when the store at `path` can be reused for `ident`; else why not (it exists but differs:
    other settings, or data files whose content changed — named from `digests`, {file: hash}).
    Raises FileNotFoundError when there is no store."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    try:
        info = StoreInfo(path)
    except ValueError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001  (a damaged or foreign file: say so)
        first = (str(exc).splitlines() or [""])[0]
        return f"{path} is not a readable feature store ({type(exc).__name__}: {first})"
    have = info.identity
    if have == json.loads(json.dumps(ident, sort_keys=True)):
        return None
    diff = sorted(k for k in set(have) | set(ident) if have.get(k) != ident.get(k))
    if diff == ["sources"]:
        from ...io.fingerprint import changes

        return f"{path} was built from data that has changed since ({changes(info.sources, digests or {})})"
    return f"{path} was built with other {', '.join(diff)} ({both_values(have, ident, diff)})"


def both_values(store: dict, run: dict, keys) -> str:
    """'the store: horizon = 5; this run: horizon = 10' for the settings `keys` that differ."""

    def said(d):
        return ", ".join(f"{k} = {d.get(k, '(none)')}" for k in keys if k != "sources")

    return f"the store: {said(store)}; this run: {said(run)}"
