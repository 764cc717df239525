"""Finalize of the train job: raw per-unit rows (the .partial file) -> the tables of results/train.h5.

Each rank takes a contiguous block of symbols balanced by raw rows (work.Finalize.block), reads its
units' rows, sorts them by key, computes metrics and baselines from the out-of-fold predictions
(final.py) and writes its rows in rank order, so rank order is symbol order and the tables are the
same at any rank count; no rank holds the whole predictions table. In gather mode (serial HDF5) rank
0 takes every symbol and the others write no rows.
Final tables: symbols, features, predictions, metrics, baselines, folds, importances, coefficients
(ridge), models (index: symbol, family, fold, start, count into model_bytes), model_bytes (u1),
skipped, failures, and summary (one row per family, written by rank 0 from every rank's parts).
"""

from __future__ import annotations

import json

import numpy as np

from ... import exits
from ...io.symbols import REASON_BYTES, skipped_rows, symbol_list, symbols_table
from ...runtime import sync
from . import families as fam
from .dataset import ALL_FEATURES
from .final import (
    ALL_FOLDS,
    BASELINE_COLUMNS,
    METRIC_COLUMNS,
    baselines_table,
    merge_panel_parts,
    metrics_table,
    panel_parts,
    sort_rows,
)
from .unit import KEY, RAW_TABLES

MODEL_COLUMNS = KEY + [("start", "i8"), ("count", "i8")]
FEATURE_COLUMNS = [("feature", "i4"), ("name", "S24")]


def _models(fin, u: dict, mine, failed: set) -> tuple[dict, dict]:
    """(models index, model_bytes) of units `mine` in key order; `start` counts from this rank's first
    byte in the final table (the bytes of the ranks before it come first). Each unit's bytes are read on
    their own (one contiguous range each: no per-byte index arrays for hundreds of MB of models)."""
    counts = np.asarray(u["models_count"])
    keep = [
        int(i)
        for i in mine
        if counts[i] > 0 and (int(u["symbol"][i]), int(u["family"][i]), int(u["fold"][i])) not in failed
    ]
    keep.sort(key=lambda i: (int(u["symbol"][i]), int(u["family"][i]), int(u["fold"][i])))
    at = fin.offset(int(counts[keep].sum()) if keep else 0)
    parts, rows = [], {c: [] for c, _ in MODEL_COLUMNS}
    for i in keep:
        parts.append(fin.read("models", [i])["byte"])
        for c in ("symbol", "family", "fold"):
            rows[c].append(int(u[c][i]))
        rows["start"].append(at)
        rows["count"].append(int(counts[i]))
        at += int(counts[i])
    idx = {c: np.array(v, dtype=dt) for (c, dt), v in zip(MODEL_COLUMNS, rows.values())}
    return idx, {"byte": np.concatenate(parts) if parts else np.zeros(0, np.uint8)}


def _first_skips(sk: dict) -> list:
    """(symbol, reason) of the raw skipped rows, the first reason of each symbol, by symbol."""
    seen = {}
    for s, r in zip(sk["symbol"].tolist(), sk["reason"].tolist()):
        seen.setdefault(int(s), r)
    return sorted(seen.items())


def finalize(fin, params, store_skips: dict, threads: int, device: str, omp: list) -> dict:
    """Collective: write the final tables; returns the summary (rank 0) with exit_code 3 if units failed.

    Timed as the profile's finalize_s (part of write_s, which also holds the commits)."""
    with fin.ctx.timers.phase("finalize"):
        return _finalize(fin, params, threads, device, omp)


def _weights(u: dict, n_symbols: int) -> np.ndarray:
    """Raw rows per symbol (model bytes counted as 8-byte rows): what a rank's finalize block costs."""
    rows = u["predictions_count"] + u["folds_count"] + u["importances_count"] + u["models_count"] / 8.0
    return np.bincount(np.asarray(u["symbol"], dtype=np.int64), weights=rows, minlength=n_symbols)


