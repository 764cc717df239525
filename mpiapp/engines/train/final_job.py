"""Finalize of the train job: raw per-unit rows (the .partial file) -> the tables of results/train.h5.

Rank 0 reads every unit's rows, sorts them by key and computes metrics and baselines from the
out-of-fold predictions (final.py); the other ranks take part in the collective writes with no rows.
Final tables: symbols, features, predictions, metrics, baselines, folds, importances, models (index:
symbol, family, fold, start, count into model_bytes), model_bytes (u1), skipped, failures.
"""

from __future__ import annotations

import json

import numpy as np

from . import families as fam
from .dataset import ALL_FEATURES
from .final import BASELINE_COLUMNS, METRIC_COLUMNS, baselines_table, metrics_table, sort_rows
from .unit import KEY, MESSAGE_BYTES, RAW_TABLES

MODEL_COLUMNS = KEY + [("start", "i8"), ("count", "i8")]
SYMBOL_COLUMNS = [("name", "S32"), ("bars", "i8"), ("skipped_reason", f"S{MESSAGE_BYTES}")]
FEATURE_COLUMNS = [("feature", "i4"), ("name", "S24")]


def _cut(text: str, nbytes: int) -> bytes:
    return str(text).encode()[:nbytes].decode("utf-8", errors="ignore").encode()


def _models(fin, u: dict, failed: set) -> tuple[dict, dict]:
    """(models index, model_bytes) in key order; each unit's bytes read on their own (one contiguous
    range each: no per-byte index arrays for hundreds of MB of models)."""
    counts = np.asarray(u["models_count"])
    keep = [i for i in range(len(counts)) if counts[i] > 0 and
            (int(u["symbol"][i]), int(u["family"][i]), int(u["fold"][i])) not in failed]  # fmt: skip
    keep.sort(key=lambda i: (int(u["symbol"][i]), int(u["family"][i]), int(u["fold"][i])))
    parts, rows, at = [], {c: [] for c, _ in MODEL_COLUMNS}, 0
    for i in keep:
        parts.append(fin.read("models", [i])["byte"])
        for c in ("symbol", "family", "fold"):
            rows[c].append(int(u[c][i]))
        rows["start"].append(at)
        rows["count"].append(int(counts[i]))
        at += int(counts[i])
    idx = {c: np.array(v, dtype=dt) for (c, dt), v in zip(MODEL_COLUMNS, rows.values())}
    return idx, {"byte": np.concatenate(parts) if parts else np.zeros(0, np.uint8)}


def _dedup_skips(sk: dict) -> dict:
    seen = {}
    for s, r in zip(sk["symbol"].tolist(), sk["reason"].tolist()):
        seen.setdefault(int(s), r)
    keys = sorted(seen)
    return {"symbol": np.array(keys, dtype="i4"), "reason": np.array([seen[k] for k in keys], dtype=f"S{MESSAGE_BYTES}")}


def finalize(fin, params, store_skips: dict, threads: int, device: str, omp: list) -> dict:
    """Collective: write the final tables; returns the summary (rank 0) with exit_code 3 if units failed.

    Timed as the profile's finalize_s (part of write_s, which also holds the commits)."""
    with fin.ctx.timers.phase("finalize"):
        return _finalize(fin, params, threads, device, omp)


def _finalize(fin, params, threads: int, device: str, omp: list) -> dict:
    ctx = fin.ctx
    index, plan_skips, index_skips = ctx.info
    listed = list(index) + [(name, 0) for name, _ in index_skips]
    t = {}
    summary = {}
    if ctx.rank == 0:
        u = fin.units
        uids = np.arange(len(u["symbol"]))
        raw = {name: fin.read(name, uids) for name in RAW_TABLES if name != "models"}
        fails = sort_rows(raw["failures"], ["symbol", "family", "fold"])
        failed = set(zip(fails["symbol"].tolist(), fails["family"].tolist(), fails["fold"].tolist()))
        pred = sort_rows(raw["predictions"], ["symbol", "family", "fold", "bar"])
        folds = sort_rows(raw["folds"], ["symbol", "family", "fold"])
        skipped = _dedup_skips(raw["skipped"])
        for i, (_, reason) in enumerate(index_skips):  # rejected by the index (data.skip_bad_symbols)
            skipped["symbol"] = np.append(skipped["symbol"], np.int32(len(index) + i))
            skipped["reason"] = np.append(skipped["reason"], np.array([_cut(reason, MESSAGE_BYTES)]))
        reasons = dict(zip(skipped["symbol"].tolist(), skipped["reason"].tolist()))
        t["symbols"] = {"name": np.array([_cut(n, 32) for n, _ in listed], dtype="S32"),
                        "bars": np.array([b for _, b in listed], dtype="i8"),
                        "skipped_reason": np.array([reasons.get(s, b"") for s in range(len(listed))],
                                                   dtype=f"S{MESSAGE_BYTES}")}  # fmt: skip
        t["features"] = {"feature": np.arange(len(ALL_FEATURES), dtype="i4"),
                         "name": np.array([n.encode() for n in ALL_FEATURES], dtype="S24")}
        t["predictions"] = pred
        t["metrics"] = metrics_table(pred, folds, params.proba) if len(pred["symbol"]) else {}
        t["baselines"] = baselines_table(pred, folds, params.proba) if len(pred["symbol"]) else {}
        t["folds"] = folds
        t["importances"] = sort_rows(raw["importances"], ["symbol", "family", "fold", "feature"])
        t["models"], t["model_bytes"] = _models(fin, u, failed)
        t["skipped"] = skipped
        t["failures"] = fails
        summary = {"symbols": len(listed), "skipped": len(skipped["symbol"]), "failed": len(fails["symbol"]),
                   "models": len(t["models"]["symbol"]), "predictions": len(pred["symbol"])}
        if len(pred["symbol"]):
            from .report import family_summary

            summary["families"] = family_summary(t["metrics"], t["baselines"], params.proba)
        summary["failures"] = [(listed[int(s)][0], fam.FAMILY_BY_ID.get(int(f), "?"), int(k), m.decode())
                               for s, f, k, m in zip(fails["symbol"], fails["family"], fails["fold"], fails["message"])]
        if len(fails["symbol"]):
            summary["exit_code"] = 3
    schemas = {"symbols": SYMBOL_COLUMNS, "features": FEATURE_COLUMNS, "predictions": RAW_TABLES["predictions"],
               "metrics": METRIC_COLUMNS, "baselines": BASELINE_COLUMNS, "folds": RAW_TABLES["folds"],
               "importances": RAW_TABLES["importances"], "models": MODEL_COLUMNS,
               "model_bytes": RAW_TABLES["models"], "skipped": RAW_TABLES["skipped"],
               "failures": RAW_TABLES["failures"]}  # fmt: skip
    for name, cols in schemas.items():
        fin.write(name, cols, t.get(name) or {})
    fin.attrs(data_source=ctx.cfg.data.source, task=params.task, horizon=params.horizon,
              families=",".join(params.families), threads_per_model=threads, device=device,
              model_formats=json.dumps({f: fam.FAMILIES[f][3] for f in params.families}),
              openmp_runtimes=", ".join(f"{r['family']} {r['filepath']}" for r in omp) or "none")  # fmt: skip
    return summary