def _finalize(fin, params, threads: int, device: str, omp: list) -> dict:
    ctx = fin.ctx
    comm = ctx.comm
    index, plan_skips, index_skips = ctx.info
    listed = symbol_list(index, index_skips)
    u = fin.units
    lo, hi = fin.block(_weights(u, len(listed)))
    mine = np.flatnonzero((u["symbol"] >= lo) & (u["symbol"] < hi))
    raw = {
        name: (fin.read(name, mine) if fin.can_read else {c: np.zeros(0, dt) for c, dt in cols})
        for name, cols in RAW_TABLES.items()
        if name != "models"
    }
    fails = sort_rows(raw["failures"], ["symbol", "family", "fold"])
    failed = set(zip(fails["symbol"].tolist(), fails["family"].tolist(), fails["fold"].tolist()))
    pred = sort_rows(raw["predictions"], ["symbol", "family", "fold", "bar"])
    folds = sort_rows(raw["folds"], ["symbol", "family", "fold"])
    skips = _first_skips(raw["skipped"]) + [  # then those the index rejected (data.skip_bad_symbols)
        (len(index) + i, reason) for i, (_, reason) in enumerate(index_skips) if lo <= len(index) + i < hi
    ]
    skipped = skipped_rows(skips)
    t = {}
    symbol_cols, t["symbols"] = symbols_table(listed, dict(skips), lo, hi, reason_bytes=REASON_BYTES)
    if ctx.rank == 0:
        t["features"] = {
            "feature": np.arange(len(ALL_FEATURES), dtype="i4"),
            "name": np.array([n.encode() for n in ALL_FEATURES], dtype="S24"),
        }
    t["predictions"] = pred
    t["metrics"] = metrics_table(pred, folds, params.proba, params.horizon) if len(pred["symbol"]) else {}
    t["baselines"] = baselines_table(pred, folds, params.proba) if len(pred["symbol"]) else {}
    t["folds"] = folds
    t["importances"] = sort_rows(raw["importances"], ["symbol", "family", "fold", "feature"])
    t["coefficients"] = sort_rows(raw["coefficients"], ["symbol", "family", "fold", "feature"])
    t["models"], t["model_bytes"] = _models(fin, u, mine, failed)
    t["skipped"] = skipped
    t["failures"] = fails
    schemas = {
        "symbols": symbol_cols,
        "features": FEATURE_COLUMNS,
        "predictions": RAW_TABLES["predictions"],
        "metrics": METRIC_COLUMNS,
        "baselines": BASELINE_COLUMNS,
        "folds": RAW_TABLES["folds"],
        "importances": RAW_TABLES["importances"],
        "coefficients": RAW_TABLES["coefficients"],
        "models": MODEL_COLUMNS,
        "model_bytes": RAW_TABLES["models"],
        "skipped": RAW_TABLES["skipped"],
        "failures": RAW_TABLES["failures"],
    }
    for name, cols in schemas.items():
        fin.write(name, cols, t.get(name) or {})
    fin.attrs(
        data_source=ctx.cfg.data.source,
        task=params.task,
        horizon=params.horizon,
        families=",".join(params.families),
        threads_per_model=threads,
        device=device,
        model_formats=json.dumps({f: fam.FAMILIES[f][3] for f in params.families}),
        model_compression=fam.COMPRESSION,
        openmp_runtimes=", ".join(f"{r['family']} {r['filepath']}" for r in omp) or "none",
    )
    return _summary(fin, t, listed, params, comm)


def _summary(fin, t: dict, listed: list, params, comm) -> dict:
    """Collective: the run's summary on rank 0 (each rank holds only its block of the tables) and the
    `summary` table it writes; the exit code (3 when units failed) on every rank."""
    metrics, base = t["metrics"], t["baselines"]
    allm = metrics["fold"] == ALL_FOLDS if metrics else None
    allb = base["fold"] == ALL_FOLDS if base else None
    fails = t["failures"]
    sk = t["skipped"]
    mine = {
        "skipped": len(sk["symbol"]),
        "models": len(t["models"]["symbol"]),
        "model_bytes": int(np.sum(t["models"]["count"])) if len(t["models"]["symbol"]) else 0,
        "skips": [
            (listed[int(i)][0], r.decode(errors="replace"))
            for i, r in zip(sk["symbol"][:10], sk["reason"][:10])
        ],
        "predictions": len(t["predictions"]["symbol"]),
        "metrics": {c: v[allm] for c, v in metrics.items()} if metrics else None,
        "panel": panel_parts(t["predictions"]) if len(t["predictions"]["symbol"]) else {},
        "baselines": {c: v[allb] for c, v in base.items()} if base else None,
        "failures": [
            (listed[int(s)][0], fam.FAMILY_BY_ID.get(int(f), "?"), int(k), m.decode())
            for s, f, k, m in zip(fails["symbol"], fails["family"], fails["fold"], fails["message"])
        ],
    }
    n_failed = sync.allreduce_sum(len(mine["failures"]), comm=comm)
    every = sync.gather(mine, comm=comm)
    summary = {"exit_code": exits.UNITS_FAILED} if n_failed else {}
    from .report import SUMMARY_COLUMNS, family_summary

    if every is None:
        fin.write("summary", SUMMARY_COLUMNS, {})
        return summary
    summary.update(
        symbols=len(listed),
        skipped=sum(e["skipped"] for e in every),
        failed=n_failed,
        models=sum(e["models"] for e in every),
        predictions=sum(e["predictions"] for e in every),
        model_bytes=sum(e["model_bytes"] for e in every),
        failures=sum((e["failures"] for e in every), []),
        skips=sum((e["skips"] for e in every), []),
    )
    ms = [e["metrics"] for e in every if e["metrics"] is not None]
    bs = [e["baselines"] for e in every if e["baselines"] is not None]
    table: dict = {}
    if ms and bs:
        cat = lambda parts: {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}  # noqa: E731
        table = family_summary(
            cat(ms), cat(bs), params.proba, merge_panel_parts(e["panel"] for e in every), params.horizon
        )
        summary["families"] = table
        summary["proba"] = params.proba
    fin.write("summary", SUMMARY_COLUMNS, table)
    return summary
